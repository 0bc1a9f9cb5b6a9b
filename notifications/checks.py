"""System checks: catch HIT notification settings that would silently notify nobody."""

from django.conf import settings
from django.core import checks

from meetings.status_mapping import STATUS_TABLE

from .models import NotificationChannel


@checks.register()
def check_hit_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    known_channels = set(NotificationChannel.values)
    for channel in settings.HIT_CHANNELS:
        if channel.strip().lower() not in known_channels:
            problems.append(
                checks.Error(
                    f"HIT_CHANNELS names an unknown channel {channel!r}",
                    hint=f"Use a comma-separated subset of {', '.join(sorted(known_channels))}.",
                    id="notifications.E001",
                )
            )
    hit_triggers = {name for name, rule in STATUS_TABLE.items() if rule.hit}
    for trigger in settings.HIT_TRIGGERS:
        if trigger not in hit_triggers:
            problems.append(
                checks.Warning(
                    f"HIT_TRIGGERS names {trigger!r}, which never produces a HIT notification",
                    hint=f"HIT triggers are {', '.join(sorted(hit_triggers))}.",
                    id="notifications.W001",
                )
            )
    if settings.HIT_MEETING_COMPLETED_DELAY < 0:
        problems.append(
            checks.Error(
                "HIT_MEETING_COMPLETED_DELAY is negative",
                hint="Seconds the meeting-completed HIT waits for a no-show mark; 0 sends at once.",
                id="notifications.E002",
            )
        )
    return problems
