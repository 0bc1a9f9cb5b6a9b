"""The sync as staff and operators see it: the admin action and button, the timeline, the
dashboard card and its warning, and /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calsync.models import SyncRun
from meetings.models import Meeting
from tests.support.bodies import booking_id_for
from tests.support.booking_api import api_booking
from tests.support.users import grant


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@vani.example", "pw")
    client.force_login(user)
    return client


def _cancelled_in_calcom(server, now, uid):
    server.put_booking(
        api_booking(
            uid=uid,
            booking_id=booking_id_for(uid),
            start=now + timedelta(days=1),
            created=now - timedelta(days=2),
            updated=now - timedelta(hours=1),
            status="cancelled",
            cancellation_reason="double booked",
        )
    )


def test_the_admin_action_syncs_the_selected_meetings(admin_client, calcom_server, calcom_settings, now):
    Meeting.objects.create(cal_event_id="ADM1", status="scheduled", last_event_at=now - timedelta(days=2))
    Meeting.objects.create(cal_event_id="ADM2", status="scheduled", last_event_at=now - timedelta(days=2))
    _cancelled_in_calcom(calcom_server, now, "ADM1")

    response = admin_client.post(
        reverse("admin:meetings_meeting_changelist"),
        {"action": "sync_from_calcom", "_selected_action": [Meeting.objects.get(cal_event_id="ADM1").pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Synced from Cal.com: read 1 bookings, changed 1 meetings" in response.content.decode()
    assert Meeting.objects.get(cal_event_id="ADM1").status == "cancelled"
    assert Meeting.objects.get(cal_event_id="ADM2").status == "scheduled"
    assert SyncRun.objects.get().via == "admin"


def test_the_meeting_page_button_syncs_it_and_the_timeline_says_the_sync_healed_it(
    admin_client, calcom_server, calcom_settings, now
):
    meeting = Meeting.objects.create(
        cal_event_id="PAGE1", status="scheduled", last_event_at=now - timedelta(days=2)
    )
    _cancelled_in_calcom(calcom_server, now, "PAGE1")
    page = reverse("admin:meetings_meeting_change", args=[meeting.pk])
    assert 'id="sync-from-calcom"' in admin_client.get(page).content.decode()
    assert admin_client.get(reverse("admin:meetings_meeting_sync", args=[meeting.pk])).status_code == 405

    response = admin_client.post(reverse("admin:meetings_meeting_sync", args=[meeting.pk]), follow=True)

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == page
    assert "healed by the Cal.com sync" in html and "cancellation_reason ∅ → double booked" in html
    assert "(by the Cal.com sync)" in html
    assert Meeting.objects.get(pk=meeting.pk).status == "cancelled"


def test_a_viewer_without_change_permission_cannot_sync(client, django_user_model, calcom_settings, now):
    user = django_user_model.objects.create_user("viewer", "v@vani.example", "pw", is_staff=True)
    user = grant(user, "view_meeting")
    client.force_login(user)
    meeting = Meeting.objects.create(cal_event_id="RO1")
    assert client.post(reverse("admin:meetings_meeting_sync", args=[meeting.pk])).status_code == 403


def test_the_dashboard_shows_the_last_sync_and_warns_when_none_succeeded_for_twice_the_interval(
    admin_client, settings, db
):
    dashboard = reverse("admin:webhooks_webhookevent_dashboard")
    settings.CAL_COM_SYNC_INTERVAL_SECONDS = 0
    assert "No sync has succeeded" not in admin_client.get(dashboard).content.decode()

    settings.CAL_COM_SYNC_INTERVAL_SECONDS = 300
    now = timezone.now()
    SyncRun.objects.create(
        kind="plain",
        started_at=now - timedelta(minutes=11),
        finished_at=now - timedelta(minutes=11),
        bookings_read=7,
        meetings_changed=2,
        meetings_created=1,
    )
    html = admin_client.get(dashboard).content.decode()
    assert "read 7, changed 2, created 1" in html
    assert "No sync has succeeded for over 600 s" in html

    SyncRun.objects.create(
        kind="plain", started_at=now, finished_at=now, error="Cal.com API error (HTTP 401)"
    )
    html = admin_client.get(dashboard).content.decode()
    assert "failed: Cal.com API error (HTTP 401)" in html and "No sync has succeeded" in html

    SyncRun.objects.create(kind="plain", started_at=now, finished_at=now)
    assert "No sync has succeeded" not in admin_client.get(dashboard).content.decode()


def test_metrics_show_the_last_success_bookings_read_and_changes_by_kind(
    admin_client, calcom_server, calcom_settings, now, sync
):
    Meeting.objects.create(cal_event_id="MET1", status="scheduled", last_event_at=now - timedelta(days=2))
    _cancelled_in_calcom(calcom_server, now, "MET1")
    calcom_server.put_booking(
        api_booking(uid="MET2", booking_id=2, start=now + timedelta(days=1), created=now - timedelta(hours=1))
    )
    sync()

    text = admin_client.get("/metrics").content.decode()

    finished = SyncRun.objects.get().finished_at.timestamp()
    assert f"vani_calcom_sync_last_success_timestamp_seconds {finished:.9e}".replace(
        "e+09", "e+09"
    ) in text or ("vani_calcom_sync_last_success_timestamp_seconds 1." in text)
    assert "vani_calcom_sync_bookings_read_24h 2.0" in text
    assert 'vani_calcom_sync_meetings_changed_24h{kind="cancelled"} 1.0' in text
    assert 'vani_calcom_sync_meetings_changed_24h{kind="created"} 1.0' in text
    assert 'vani_calcom_sync_meetings_changed_24h{kind="completed"} 0.0' in text
    assert "vani_calcom_sync_last_run_failed 0.0" in text
