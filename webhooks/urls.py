from django.urls import re_path

from .views import CalComWebhookView

urlpatterns = [
    # Both spellings answer directly: Cal.com does not follow redirects.
    re_path(r"^api/webhooks/cal-com/?$", CalComWebhookView.as_view(), name="calcom-webhook"),
]
