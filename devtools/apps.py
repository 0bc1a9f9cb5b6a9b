from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development and benchmark helpers (demo data); no production code path imports it."""

    name = "devtools"
    verbose_name = "Development tools"
