"""Write-side logic of the REST API itself: the staff users' API tokens."""

from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token


class ApiTokenRefused(Exception):
    """API tokens are for active staff users only (the API is staff-only)."""


def issue_api_token(*, user, rotate: bool = False) -> Token:
    """The user's REST API token (DRF authtoken), created if missing; a new one if `rotate`."""
    if not user.is_active or not user.is_staff:
        raise ApiTokenRefused(f"{user.get_username()} is not an active staff user; the API is for staff only")
    with transaction.atomic():
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _created = Token.objects.get_or_create(user=user)
    return token
