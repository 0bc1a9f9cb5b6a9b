"""HTTP entry point for Cal.com: parse the request, delegate to services, answer fast."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .models import SignatureResult
from .services import record_delivery, record_rejected_delivery, webhook_secrets
from .signatures import SIGNATURE_HEADER, verify_signature

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
    return request.META.get("REMOTE_ADDR") or None


@method_decorator(csrf_exempt, name="dispatch")
class CalComWebhookView(View):
    """`POST /api/webhooks/cal-com` (with or without the trailing slash; never a redirect)."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest) -> JsonResponse:
        try:
            return self._handle(request)
        except DatabaseError:
            # Cal.com retries 5xx; nothing partial was written (one transaction per delivery).
            logger.exception("database unavailable while receiving a webhook")
            response = JsonResponse(
                {"error": "database unavailable, retry later"}, status=503
            )
            response["Retry-After"] = "5"
            return response

    def _handle(self, request: HttpRequest) -> JsonResponse:
        headers = dict(request.headers)
        content_type = request.META.get("CONTENT_TYPE", "")
        ip = client_ip(request)
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            event = record_rejected_delivery(
                raw_body=b"", body_size=declared, headers=headers, client_ip=ip,
                content_type=content_type, signature_result=SignatureResult.NOT_CHECKED,
                reason=f"body of {declared} bytes is over the {limit}-byte limit",
            )
            return _error(413, f"body over the {limit}-byte limit", event_id=event.pk)
        raw_body = request.read(limit + 1)
        if len(raw_body) > limit:
            event = record_rejected_delivery(
                raw_body=b"", body_size=len(raw_body), headers=headers, client_ip=ip,
                content_type=content_type, signature_result=SignatureResult.NOT_CHECKED,
                reason=f"body is over the {limit}-byte limit",
            )
            return _error(413, f"body over the {limit}-byte limit", event_id=event.pk)

        signature = verify_signature(
            body=raw_body, signature=request.headers.get(SIGNATURE_HEADER), secrets=webhook_secrets()
        )
        if signature in _SIGNATURE_ERRORS:
            event = record_rejected_delivery(
                raw_body=raw_body, body_size=len(raw_body), headers=headers, client_ip=ip,
                content_type=content_type, signature_result=signature,
                reason=_SIGNATURE_ERRORS[signature],
            )
            return _error(401, _SIGNATURE_ERRORS[signature], event_id=event.pk)
        if signature == SignatureResult.UNVERIFIED:
            logger.warning(
                "SIGNATURE NOT VERIFIED: no CAL_COM_WEBHOOK_SECRET configured (development only)"
            )

        result = record_delivery(
            raw_body=raw_body, headers=headers, client_ip=ip, content_type=content_type,
            signature_result=signature,
        )
        return JsonResponse(result.body, status=result.http_status)


def _declared_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)
