"""The dashboard's stored per-day counts (webhooks/daily_counts.py) and its capped health cards:
exact on a fresh install, recounted when stale (status changes), forgotten after a prune or a
reprocess job, asked of a worker (never counted in the request) with a task backend, and a
card that stops counting at a cap says so (issue #17 item 3: a flat dashboard at 5M events)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.console import DASHBOARD_URL, booking, store
from webhooks import daily_counts, selectors
from webhooks.models import DailyEventCount, WebhookEvent, WebhookEventStatus
from webhooks.retention import prune_webhook_events

pytestmark = pytest.mark.django_db


def event_on(*, days_ago: int, status: str, uid: str) -> WebhookEvent:
    event = store(booking("BOOKING_CREATED", uid=uid, minutes=0), status=status)
    # Noon of that local day: the same day in any test time zone.
    day = timezone.localdate() - timedelta(days=days_ago)
    noon = timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time())) + timedelta(
        hours=12
    )
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=min(noon, timezone.now()))
    return event


def live_counts() -> list[selectors.DayCounts]:
    """The last 14 days counted live from the events: what the stored counts must agree with."""
    today = timezone.localdate()
    return selectors.counted_days(first_day=today - timedelta(days=13), last_day=today)


def by_day(days: list[selectors.DayCounts]) -> dict[int, dict[str, int]]:
    """{days ago: counts} of the days with events."""
    today = timezone.localdate()
    return {(today - day.day).days: day.by_status for day in days if day.by_status}


@pytest.fixture
def spread():
    return {
        "old_failed": event_on(days_ago=3, status="failed", uid="a"),
        "old_processed": event_on(days_ago=3, status="processed", uid="b"),
        "week": event_on(days_ago=7, status="dead", uid="c"),
        "today": event_on(days_ago=0, status="processed", uid="d"),
        "too_old": event_on(days_ago=20, status="processed", uid="e"),
    }


def test_a_fresh_install_counts_and_stores_every_day_exactly(spread):
    assert not DailyEventCount.objects.exists()
    days = daily_counts.chart_days(days=14)
    assert len(days) == 14 and all(day.counted_at is not None for day in days)
    expected = {3: {"failed": 1, "processed": 1}, 7: {"dead": 1}, 0: {"processed": 1}}
    assert by_day(days) == expected
    assert by_day(live_counts()) == expected  # the live count agrees
    assert DailyEventCount.objects.count() == 14  # empty days are stored too: counted, not missing


def test_stored_counts_follow_a_status_change_once_stale(spread):
    now = timezone.now()
    daily_counts.chart_days(days=14, now=now)
    WebhookEvent.objects.filter(pk=spread["old_failed"].pk).update(status=WebhookEventStatus.PROCESSED)
    WebhookEvent.objects.filter(pk=spread["today"].pk).update(status=WebhookEventStatus.DEAD)

    # Still fresh: the stored counts, with the moment they were counted (the page shows it).
    soon = by_day(daily_counts.chart_days(days=14, now=now + timedelta(seconds=30)))
    assert soon[3] == {"failed": 1, "processed": 1} and soon[0] == {"processed": 1}
    # Today is recounted after a minute, finished days after a quarter of an hour.
    minute = by_day(daily_counts.chart_days(days=14, now=now + timedelta(seconds=61)))
    assert minute[0] == {"dead": 1} and minute[3] == {"failed": 1, "processed": 1}
    later = by_day(
        daily_counts.chart_days(days=14, now=now + daily_counts.FINISHED_MAX_AGE + timedelta(seconds=1))
    )
    assert later[3] == {"processed": 2} and later[0] == {"dead": 1}


def test_a_day_counted_before_it_ended_is_recounted():
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    counted = timezone.make_aware(timezone.datetime.combine(yesterday, timezone.datetime.min.time()))
    days = [selectors.DayCounts(day=yesterday, counted_at=counted + timedelta(hours=23))]
    assert daily_counts.stale_days(days=days, now=counted + timedelta(days=1, minutes=1)) == [yesterday]


def test_a_prune_forgets_the_days_it_touched_and_the_next_view_recounts(spread):
    daily_counts.chart_days(days=14)
    report = prune_webhook_events(retention_days={"processed": 2, "dead": 2}, now=timezone.now())
    assert report.total == 3  # old_processed, week, too_old
    assert not DailyEventCount.objects.filter(day__lte=timezone.localdate() - timedelta(days=2)).exists()
    assert by_day(daily_counts.chart_days(days=14)) == {3: {"failed": 1}, 0: {"processed": 1}}


def test_a_reprocess_job_forgets_the_stored_counts(spread, admin_user):
    from webhooks.reprocessing import create_reprocess_job, run_reprocess_job, selection_of_ids

    daily_counts.chart_days(days=14)
    job = create_reprocess_job(
        selection=selection_of_ids(event_ids=[spread["old_failed"].pk]), user=admin_user
    )
    run_reprocess_job(job_id=job.pk)
    assert not DailyEventCount.objects.exists()
    days = daily_counts.chart_days(days=14)
    assert by_day(days) == by_day(live_counts())


def test_with_a_task_worker_the_page_only_asks_once_and_says_what_is_not_counted(
    admin_client, spread, monkeypatch
):
    asked = []
    monkeypatch.setattr(daily_counts, "tasks_run_inline", lambda: False)

    class Worker:  # the DatabaseBackend's queue, seen from the page
        @staticmethod
        def enqueue(**kwargs):
            asked.append(kwargs)

    monkeypatch.setattr(daily_counts, "recount_daily_event_counts_task", Worker)
    html = admin_client.get(DASHBOARD_URL).content.decode()
    assert "14 days not counted yet" in html and "<rect " not in html
    admin_client.get(DASHBOARD_URL)
    today = timezone.localdate()
    assert asked == [
        {"first_day": (today - timedelta(days=13)).isoformat(), "last_day": today.isoformat()}
    ]  # once per range and lock period, whatever the number of views

    daily_counts.recount_daily_event_counts(
        first_day=today - timedelta(days=13), last_day=today
    )  # the worker
    html = admin_client.get(DASHBOARD_URL).content.decode()
    assert "not counted yet" not in html and html.count("<rect ") == 4
    assert re.search(r"today's at \d\d:\d\d:\d\d", html)


def test_counts_of_another_time_zone_are_not_shown(spread, settings):
    daily_counts.chart_days(days=14)
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: other days
    timezone.deactivate()
    days = selectors.stored_daily_event_counts(days=14)
    assert all(day.counted_at is None for day in days)


def test_health_cards_count_up_to_a_cap_and_say_so(admin_client, monkeypatch):
    for index in range(4):
        store(booking("BOOKING_CREATED", uid=f"f{index}", minutes=index), status="failed")
    store(booking("BOOKING_CREATED", uid="dd", minutes=9), status="dead")
    health = selectors.event_health(cap=3)
    assert str(health.failed) == "3+" and health.failed.capped
    assert str(health.dead) == "1" and not health.dead.capped
    assert str(health.unprocessed) == "3+"
    assert str(selectors.event_health(cap=10).failed) == "4"

    monkeypatch.setattr(selectors, "HEALTH_COUNT_CAP", 3)
    html = admin_client.get(DASHBOARD_URL).content.decode()
    assert re.search(r'id="card-failed" href="[^"]*\?status=failed">Failed<span class="number">3\+<', html)
    assert "counted up to 3: the list has them all" in html
    assert re.search(r'id="card-dead" href="[^"]*\?status=dead">Dead<span class="number">1<', html)


def test_a_capped_count_is_thousands_separated():
    assert str(selectors.BoundedCount(value=10_000, capped=True)) == "10,000+"
    assert str(selectors.BoundedCount(value=1234)) == "1,234" and not selectors.BoundedCount(value=0)


@pytest.mark.postgres
def test_stored_counts_on_postgres(spread):
    test_a_fresh_install_counts_and_stores_every_day_exactly(spread)
    test_stored_counts_follow_a_status_change_once_stale(spread)
