from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "HIT notifications"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the settings checks)
            receivers,  # noqa: F401  (connects the meetings signal receivers)
        )
