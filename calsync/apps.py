from django.apps import AppConfig


class CalsyncConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "calsync"
    verbose_name = "Cal.com sync"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the meetings signal receivers)
