"""Who may use the REST API: staff, with the same model permissions the admin asks for."""

from __future__ import annotations

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request

from webhooks.models import REPROCESS_PERMISSION

_VIEW = ["%(app_label)s.view_%(model_name)s"]


class ModelPermissions(DjangoModelPermissions):
    """DRF's model permissions, with reads needing `view_<model>` as in the admin (DRF lets any
    authenticated user read). The model is that of the view's queryset."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": _VIEW, "HEAD": _VIEW, "OPTIONS": _VIEW}


class HasPermissions(BasePermission):
    """For actions that are not a plain read or write of the view's model: every permission in
    `required` (e.g. scheduling a meeting, reprocessing an event)."""

    required: tuple[str, ...] = ()

    def has_permission(self, request: Request, view) -> bool:
        return bool(request.user and request.user.has_perms(self.required))


class CanScheduleMeetings(HasPermissions):
    # Booking stores a new meeting; linking may set the target of a stored one.
    required = ("meetings.add_meeting", "meetings.change_meeting")
    message = "scheduling needs the permissions meetings.add_meeting and meetings.change_meeting"


class CanReprocessWebhookEvents(HasPermissions):
    required = (REPROCESS_PERMISSION,)
    message = f"reprocessing needs the permission {REPROCESS_PERMISSION}"
