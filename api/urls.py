"""Every route of the REST API, mounted at /api/ by vani/urls.py (after the webhook endpoint)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.views import meetings as meeting_views
from api.views import webhook_events as webhook_views

urlpatterns = [
    path("meetings/", meeting_views.MeetingListApi.as_view(), name="api-meeting-list"),
    path(
        "meetings/schedule",
        meeting_views.MeetingScheduleApi.as_view(),
        name="api-meeting-schedule",
    ),
    path(
        "meetings/<int:meeting_id>/",
        meeting_views.MeetingDetailApi.as_view(),
        name="api-meeting-detail",
    ),
    path("targets/", meeting_views.TargetListCreateApi.as_view(), name="api-target-list"),
    path(
        "webhook-events/",
        webhook_views.WebhookEventListApi.as_view(),
        name="api-webhook-event-list",
    ),
    path(
        "webhook-events/<int:event_id>/",
        webhook_views.WebhookEventDetailApi.as_view(),
        name="api-webhook-event-detail",
    ),
    path(
        "webhook-events/<int:event_id>/reprocess",
        webhook_views.WebhookEventReprocessApi.as_view(),
        name="api-webhook-event-reprocess",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI only: drf-spectacular's Redoc page loads Google Fonts from a CDN.
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
