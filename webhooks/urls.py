from django.urls import re_path

from .views import calcom_webhook

urlpatterns = [
    # Both spellings answer directly: Cal.com does not follow redirects.
    re_path(r"^api/webhooks/cal-com/?$", calcom_webhook, name="calcom-webhook"),
]
