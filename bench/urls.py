"""URLconf for benchmark runs only (ROOT_URLCONF=bench.urls): the service plus the baselines."""

from django.urls import include, path

from .stock_admin import stock_admin_site
from .views import baseline_ingest

BASELINE_INGEST_PATH = "/bench/baseline-ingest"
STOCK_ADMIN_PREFIX = "/bench/stock-admin/"

urlpatterns = [
    path(BASELINE_INGEST_PATH.lstrip("/"), baseline_ingest, name="bench-baseline-ingest"),
    path(STOCK_ADMIN_PREFIX.lstrip("/"), stock_admin_site.urls),
    path("", include("vani.urls")),
]
