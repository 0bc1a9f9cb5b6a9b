"""Paging of the API's lists."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination

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


class NullableKeysetCursorPagination(_NullableLinksIn31Mixin, CursorPagination):
    """`?cursor=…&page_size=M` over `(-<nullable datetime>, -id)`: no COUNT and no OFFSET.

    DRF's cursor keeps only the first ordering column's value (plus an offset over its ties)
    and cannot hold a NULL; this cursor holds both keys, `<moment or empty>|<id>`, so a page
    is one index range read whatever the table's size or the number of ties. Newest first with
    the NULLs (unknown moments) first, as PostgreSQL orders a backward scan of the column's
    index; the same order on SQLite (NULLS FIRST is explicit). Subclasses set `moment_field`.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    moment_field = ""
    ordering = ("-id",)  # unused: the order is set in `_rows`

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self._model = queryset.model
        self.cursor = self.decode_cursor(request)
        key = None
        if self.cursor is not None and self.cursor.position is not None:
            key = self._key(self.cursor.position)
        # Backwards from a row, never from nowhere.
        reverse = bool(key is not None and self.cursor is not None and self.cursor.reverse)
        rows = self._rows(queryset=queryset, key=key, reverse=reverse, limit=self.page_size + 1)
        page, more = rows[: self.page_size], len(rows) > self.page_size
        if reverse:
            page.reverse()
        self.page = page
        # Forward: more rows after this page, and some before it if a cursor moved us; backward:
        # the other way round.
        self.has_next = more if not reverse else key is not None
        self.has_previous = key is not None if not reverse else more
        return page

    def _rows(self, *, queryset, key: tuple[datetime | None, int] | None, reverse: bool, limit: int) -> list:
        """Up to `limit` rows after `key` in the page order (before it, backwards), each part
        one range of the moment's index: the non-NULL moments and the NULLs are read apart,
        since `x < t OR x IS NULL` is no index range."""
        name = self.moment_field
        moment = F(name)
        if reverse:  # moment ASC NULLS LAST, id ASC
            ordered = queryset.order_by(moment.asc(nulls_last=True), F("id").asc())
        else:  # moment DESC NULLS FIRST, id DESC
            ordered = queryset.order_by(moment.desc(nulls_first=True), F("id").desc())
        nulls = ordered.filter(**{f"{name}__isnull": True})
        known = ordered.filter(**{f"{name}__isnull": False})
        if key is None:
            return list(ordered[:limit])
        at, row_id = key
        if at is None:
            if reverse:  # the NULLs come last going backwards: nothing but NULLs after one
                return list(nulls.filter(id__gt=row_id)[:limit])
            rows = list(nulls.filter(id__lt=row_id)[:limit])
            return rows + list(known[: limit - len(rows)]) if len(rows) < limit else rows
        if reverse:
            later = Q(**{f"{name}__gt": at}) | Q(**{name: at, "id__gt": row_id})
            rows = list(known.filter(**{f"{name}__gte": at}).filter(later)[:limit])
            return rows + list(nulls[: limit - len(rows)]) if len(rows) < limit else rows
        earlier = Q(**{f"{name}__lt": at}) | Q(**{name: at, "id__lt": row_id})
        return list(known.filter(**{f"{name}__lte": at}).filter(earlier)[:limit])

    def get_next_link(self):
        if not self.has_next or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self._position(self.page[-1])))

    def get_previous_link(self):
        if not self.has_previous or not self.page:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self._position(self.page[0])))

    def get_html_context(self):  # pragma: no cover - the browsable API only
        return {"previous_url": self.get_previous_link(), "next_url": self.get_next_link()}

    def _position(self, instance) -> str:
        moment = getattr(instance, self.moment_field)
        return f"{moment.isoformat() if moment is not None else ''}|{instance.pk}"

    def _key(self, position: str) -> tuple[datetime | None, int]:
        # Client text: anything that is not a storable moment and an id answers 404, not 500.
        moment_text, bar, id_text = position.rpartition("|")
        if not bar:
            raise NotFound(self.invalid_cursor_message)
        try:
            row_id = int(id_text)
            moment = (
                self._model._meta.get_field(self.moment_field).to_python(moment_text) if moment_text else None
            )
        except (DjangoValidationError, ValueError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None
        if not 0 < row_id < 2**63 or (moment is not None and not storable_moment(moment)):
            raise NotFound(self.invalid_cursor_message)
        if moment is not None and timezone.is_naive(moment):
            raise NotFound(self.invalid_cursor_message)
        return moment, row_id


class MeetingCursorPagination(NullableKeysetCursorPagination):
    """Newest start first (meetings with no start yet first), along the start_time index."""

    moment_field = "start_time"
