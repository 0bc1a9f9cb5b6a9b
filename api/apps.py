from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API over meetings, targets and webhook events."""

    name = "api"
    verbose_name = "REST API"
