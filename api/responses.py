"""Error answers shared by every API endpoint, for the OpenAPI schema."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error", fields={"detail": serializers.CharField(help_text="What went wrong.")}
)

_ERRORS = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Invalid input: each offending field (or `non_field_errors`), its problems.",
    ),
    401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
    403: OpenApiResponse(ErrorSerializer, description="Not a staff user, or lacks the permission."),
    404: OpenApiResponse(ErrorSerializer, description="No such object."),
    409: OpenApiResponse(ErrorSerializer, description="The object's state does not allow this."),
    429: OpenApiResponse(ErrorSerializer, description="Throttled (API_THROTTLE_RATE per user)."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """401, 403 and 429 (every endpoint can answer them) plus the given codes."""
    return {code: _ERRORS[code] for code in sorted({401, 403, 429, *codes})}
