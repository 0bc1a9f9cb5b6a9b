"""HTTP entry point for Cal.com: parse the request, delegate to ingest, answer fast."""

from __future__ import annotations

import ipaddress
import logging
import time
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse, UnreadablePostError
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from calcom.signatures import SIGNATURE_HEADER, verify_signature
from common.logfields import log_fields

from .ingest import record_delivery, webhook_secrets
from .metrics import INGEST_SECONDS
from .models import SignatureResult
from .ops_selectors import is_missing_table
from .rate_limit import record_refused_delivery

logger = logging.getLogger("webhooks")

_SIGNATURE_ERRORS = {
    SignatureResult.MISSING: "missing X-Cal-Signature-256 header",
    SignatureResult.NO_SECRET_PROVIDED: (
        "X-Cal-Signature-256 is 'no-secret-provided': the Cal.com webhook has no secret; "
        "set the same secret on both sides"
    ),
    SignatureResult.INVALID: "X-Cal-Signature-256 does not match the body under any configured secret",
}


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or, when that is a trusted proxy (TRUSTED_PROXY_IPS),
    the nearest address in X-Forwarded-For that is not one of our proxies.

    X-Forwarded-For is read from the right: each proxy appends the address it was called
    from, so entries left of the first untrusted one could have been written by the client.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    if not settings.TRUSTED_PROXY_IPS:
        return remote
    trusted = _networks(tuple(settings.TRUSTED_PROXY_IPS))
    if remote is None or not address_in_networks(remote, trusted):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    client = remote
    for hop in reversed([hop for hop in hops if hop]):
        address = _parse_address(hop)
        if address is None:
            break  # garbage where a proxy should have written an address: stop believing
        client = address
        if not address_in_networks(address, trusted):
            break
    return client


def address_in_networks(address: str, networks: tuple) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            logger.error("ignoring %r: not an IP address or CIDR range", entry)
    return tuple(networks)


def allowed_networks(entries: list[str]) -> tuple:
    """Parsed addresses/CIDR ranges of a setting like METRICS_ALLOWED_IPS (invalid ones skipped)."""
    return _networks(tuple(entries))


def _parse_address(hop: str) -> str | None:
    """An address from an X-Forwarded-For entry, which some proxies write with a port."""
    candidates = [hop]
    if hop.startswith("[") and "]" in hop:  # [2001:db8::1]:443
        candidates.append(hop[1 : hop.index("]")])
    elif hop.count(":") == 1:  # 203.0.113.7:443
        candidates.append(hop.split(":")[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


class CalComWebhookView(View):
    """`POST /api/webhooks/cal-com` (with or without the trailing slash; never a redirect).

    Routed as `calcom_webhook` (CSRF-exempt once, at routing, rather than a wrapper per request).
    """

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> JsonResponse:
        started = time.perf_counter()
        try:
            response = self._handle(request)
        except DatabaseError as exc:
            # Cal.com retries 5xx; nothing partial was written (one transaction per delivery).
            # No traceback: during an outage every delivery ends here.
            first_line = (str(exc).strip().splitlines() or [""])[0]
            log_fields(
                logger=logger,
                level=logging.ERROR,
                what="webhook database unavailable",
                error=f"{type(exc).__name__}: {first_line}"[:300],
            )
            if is_missing_table(exc):
                message = "database not ready: migrations not applied (run manage.py migrate)"
            else:
                message = "database unavailable, retry later"
            response = JsonResponse({"error": message}, status=503)
            response["Retry-After"] = "5"
        _ingest_seconds(status=response.status_code).observe(time.perf_counter() - started)
        return response

    def _handle(self, request: HttpRequest) -> JsonResponse:
        headers = dict(request.headers)
        content_type = request.META.get("CONTENT_TYPE", "")
        ip = client_ip(request)
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            refused = record_refused_delivery(
                raw_body=b"",
                body_size=declared,
                headers=headers,
                client_ip=ip,
                content_type=content_type,
                signature_result=SignatureResult.NOT_CHECKED,
                reason=f"body of {declared} bytes is over the {limit}-byte limit",
            )
            return _refused(refused, 413, f"body over the {limit}-byte limit")
        try:
            raw_body = _read_body(request=request, limit=limit)
        except UnreadablePostError as exc:
            # The client stopped sending (or gunicorn's body deadline passed); nothing is stored.
            log_fields(
                logger=logger,
                level=logging.WARNING,
                what="webhook body not received",
                client_ip=ip,
                error=str(exc)[:200],
            )
            return _error(408, "request body not received in time")
        if len(raw_body) > limit:
            refused = record_refused_delivery(
                raw_body=b"",
                body_size=len(raw_body),
                headers=headers,
                client_ip=ip,
                content_type=content_type,
                signature_result=SignatureResult.NOT_CHECKED,
                reason=f"body is over the {limit}-byte limit",
            )
            return _refused(refused, 413, f"body over the {limit}-byte limit")

        signature = verify_signature(
            body=raw_body, signature=request.headers.get(SIGNATURE_HEADER), secrets=webhook_secrets()
        )
        if signature in _SIGNATURE_ERRORS:
            refused = record_refused_delivery(
                raw_body=raw_body,
                body_size=len(raw_body),
                headers=headers,
                client_ip=ip,
                content_type=content_type,
                signature_result=signature,
                reason=_SIGNATURE_ERRORS[signature],
            )
            return _refused(refused, 401, _SIGNATURE_ERRORS[signature])
        if signature == SignatureResult.UNVERIFIED:
            logger.warning("SIGNATURE NOT VERIFIED: no CAL_COM_WEBHOOK_SECRET configured (development only)")

        result = record_delivery(
            raw_body=raw_body,
            headers=headers,
            client_ip=ip,
            content_type=content_type,
            signature_result=signature,
        )
        return JsonResponse(result.body, status=result.http_status)


calcom_webhook = csrf_exempt(CalComWebhookView.as_view())


@lru_cache(maxsize=32)
def _ingest_seconds(*, status: int):
    """The latency histogram's child for one HTTP status (labels() costs a lookup per call)."""
    return INGEST_SECONDS.labels(code=str(status))


def _read_body(*, request: HttpRequest, limit: int) -> bytes:
    """Up to `limit` + 1 bytes of the body, however it is framed.

    Django reads CONTENT_LENGTH bytes, so a chunked request (no Content-Length) would read as
    empty. A server that de-chunks the body and marks where it ends (gunicorn sets
    wsgi.input_terminated) lets us read the stream itself until it ends or passes the limit.
    """
    if request.META.get("CONTENT_LENGTH") or not request.META.get("wsgi.input_terminated"):
        return request.read(limit + 1)
    stream = request.META["wsgi.input"]
    chunks, size = [], 0
    while size <= limit:
        try:
            chunk = stream.read(limit + 1 - size)
        except OSError as exc:  # as Django's own read does: the client stopped sending
            raise UnreadablePostError(*exc.args) from exc
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _refused(refused, status: int, message: str) -> JsonResponse:
    if refused.rate_limited:
        response = _error(
            429,
            f"too many refused deliveries from this address ({message})",
            **({"event_id": refused.event.pk} if refused.event else {}),
        )
        response["Retry-After"] = "60"
        return response
    return _error(status, message, event_id=refused.event.pk)
