from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The staff console: every ModelAdmin and the dashboard, above the apps it shows."""

    name = "console"
    verbose_name = "VANI console"
