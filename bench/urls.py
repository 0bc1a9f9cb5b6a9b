"""URLconf for benchmark runs only (ROOT_URLCONF=bench.urls): the service plus the baselines."""

from django.urls import path

from vani.urls import urlpatterns as service_urlpatterns

from .stock_admin import stock_admin_site
from .views import baseline_ingest

BASELINE_INGEST_PATH = "/bench/baseline-ingest"
STOCK_ADMIN_PREFIX = "/bench/stock-admin/"

# The service's own patterns, not an include of them: the endpoint is resolved as in production.
urlpatterns = [
    path(BASELINE_INGEST_PATH.lstrip("/"), baseline_ingest, name="bench-baseline-ingest"),
    *service_urlpatterns,
    path(STOCK_ADMIN_PREFIX.lstrip("/"), stock_admin_site.urls),
]
