"""Paging of the API's lists."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, PageNumberPagination


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
