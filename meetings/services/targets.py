"""Targets (the prospects meetings are with): create one, link one to a meeting."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from meetings.models import Meeting, Target
from meetings.selectors import target_for_emails


class TargetEmailTaken(Exception):
    """Another target already has this e-mail address (compared case-insensitively)."""


def create_target(*, email: str, name: str = "", company: str = "", owner=None) -> Target:
    """A new prospect. Raises TargetEmailTaken when the e-mail is in use in any letter case."""
    if target_for_emails(emails=[email]) is not None:
        raise TargetEmailTaken(f"a target with the e-mail {email} exists already")
    try:
        with transaction.atomic():
            return Target.objects.create(email=email, name=name, company=company, owner=owner)
    except IntegrityError:
        # Created concurrently: the case-insensitive unique index decided.
        raise TargetEmailTaken(f"a target with the e-mail {email} exists already") from None


def link_target(*, meeting: Meeting, target: Target | None) -> Meeting:
    meeting.target = target
    meeting.save(update_fields=["target", "updated_at"])
    return meeting
