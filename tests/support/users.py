"""Staff users and their model permissions (the API and the admin check them alike)."""

from __future__ import annotations

# What a staff member using the API day to day is granted (the API checks model permissions,
# like the admin); reprocessing is left out so tests can show it is needed.
STAFF_API_PERMISSIONS = (
    "view_meeting",
    "add_meeting",
    "change_meeting",
    "view_target",
    "add_target",
    "view_webhookevent",
)


def grant(user, *codenames: str):
    """The user, reloaded (fresh permission cache), with these permissions added."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(user).objects.get(pk=user.pk)
