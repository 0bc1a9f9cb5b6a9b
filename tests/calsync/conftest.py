"""Fixtures of the Cal.com sync tests: the fake Cal.com's clock and a `sync` runner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calsync.services import SyncRequest, run_sync


@pytest.fixture
def now(calcom_server):
    """The moment of the test's syncs (whole seconds); the fake Cal.com's clock agrees."""
    moment = timezone.now().replace(microsecond=0) - timedelta(seconds=1)
    calcom_server.now = lambda: moment
    return moment


@pytest.fixture
def sync(db, calcom_settings, now):
    """Run the sync at `now` (or `at=`): sync(), sync(uids=[...]), sync(since=..., dry_run=True)."""

    def _sync(*, at=None, **request):
        if "uids" in request:
            request["uids"] = tuple(request["uids"])
        return run_sync(request=SyncRequest(**request), now=at or now)

    return _sync
