"""Paging of the API's lists."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

from common.datetimes import storable_moment


class _NullableLinksIn31Mixin:
    """DRF describes `next`/`previous` with OpenAPI 3.0's `nullable`; the schema is 3.1, where
    null is a type of its own (drf-spectacular leaves paginator schemas as DRF writes them)."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):
            described = dict(response["properties"][link])
            described.pop("nullable", None)
            described["type"] = ["string", "null"]
            response["properties"][link] = described
        return response


class CappedPageNumberPagination(_NullableLinksIn31Mixin, PageNumberPagination):
    """`?page=N&page_size=M`, at most 200 rows a page."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class CappedCursorPagination(_NullableLinksIn31Mixin, CursorPagination):
    """`?cursor=…&page_size=M`, at most 200 rows a page; no COUNT, so any table size is cheap.
    Subclasses set `ordering` (an indexed one)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            self._check_position(position=cursor.position)
        return cursor

    def _check_position(self, *, position: str) -> None:
        # A cursor is client text: its position must be a value of the ordering column that
        # the database accepts, or the query itself fails (500) instead of the cursor (404).
        field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            value = field.to_python(position)
        except (DjangoValidationError, ValueError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None
        if isinstance(value, datetime) and not storable_moment(value):
            raise NotFound(self.invalid_cursor_message)


class WebhookEventCursorPagination(CappedCursorPagination):
    """Newest first along the (-received_at, -id) index."""

    ordering = ("-received_at", "-id")
