"""Admin registrations for every app, imported by Django's admin autodiscovery."""

from console.admin import meetings, notifications, webhook_events  # noqa: F401  (registers)
