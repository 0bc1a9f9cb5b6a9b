from django.contrib import admin
from django.urls import include, path, re_path

from webhooks import ops_views

urlpatterns = [
    path("", include("webhooks.urls")),
    re_path(r"^healthz/?$", ops_views.healthz, name="healthz"),
    re_path(r"^readyz/?$", ops_views.readyz, name="readyz"),
    re_path(r"^metrics/?$", ops_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    # The REST API (staff only) and its OpenAPI schema; the webhook route above matches first.
    path("api/", include("api.urls")),
]
