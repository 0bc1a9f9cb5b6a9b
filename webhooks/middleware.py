"""Request middleware that must run before Django's own."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from .views import address_in_networks, allowed_networks


class TrustedProxyProtoMiddleware:
    """Drops X-Forwarded-Proto unless the request came from one of TRUSTED_PROXY_IPS.

    SECURE_PROXY_SSL_HEADER makes Django believe the header from whoever sends it; a client
    talking to us directly could otherwise claim HTTPS and dodge the HTTPS redirect. With
    TRUSTED_PROXY=true and no TRUSTED_PROXY_IPS the header is believed from anyone (opt-in).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if settings.TRUSTED_PROXY_IPS:
            remote = request.META.get("REMOTE_ADDR") or ""
            if not address_in_networks(remote, allowed_networks(settings.TRUSTED_PROXY_IPS)):
                request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        return self.get_response(request)
