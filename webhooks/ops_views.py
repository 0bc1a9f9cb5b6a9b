"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .metrics import render_metrics
from .ops_selectors import MIGRATIONS_NOT_APPLIED, backlog, database_problem
from .views import address_in_networks, allowed_networks, client_ip


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """`GET /healthz`: the process answers. Never touches the database, so a database outage
    does not get healthy web processes restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """`GET /readyz`: 200 when the database answers and is migrated, else 503 JSON naming the
    cause; with the backlog for a glance.

    A large backlog does not make us unready: taking web processes out of rotation would not
    drain it, only refuse Cal.com's deliveries.
    """
    problem = database_problem()
    if problem:
        answer = {"status": "unavailable", "database": problem}
        if problem == MIGRATIONS_NOT_APPLIED:
            answer["fix"] = "run `manage.py migrate` (make run does it)"
        return JsonResponse(answer, status=503)
    pending = backlog()
    return JsonResponse(
        {
            "status": "ok",
            "database": "ok",
            "backlog": pending.size,
            "oldest_unprocessed_age_seconds": pending.oldest_age_seconds(now=timezone.now()),
        }
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """`GET /metrics`: Prometheus text format, for staff or METRICS_ALLOWED_IPS."""
    address = client_ip(request)
    allowed = address is not None and address_in_networks(
        address, allowed_networks(settings.METRICS_ALLOWED_IPS)
    )
    if not allowed and not (request.user.is_authenticated and request.user.is_staff):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    body, content_type = render_metrics()
    return HttpResponse(body, content_type=content_type)
