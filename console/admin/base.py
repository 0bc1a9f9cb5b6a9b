"""Admin building blocks shared by the apps."""

from datetime import datetime

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import BadRequest, EmptyResultSet
from django.http import HttpRequest

from common.datetimes import storable_moment

# Lets staff reprocess webhook events (one, a page, or a background job) and cancel jobs.


class BoundedChangeList(ChangeList):
    """A changelist whose crafted query strings answer 400 instead of 500.

    Django turns most bad filter values into its "?e=1" page, but not those that only fail
    later: a date hierarchy of year 9999 (the year after it overflows) or a datetime whose UTC
    value is outside years 1-9999 (SQLite cannot store it).
    """

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            raise BadRequest(f"invalid filter: {exc}") from exc

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        # Values are adapted for the database when the query is compiled; doing it here lets
        # one that cannot be (a date out of range) be refused before the page runs it.
        try:
            _sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        except EmptyResultSet:
            return queryset
        except (ValueError, OverflowError) as exc:
            raise BadRequest(f"invalid filter: {exc}") from exc
        for value in params:
            if isinstance(value, datetime) and not storable_moment(value):
                raise BadRequest(f"invalid filter: {value.isoformat()} cannot be stored")
        return queryset


class BoundedChangeListMixin:
    def get_changelist(self, request, **kwargs):
        return BoundedChangeList


class VaniModelAdmin(BoundedChangeListMixin, admin.ModelAdmin):
    """The apps' ModelAdmin: crafted filters answer 400, never 500."""


class ReadOnlyModelAdmin(VaniModelAdmin):
    """For records written only by the pipeline (deliveries, jobs, the notification outbox):
    staff look and act through explicit actions; nobody adds, edits or deletes rows by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
