"""With django-tasks-db, the `webhook_events` table is the processing queue.

A delivery commits one row (status `received`) and no task of its own. Workers (`db_worker`) run
`drain_webhook_events` tasks, each of which claims a batch of received events with
`SELECT … FOR UPDATE SKIP LOCKED` and applies the batch in one transaction, one bad event
rolling back alone (batch_processing.py). A task per
event cost as much as the event itself, twice: its insert in the web request and its
claim/run/complete cycle in the worker (BENCHMARKS.md, "What limits each figure").

Who enqueues the drain tasks, so that every committed event is claimed soon:
- a delivery, when its process has no drain task that will start after the delivery commits,
  or (one delivery per process at a time) when that task is in the second half of its delay:
  it enqueues one due WEBHOOK_DRAIN_DELAY_SECONDS later (under steady traffic, when that task
  is still to come, a chain of RENEWAL_CHAIN_LENGTH due every half delay from then on, in one
  statement), committed just before its event (each an autocommit INSERT), and checks after its
  commit that the last of them was not yet due (else, as below, one due at once), and
  deliveries of the next moments rely on them instead of adding their own: they store the
  event with one autocommit INSERT, as cheap as storing can be;
- a delivery that relied on such a task but committed too late for it (the task may have
  started before the commit): right after its commit, it enqueues one due at once;
- a drain task that found a full batch: a follow-up, so that a backlog is spread over every
  worker and drained batch after batch;
- none for a worker's next moments: a drain task that found work lingers (`drain_and_linger`),
  claiming what arrives until nothing has for WEBHOOK_DRAIN_LINGER_SECONDS, so that under
  steady traffic an event is claimed milliseconds after its commit rather than when its own
  task falls due; a task that lingered its whole time budget hands over to a follow-up;
- a drain task that held events back behind an earlier delivery of their booking (see
  `claim_received_batch`): a follow-up once its batch is done and they are claimable;
- the recovery sweep (`recover_webhook_events`), committed with the events it hands back to
  `received` (lost drains, runs of dead workers) after WEBHOOK_STUCK_AFTER_SECONDS, so that
  they too are claimed per booking in arrival order.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from common.logfields import log_fields
from common.tasks import enqueue_at, tasks_run_inline
from notifications.services import collect_sending

from .batch_processing import run_claimed_batch
from .processing import claim_received_batch
from .selectors import received_events_waiting

if TYPE_CHECKING:
    from .models import WebhookEvent

logger = logging.getLogger("webhooks")

# Workers on other hosts compare `run_after` with their own clocks: a task relied upon must
# still be this far from due when the delivery commits.
CLOCK_SKEW_ALLOWANCE = timedelta(milliseconds=20)


# Under steady traffic (its pending task not yet due) a renewal enqueues this many drain tasks,
# due every half delay from one delay on, in one statement: a process then renews a few times a
# second instead of twenty (at the default delay), and the tasks fall due as often as before.
RENEWAL_CHAIN_LENGTH = 10


# A renewal that has not committed after this long (it rolled back, or hangs) no longer stops
# other deliveries from renewing.
RENEWAL_TIMEOUT = timedelta(seconds=1)


@dataclass
class _PendingDrain:
    """What this process knows of its drain tasks (shared by its threads, under `lock`)."""

    run_after: datetime | None = None  # the latest committed one that is not yet due
    renewing_since: datetime | None = None  # a delivery is enqueueing the next one
    lock: threading.Lock = field(default_factory=threading.Lock)


_pending = _PendingDrain()


def queue_is_in_this_database() -> bool:
    """django-tasks-db keeps its queue in the default database, beside the events."""
    return settings.TASKS_BACKEND.startswith("django_tasks_db.")


def insert_and_request_drain(*, insert: Callable[[], WebhookEvent]) -> WebhookEvent:
    """Store a received event (`insert`) so that a drain task claims it after it commits.

    Deliveries rely on the pending drain task while it is comfortably far from due; in the
    second half of its delay one delivery (not every one arriving then) enqueues the next (a
    chain of them if that task is still to come: the traffic is steady).
    """
    now = timezone.now()
    delay = timedelta(seconds=settings.WEBHOOK_DRAIN_DELAY_SECONDS)
    with _pending.lock:
        relied_on = _pending.run_after
        can_rely = relied_on is not None and now < relied_on - CLOCK_SKEW_ALLOWANCE
        renewal_due = relied_on is None or now >= relied_on - delay / 2
        renewal_free = _pending.renewing_since is None or now - _pending.renewing_since > RENEWAL_TIMEOUT
        renew = renewal_due and (renewal_free or not can_rely)
        steady = relied_on is not None and now < relied_on
        if renew:
            _pending.renewing_since = now
    if not renew:
        # The insert alone (one autocommit statement unless the caller holds a transaction),
        # then make sure it committed before the task it relies on can have started.
        event = insert()
        transaction.on_commit(lambda: _check_commit_was_in_time(run_after=relied_on))
        return event
    run_afters = [now + delay + delay / 2 * k for k in range(RENEWAL_CHAIN_LENGTH if steady else 1)]
    run_after = run_afters[-1]  # the event is claimed by the first of them due after its commit
    # The tasks first, then the event, each one autocommit statement (no BEGIN/COMMIT round
    # trips): once the event is stored, the tasks due after it are already committed. If the
    # enqueue fails, so does the delivery (a 5xx, and Cal.com retries); if the insert fails
    # after it (a duplicate), the tasks serve the deliveries that follow. Inside a caller's
    # transaction both commit with it.
    _enqueue_drains(run_afters=run_afters)
    try:
        event = insert()
    except BaseException:
        # Most often a duplicate's IntegrityError. Outside a transaction the tasks committed on
        # their own: rely on them; inside one they roll back with it: let another delivery renew.
        if transaction.get_connection().in_atomic_block:
            _forget_renewal()
        else:
            _remember(run_after=run_after)
        raise
    transaction.on_commit(lambda: _remember(run_after=run_after))
    transaction.on_commit(lambda: _check_commit_was_in_time(run_after=run_after))
    return event


def _remember(*, run_after: datetime) -> None:
    with _pending.lock:
        if _pending.run_after is None or run_after > _pending.run_after:
            _pending.run_after = run_after
        _pending.renewing_since = None


def _forget_renewal() -> None:
    with _pending.lock:
        _pending.renewing_since = None


def _check_commit_was_in_time(*, run_after: datetime) -> None:
    if timezone.now() < run_after - CLOCK_SKEW_ALLOWANCE:
        return
    # The task may have claimed its batch before this event was visible: one more, due now.
    _enqueue_drain_now(why="after a late commit")


def _enqueue_drains(*, run_afters: list[datetime]) -> None:
    enqueue_at(task=drain_webhook_events, run_afters=run_afters)


# How often a lingering drain looks for new deliveries, and how long one task may go on
# claiming before it hands over to a follow-up (so that tasks queued behind it get a worker).
LINGER_POLL_SECONDS = 0.005
DRAIN_TASK_BUDGET_SECONDS = 2.0


@task()
def drain_webhook_events() -> int:
    """Claim and process received deliveries: one batch, then more while they keep arriving."""
    linger = 0.0 if tasks_run_inline() else settings.WEBHOOK_DRAIN_LINGER_SECONDS
    return drain_and_linger(linger_seconds=linger)


def drain_and_linger(*, linger_seconds: float, budget_seconds: float = DRAIN_TASK_BUDGET_SECONDS) -> int:
    """Drain a batch; if it found any, keep claiming what arrives until nothing has for
    `linger_seconds`.

    A delivery's own drain task is due WEBHOOK_DRAIN_DELAY_SECONDS after it (see the module
    docstring); a worker that has just drained is the one most likely to be needed again, so it
    looks for new deliveries every LINGER_POLL_SECONDS for a moment before it goes back to
    polling the task queue. Under steady traffic an event is then claimed a few milliseconds
    after it commits, not when its task falls due. After `budget_seconds` the task ends; if it
    was still finding work, a follow-up due at once takes over. An idle linger enqueues nothing,
    so events held back by a stuck run cannot make tasks spin.
    """
    # One task sends the HIT notifications of every batch the linger applies, when it ends.
    with collect_sending():
        return _drain_and_linger(linger_seconds=linger_seconds, budget_seconds=budget_seconds)


def _drain_and_linger(*, linger_seconds: float, budget_seconds: float) -> int:
    claimed = drain_received_events()
    if not claimed or linger_seconds <= 0:
        return claimed
    started = last_claim = time.monotonic()
    while True:
        now = time.monotonic()
        if now - last_claim >= linger_seconds:
            return claimed
        if now - started >= budget_seconds:
            if received_events_waiting():
                _enqueue_drain_now(why="after a drain task's time budget")
            return claimed
        found = received_events_waiting() and drain_received_events(follow_up=False)
        if found:
            claimed += found
            last_claim = time.monotonic()
        else:
            time.sleep(LINGER_POLL_SECONDS)


def drain_received_events(*, batch_size: int | None = None, follow_up: bool = True) -> int:
    """Claim one batch of received events and process it; returns how many were claimed.

    A full batch means more may be waiting: a follow-up task is enqueued before processing,
    so that another worker can take the next batch meanwhile. Events held back behind an
    earlier event of their booking (see `claim_received_batch`) become claimable once this batch
    is done: if any are left waiting, a follow-up is enqueued then. A drain that claimed
    nothing enqueues nothing, so events blocked by a stuck run cannot make tasks spin; the
    recovery sweep takes over that run. Without `follow_up` (a lingering drain, which claims
    the next batch itself) it enqueues nothing.
    """
    batch_size = batch_size or settings.WEBHOOK_DRAIN_BATCH_SIZE
    claims = claim_received_batch(limit=batch_size)
    followed_up = not follow_up or (
        len(claims) == batch_size and _enqueue_drain_now(why="after a full batch")
    )
    # The batch's HIT notifications go out as one task once the batch is done (or, in a
    # lingering drain, once the drain task is done: one task for all its batches).
    with collect_sending():
        run_claimed_batch(claims=claims)
    if claims and not followed_up and received_events_waiting():
        _enqueue_drain_now(why="for events held back behind their booking's earlier ones")
    if claims:
        log_fields(logger=logger, level=logging.DEBUG, what="webhook drain", claimed=len(claims))
    return len(claims)


def enqueue_drain_now() -> None:
    """A drain task due at once (raises if it cannot be enqueued)."""
    _enqueue_drains(run_afters=[timezone.now()])


def _enqueue_drain_now(*, why: str) -> bool:
    """A drain task due at once; False (logged) if it could not be enqueued."""
    try:
        enqueue_drain_now()
    except Exception:
        # The events stay `received`; the next delivery's drain or the recovery sweep claims them.
        logger.exception("could not enqueue a drain task %s", why)
        return False
    return True
