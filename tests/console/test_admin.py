"""The admin console through Django's test client: lists, filters, search, crafted parameters,
detail, dashboard, meetings and targets, and the demo-data seeder.

Reprocessing from the admin is in test_admin_reprocessing.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from devtools.demo.seeding import AlreadySeeded, seed_demo_data
from meetings.models import BookingUid, Meeting, MeetingStatusChange, Target
from meetings.status_mapping import STATUS_TABLE
from notifications.models import Notification
from tests.support.bodies import meeting_ended_body
from tests.support.console import (
    DASHBOARD_URL,
    EVENTS_URL,
    booking,
    listed_ids,
    make_user,
    processed,
    store,
)
from webhooks import selectors
from webhooks.models import (
    AttemptTrigger,
    ProcessingAttempt,
    ReprocessJob,
    SignatureResult,
    WebhookEvent,
)
from webhooks.processing import process_event

pytestmark = pytest.mark.django_db


# --- list, filters, search ---------------------------------------------------------------------


def test_event_list_shows_badges_links_and_newest_first(admin_client):
    created = processed(booking("BOOKING_CREATED", uid="uidA", minutes=0))
    failed = store(booking("BOOKING_CANCELLED", uid="uidA", minutes=5), status="failed")
    WebhookEvent.objects.filter(pk=created.pk).update(received_at=timezone.now() - timedelta(hours=2))

    response = admin_client.get(EVENTS_URL)

    assert response.status_code == 200
    assert listed_ids(response) == [failed.pk, created.pk]
    html = response.content.decode()
    assert 'class="vani-badge status-failed"' in html and 'class="vani-badge status-processed"' in html
    assert reverse("admin:meetings_meeting_change", args=[created.meeting_id]) in html
    assert "Dashboard" in html


def test_filters_by_status_trigger_signature_and_received_time(admin_client):
    old = store(booking("BOOKING_CREATED", uid="u1", minutes=0), status="processed")
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
    failed = store(booking("BOOKING_CANCELLED", uid="u1", minutes=1), status="failed")
    recent = store(meeting_ended_body(uid="u2"), status="processed")
    WebhookEvent.objects.filter(pk=recent.pk).update(received_at=timezone.now() - timedelta(minutes=30))
    rejected = store(b"junk", status="rejected", signature=SignatureResult.INVALID)

    assert listed_ids(admin_client.get(EVENTS_URL + "?status=failed")) == [failed.pk]
    assert listed_ids(admin_client.get(EVENTS_URL + "?trigger=MEETING_ENDED")) == [recent.pk]
    assert listed_ids(admin_client.get(EVENTS_URL + "?signature=invalid")) == [rejected.pk]
    assert old.pk not in listed_ids(admin_client.get(EVENTS_URL + "?received=24h"))
    assert set(listed_ids(admin_client.get(EVENTS_URL + "?received=7d"))) == {
        old.pk,
        failed.pk,
        recent.pk,
        rejected.pk,
    }
    assert listed_ids(admin_client.get(EVENTS_URL + "?received=1h&trigger=MEETING_ENDED")) == [recent.pk]
    day = (timezone.now() - timedelta(days=3)).date().isoformat()
    assert listed_ids(admin_client.get(EVENTS_URL + f"?received_from={day}&received_to={day}")) == [old.pk]
    # An unreadable range is reported (Django's ?e=1), not silently ignored.
    assert admin_client.get(EVENTS_URL + "?received_from=yesterday").status_code == 302


def test_trigger_filter_is_the_fixed_cal_com_list_not_a_distinct_query(admin_client):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(EVENTS_URL)
    trigger_spec = next(spec for spec in response.context["cl"].filter_specs if spec.title == "trigger")
    assert [value for value, _ in trigger_spec.lookup_choices] == sorted(STATUS_TABLE)
    assert not any("DISTINCT" in query["sql"].upper() for query in queries.captured_queries)


def test_search_by_any_uid_of_a_reschedule_chain(admin_client):
    first = processed(booking("BOOKING_CREATED", uid="chainA", minutes=0))
    moved = processed(booking("BOOKING_RESCHEDULED", uid="chainB", minutes=10, reschedule_uid="chainA"))
    again = processed(booking("BOOKING_RESCHEDULED", uid="chainC", minutes=20, reschedule_uid="chainB"))
    # A failed delivery never got linked to the meeting; its uid still finds it.
    unlinked = store(booking("BOOKING_CANCELLED", uid="chainC", minutes=30), status="failed")
    other = processed(booking("BOOKING_CREATED", uid="otherX", minutes=0, email="other@example.org"))

    chain = {first.pk, moved.pk, again.pk, unlinked.pk}
    for uid in ("chainA", "chainB", "chainC"):
        assert set(listed_ids(admin_client.get(EVENTS_URL, {"q": uid}))) == chain
    assert listed_ids(admin_client.get(EVENTS_URL, {"q": "otherX"})) == [other.pk]
    assert listed_ids(admin_client.get(EVENTS_URL, {"q": "nothing-like-it"})) == []


def test_search_by_email_and_event_id_is_exact(admin_client):
    mine = store(booking("BOOKING_CREATED", uid="e1", minutes=0, email="Priya.Shah@Example.org"))
    store(booking("BOOKING_CREATED", uid="e2", minutes=0, email="tom@example.org"))

    assert listed_ids(admin_client.get(EVENTS_URL, {"q": "PRIYA.SHAH@example.org"})) == [mine.pk]
    assert listed_ids(admin_client.get(EVENTS_URL, {"q": "priya"})) == []  # no substring scans
    assert listed_ids(admin_client.get(EVENTS_URL, {"q": f"#{mine.pk}"})) == [mine.pk]
    assert listed_ids(admin_client.get(EVENTS_URL, {"q": str(mine.pk)})) == [mine.pk]


def test_search_sql_uses_equality_not_like(admin_client):
    store(booking("BOOKING_CREATED", uid="e1", minutes=0))
    for term in ("e1", "a@b.example", "#5"):
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(EVENTS_URL, {"q": term})
        event_queries = [q["sql"] for q in queries.captured_queries if "webhook_events" in q["sql"]]
        assert event_queries and not any(" LIKE " in sql.upper() for sql in event_queries)


def test_list_never_loads_bodies_and_costs_a_constant_number_of_queries(admin_client):
    def page_queries() -> tuple[int, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(EVENTS_URL)
        assert response.status_code == 200
        return len(queries.captured_queries), [q["sql"] for q in queries.captured_queries]

    for index in range(5):
        processed(booking("BOOKING_CREATED", uid=f"few{index}", minutes=index))
    few_count, _few_sql = page_queries()
    for index in range(45):
        processed(booking("BOOKING_CREATED", uid=f"many{index}", minutes=index))
    many_count, many_sql = page_queries()

    assert WebhookEvent.objects.count() == 50
    assert few_count == many_count
    list_sql = [sql for sql in many_sql if '"webhook_events"."trigger_event"' in sql]
    assert list_sql and all('"raw_body"' not in sql and '"last_traceback"' not in sql for sql in list_sql)
    assert any('INNER JOIN "meetings"' in sql or 'LEFT OUTER JOIN "meetings"' in sql for sql in list_sql)


def test_meeting_list_costs_a_constant_number_of_queries(admin_client):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(reverse("admin:meetings_meeting_changelist")).status_code == 200
        return len(queries.captured_queries)

    target = Target.objects.create(name="Priya Shah", email="priya.shah@example.org")
    for index in range(3):
        Meeting.objects.create(cal_event_id=f"m{index}", target=target, attendee_email="a@example.org")
    few = count_queries()
    for index in range(3, 40):
        Meeting.objects.create(cal_event_id=f"m{index}", target=target, attendee_email="a@example.org")
    assert count_queries() == few


@pytest.mark.postgres
def test_large_lists_are_estimated_not_counted(admin_client, settings):
    from console.widgets import EstimatedCountPaginator

    for index in range(30):
        store(booking("BOOKING_CREATED", uid=f"big{index}", minutes=index))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhook_events")
    queryset = WebhookEvent.objects.all()

    small = selectors.fast_row_count(queryset=queryset, exact_up_to=100)
    assert small == selectors.RowCount(value=30, exact=True)
    estimated = selectors.fast_row_count(queryset=queryset, exact_up_to=10)
    assert not estimated.exact and estimated.value >= 11
    filtered = selectors.fast_row_count(queryset=queryset.filter(status="received"), exact_up_to=10)
    assert not filtered.exact and filtered.value >= 11

    original_limit = EstimatedCountPaginator.exact_count_limit
    EstimatedCountPaginator.exact_count_limit = 10
    try:
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(EVENTS_URL)
    finally:
        EstimatedCountPaginator.exact_count_limit = original_limit
    assert "about " in response.content.decode()
    plain_counts = [
        q["sql"]
        for q in queries.captured_queries
        if re.search(r'SELECT COUNT\(\*\) AS "__count" FROM "webhook_events"\s*$', q["sql"])
    ]
    assert plain_counts == []


# --- crafted parameters ----------------------------------------------------------------------

EARLY = "0001-01-01T00:00:00+23:59"  # before year 1 in UTC
LATE = "9999-12-31T23:59:59-23:59"  # after year 9999 in UTC
# Query strings staff (or a link they were sent) can produce; none may answer 500.
CRAFTED_FILTERS = [
    {"q": "²"},
    {"q": "¹²³"},
    {"q": "#²"},
    {"q": "\x00"},
    {"q": "uid\x00"},
    {"q": "a@b\x00"},
    {"received_at__gte": EARLY},
    {"received_at__lt": LATE},
    {"received_from": EARLY},
    {"received_to": LATE},
    {"received_to": "9999-12-31"},
    {"start_time__gte": EARLY},
    {"start_time__lt": LATE},
    {"created_at__gte": EARLY},
    {"created_at__lt": LATE},
    {"sent_at__gte": EARLY},
    {"created_at__year": "9999"},
    {"created_at__year": "9999", "created_at__month": "12"},
    {"created_at__year": "9999", "created_at__month": "12", "created_at__day": "31"},
    {"created_at__year": "²"},
    {"date_joined__gte": LATE},
    {"last_login__lt": EARLY},
    {"status": "\x00"},
    {"status": "²"},
    {"trigger": "\x00"},
    {"signature": "\x00"},
    {"received": "\x00"},
    {"start": "\x00"},
    {"payment_status": "\x00"},
    {"channel": "\x00"},
    {"owner__id__exact": "²"},
    {"owner__id__exact": "\x00"},
    {"force__exact": "\x00"},
    {"\x00": "1"},
    {"id__gte": "\x00"},
]
CRAFTED_PAGING = [{"p": "²"}, {"p": "\x00"}, {"o": "²"}, {"o": "\x00"}, {"p": "99999999999999999999"}]


def changelists() -> list[tuple[str, object]]:
    """(changelist URL, its ModelAdmin) for every model in the admin, Django's own included."""
    from django.contrib import admin

    return [
        (reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"), model_admin)
        for model, model_admin in admin.site._registry.items()
    ]


@pytest.fixture
def one_of_everything(admin_user):
    """A row in every table the admin lists, so a filter that misfires shows up as results."""
    event = processed(booking("BOOKING_PAID", uid="crafted1", minutes=0))
    Notification.objects.get_or_create(
        meeting=event.meeting, event=event, kind="payment_received", channel="log", recipient="log"
    )
    Target.objects.create(name="Jane", email="jane@prospect.example", owner=admin_user)
    ReprocessJob.objects.create(created_by=admin_user, total=0)


@pytest.mark.parametrize("params", CRAFTED_FILTERS + CRAFTED_PAGING, ids=repr)
def test_crafted_parameters_never_answer_500_on_any_changelist(admin_client, one_of_everything, params):
    for url, model_admin in changelists():
        response = admin_client.get(url, params)
        assert response.status_code in (200, 302, 400), (url, response.status_code)
        if response.status_code == 302:  # Django's "?e=1": the filter is reported as invalid
            assert "e=1" in response["Location"], url
            assert admin_client.get(response["Location"]).status_code == 200, url
        elif response.status_code == 200 and params in CRAFTED_FILTERS:
            if "q" in params and not model_admin.search_fields:
                continue  # no search box: `q` means nothing there
            assert list(response.context["cl"].result_list) == [], (url, params)


@pytest.mark.postgres
@pytest.mark.parametrize("params", CRAFTED_FILTERS + CRAFTED_PAGING, ids=repr)
def test_crafted_parameters_never_answer_500_on_postgres(admin_client, one_of_everything, params):
    test_crafted_parameters_never_answer_500_on_any_changelist(admin_client, one_of_everything, params)


# --- detail ---------------------------------------------------------------------------------------


def test_detail_shows_escaped_pretty_body_masked_headers_and_attempts(admin_client, admin_user):
    body = booking("BOOKING_CREATED", uid="detail1", minutes=0, title="<script>alert('x')</script>")
    event = store(body, status="failed", last_error="boom", last_traceback="Traceback: boom")
    ProcessingAttempt.objects.create(
        event=event,
        number=1,
        outcome="failed",
        error="boom",
        traceback="Traceback: boom",
        started_via=AttemptTrigger.ADMIN,
        started_by=admin_user,
    )
    duplicate = store(body)

    response = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "<script>alert(" not in html
    assert "\n  &quot;triggerEvent&quot;: &quot;BOOKING_CREATED&quot;," in html  # pretty-printed
    assert (
        "X-Cal-Signature-256" in html
        and "abc" not in re.sub(r"<[^>]+>", "", html).split("Headers")[1].split("Processing attempts")[0]
    )
    assert "3.121.45.10" in html
    assert "Traceback: boom" in html and "root" in html
    assert f"#{duplicate.pk}" in html
    assert 'id="reprocess-button"' in html and 'id="force-reprocess-button"' in html
    assert "Save" not in re.findall(r'<input type="submit"[^>]*>', html).__str__()


def test_detail_of_a_non_json_body_shows_the_decoded_text(admin_client):
    event = store(b"\xff\xfe not json <b>bold</b>", status="ignored")
    html = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk])).content.decode()
    assert "\ufffd\ufffd not json &lt;b&gt;bold&lt;/b&gt;" in html
    assert "not JSON" in html


JUNK_BODIES = {
    "10k nested arrays": b"[" * 10_000 + b"]" * 10_000,
    "10k nested objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "valid but 200 deep": b"[" * 200 + b"]" * 200,
    "NaN and 1e400": b'{"triggerEvent":"BOOKING_CREATED","a":NaN,"b":1e400,"c":-Infinity}',
    "unclosed 10k": b"[" * 10_000,
}


@pytest.mark.parametrize("raw", JUNK_BODIES.values(), ids=JUNK_BODIES.keys())
def test_detail_of_any_stored_junk_body_renders_its_raw_text(admin_client, raw):
    event = store(raw, status="failed")

    response = admin_client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk]))

    assert response.status_code == 200
    assert response.context["body"].is_json is False
    assert response.context["body"].text == raw.decode()
    assert escape(raw.decode()[:50]) in response.content.decode()


def test_events_are_read_only(admin_client):
    event = store(booking("BOOKING_CREATED", uid="ro", minutes=0))
    assert admin_client.get(reverse("admin:webhooks_webhookevent_add")).status_code == 403
    admin_client.post(reverse("admin:webhooks_webhookevent_change", args=[event.pk]), {"status": "processed"})
    event.refresh_from_db()
    assert event.status == "received"
    assert admin_client.get(reverse("admin:webhooks_webhookevent_delete", args=[event.pk])).status_code == 403


# --- dashboard --------------------------------------------------------------------------------


def test_dashboard_draws_an_svg_chart_and_shows_what_needs_attention(admin_client):
    store(booking("BOOKING_CREATED", uid="d1", minutes=0), status="processed")
    old_failed = store(booking("BOOKING_CREATED", uid="d2", minutes=1), status="failed")
    WebhookEvent.objects.filter(pk=old_failed.pk).update(
        received_at=timezone.now() - timedelta(days=2, hours=3)
    )
    store(booking("BOOKING_CREATED", uid="d3", minutes=2), status="dead")

    admin_client.get(DASHBOARD_URL)  # counts the days (inline: the ImmediateBackend) and stores them
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(DASHBOARD_URL)
    html = response.content.decode()

    assert response.status_code == 200
    assert '<svg class="vani-chart" id="daily-chart"' in html
    assert html.count("<rect ") == 3  # one segment per (day, status) with events
    assert "<script" not in html.split('id="daily-chart"')[1].split("</svg>")[0]
    assert re.search(r'id="card-failed" href="[^"]*\?status=failed">Failed<span class="number">1<', html)
    assert re.search(r'id="card-dead" href="[^"]*\?status=dead">Dead<span class="number">1<', html)
    assert "2 d 3 h" in html and f"#{old_failed.pk}" in html
    assert len(queries.captured_queries) <= 13  # each bounded: stored days, capped counts
    # The chart's days come from the stored counts: no GROUP BY day, status over the events.
    grouped = [q["sql"].split("GROUP BY")[1] for q in queries.captured_queries if "GROUP BY" in q["sql"]]
    assert not any('"webhook_events"."status"' in group for group in grouped)
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert DASHBOARD_URL in index


def test_daily_counts_cover_fourteen_days_oldest_first():
    store(booking("BOOKING_CREATED", uid="c1", minutes=0), status="processed")
    today = timezone.localdate()
    days = selectors.counted_days(first_day=today - timedelta(days=13), last_day=today)
    assert len(days) == 14 and days[-1].day == timezone.localdate()
    assert days[-1].by_status == {"processed": 1} and sum(d.total for d in days) == 1


# --- meetings and targets -------------------------------------------------------------------------


def test_meeting_search_by_earlier_uid_email_and_target(admin_client):
    processed(booking("BOOKING_CREATED", uid="mA", minutes=0, email="lead@acme.example"))
    processed(
        booking("BOOKING_RESCHEDULED", uid="mB", minutes=10, reschedule_uid="mA", email="lead@acme.example")
    )
    meeting = Meeting.objects.get()
    target = Target.objects.create(name="Lena Lead", email="Lead@Acme.example", company="Acme")
    Meeting.objects.filter(pk=meeting.pk).update(target=target)
    url = reverse("admin:meetings_meeting_changelist")

    for term in ("mA", "mB", "LEAD@acme.example", "Acme", "lena"):
        response = admin_client.get(url, {"q": term})
        assert [m.pk for m in response.context["cl"].result_list] == [meeting.pk], term
    assert list(admin_client.get(url, {"q": "mZ"}).context["cl"].result_list) == []
    assert admin_client.get(url, {"status": "scheduled", "start": "past"}).status_code == 200


def test_meeting_detail_shows_the_timeline_in_order(admin_client):
    created = processed(booking("BOOKING_CREATED", uid="tA", minutes=0))
    moved = processed(booking("BOOKING_RESCHEDULED", uid="tB", minutes=10, reschedule_uid="tA"))
    cancelled = processed(booking("BOOKING_CANCELLED", uid="tB", minutes=20))
    failed = store(meeting_ended_body(uid="tB"), status="failed")
    meeting = Meeting.objects.get()
    assert MeetingStatusChange.objects.filter(meeting=meeting).count() == 2  # ∅→scheduled, →cancelled

    html = admin_client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()

    timeline = html.split('id="meeting-timeline"')[1]
    positions = [timeline.index(f">#{event.pk}</a>") for event in (created, moved, cancelled, failed)]
    assert positions == sorted(positions)
    assert "→ cancelled</strong>" in timeline and "∅ → scheduled</strong>" in timeline
    assert timeline.index("→ cancelled</strong>") > positions[2]
    assert "tA" in html and "tB" in html


def test_meeting_target_can_be_linked_but_nothing_else_changed(admin_client):
    processed(booking("BOOKING_CREATED", uid="link1", minutes=0))
    meeting = Meeting.objects.get()
    target = Target.objects.create(name="Priya", email="p@example.org")
    response = admin_client.post(
        reverse("admin:meetings_meeting_change", args=[meeting.pk]),
        {"target": target.pk, "status": "cancelled", "title": "changed"},
    )
    assert response.status_code == 302
    meeting.refresh_from_db()
    assert meeting.target == target and meeting.status == "scheduled" and meeting.title != "changed"


def test_target_admin_searches_name_email_company_and_owner(admin_client):
    owner = make_user("alexr")
    Target.objects.create(
        name="Priya Shah", email="priya@northwind.example", company="Northwind", owner=owner
    )
    Target.objects.create(name="Tom Becker", email="tom@globex.example", company="Globex")
    url = reverse("admin:meetings_target_changelist")
    for term, expected in (("priya", ["Priya Shah"]), ("globex", ["Tom Becker"]), ("alexr", ["Priya Shah"])):
        names = [t.name for t in admin_client.get(url, {"q": term}).context["cl"].result_list]
        assert names == expected


# --- demo data ------------------------------------------------------------------------------------


def test_seed_demo_data_fills_a_realistic_consistent_database(db):
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    summary = seed_demo_data(events=1500, seed=4, now=now, batch_size=400)

    assert summary.events == WebhookEvent.objects.count() == 1500
    statuses = set(WebhookEvent.objects.values_list("status", flat=True))
    assert {"processed", "ignored", "duplicate", "failed", "dead", "rejected"} <= statuses
    triggers = set(WebhookEvent.objects.values_list("trigger_event", flat=True))
    assert {
        "BOOKING_CREATED",
        "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED",
        "MEETING_ENDED",
        "PING",
    } <= triggers
    received = WebhookEvent.objects.values_list("received_at", flat=True)
    assert now - timedelta(days=30) <= min(received) and max(received) <= now + timedelta(seconds=1)
    assert summary.meetings == Meeting.objects.count() > 100
    assert BookingUid.objects.count() > Meeting.objects.count()  # reschedules left aliases
    assert Target.objects.exists() and ProcessingAttempt.objects.exists()
    # Duplicates point at an original with the same body; uids and e-mails are searchable.
    duplicate = WebhookEvent.objects.filter(status="duplicate").first()
    assert bytes(duplicate.raw_body) == bytes(duplicate.duplicate_of.raw_body)
    linked = WebhookEvent.objects.filter(status="processed", meeting__isnull=False).first()
    assert linked.attendee_email == linked.attendee_email.lower() and linked.booking_uid
    # The sequence was moved past the explicit ids: normal inserts still work.
    store(booking("BOOKING_CREATED", uid="after-seed", minutes=0))

    # A seeded failed event holds a real Cal.com body: fixing and replaying it works.
    failed = WebhookEvent.objects.filter(status="failed", trigger_event="BOOKING_CREATED").first()
    if failed is not None:
        assert process_event(event_id=failed.pk, via=AttemptTrigger.ADMIN, mode="reprocess").status in (
            "processed",
            "ignored",
        )

    with pytest.raises(AlreadySeeded):
        seed_demo_data(events=10, seed=4, now=now)


def test_seed_demo_data_is_deterministic(db):
    now = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def snapshot():
        return list(
            WebhookEvent.objects.order_by("id").values_list(
                "trigger_event", "booking_uid", "status", "fingerprint", "received_at"
            )
        )

    seed_demo_data(events=300, seed=8, now=now)
    first = snapshot()
    # Duplicates first: deleting an original would make them originals of the same body.
    WebhookEvent.objects.filter(duplicate_of__isnull=False).delete()
    for model in (WebhookEvent, Meeting, Target):
        model.objects.all().delete()
    seed_demo_data(events=300, seed=8, now=now)
    assert snapshot() == first


def test_seed_demo_data_command(db):
    from io import StringIO

    out = StringIO()
    call_command("seed_demo_data", "--events", "120", "--seed", "3", "--sequential", stdout=out)
    assert "Seeded 120 events" in out.getvalue()
    assert WebhookEvent.objects.count() == 120


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seed_demo_data_bulk_path_writes_in_the_background_and_rebuilds_indexes():
    def indexes() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename IN "
                "('webhook_events', 'webhooks_processingattempt', 'meetings_meetingstatuschange')"
            )
            return {row[0] for row in cursor.fetchall()}

    before = indexes()
    summary = seed_demo_data(events=2500, seed=6, batch_size=500, background_writes=True)

    assert indexes() == before  # dropped for the load, rebuilt after it
    assert WebhookEvent.objects.count() == summary.events == 2500
    assert ProcessingAttempt.objects.count() == summary.attempts
    assert Meeting.objects.count() == summary.meetings and BookingUid.objects.count() == summary.booking_uids
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'webhook_events'")
        assert cursor.fetchone()[0] > 2000  # analysed: the admin's estimates are right


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seed_demo_data_bulk_path_restores_foreign_keys_and_keeps_indexes_when_adding_little():
    def schema() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename IN "
                "('webhook_events', 'webhooks_processingattempt', 'meetings_meetingstatuschange', "
                "'meetings', 'meetings_bookinguid') "
                "UNION ALL SELECT conname || pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f'"
            )
            return {row[0] for row in cursor.fetchall()}

    before = schema()
    first = seed_demo_data(events=800, seed=12, batch_size=200, background_writes=True, writer_processes=2)
    assert schema() == before  # indexes rebuilt and foreign keys added back (and validated)
    # Less than doubling: written with the indexes and foreign keys in place.
    second = seed_demo_data(events=300, seed=13, batch_size=100, background_writes=True, writer_processes=1)
    assert schema() == before
    assert WebhookEvent.objects.count() == first.events + second.events == 1100
    assert not WebhookEvent.objects.filter(meeting__isnull=False, meeting__id__isnull=True).exists()
    assert ProcessingAttempt.objects.count() == first.attempts + second.attempts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_seed_demo_data_writer_process_failure_is_raised_and_indexes_come_back(monkeypatch):
    from devtools.demo import copy as demo_copy

    def indexes() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'webhook_events'")
            return {row[0] for row in cursor.fetchall()}

    def broken_write(batch):
        raise ValueError("disk on fire")

    before = indexes()
    # The writer processes are forked: they inherit the patched function.
    monkeypatch.setattr(demo_copy, "write_batch", broken_write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        seed_demo_data(events=300, seed=14, batch_size=100, background_writes=True)
    assert indexes() == before
