"""The meeting pages show Cal Video's host no-show (AFTER_HOSTS_CAL_VIDEO_NO_SHOW) as a flag."""

from __future__ import annotations

import pytest
from django.urls import reverse

from meetings.models import Meeting

pytestmark = pytest.mark.django_db


def test_host_no_show_is_a_visible_flag_in_the_list_and_on_the_page(admin_client):
    flagged = Meeting.objects.create(cal_event_id="flagged", title="Host stayed away", host_no_show=True)
    Meeting.objects.create(cal_event_id="fine", title="All there")

    listing = admin_client.get(reverse("admin:meetings_meeting_changelist")).content.decode()
    assert listing.count("Host no-show</span>") == 1
    filtered = admin_client.get(reverse("admin:meetings_meeting_changelist") + "?host_no_show__exact=1")
    assert "Host stayed away" in filtered.content.decode()
    assert "All there" not in filtered.content.decode()

    page = admin_client.get(reverse("admin:meetings_meeting_change", args=[flagged.pk])).content.decode()
    assert "Host no-show</span>" in page
    assert "Cal Video reported that the host did not join" in page
