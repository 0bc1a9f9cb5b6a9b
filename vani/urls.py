from django.contrib import admin
from django.urls import include, path, re_path

from webhooks import ops_views
from webhooks.urls import urlpatterns as webhook_urlpatterns

urlpatterns = [
    # First and not behind an include: Cal.com's deliveries are most of the traffic.
    *webhook_urlpatterns,
    re_path(r"^healthz/?$", ops_views.healthz, name="healthz"),
    re_path(r"^readyz/?$", ops_views.readyz, name="readyz"),
    re_path(r"^metrics/?$", ops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # The REST API (staff only) and its OpenAPI schema; the webhook route above matches first.
    path("api/", include("api.urls")),
]
