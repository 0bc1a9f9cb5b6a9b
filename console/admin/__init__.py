"""Admin registrations for every app, imported by Django's admin autodiscovery."""

from console.admin import (  # noqa: F401  (registers)
    meetings,
    notifications,
    reprocess_jobs,
    webhook_events,
)
