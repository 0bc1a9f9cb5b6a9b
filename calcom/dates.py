"""The one parser for the dates and times Cal.com sends (webhook bodies and API answers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_datetime(value: Any) -> datetime | None:
    """Any ISO-8601 form Cal.com sends, as an aware UTC datetime; None when absent or invalid.

    Cal.com writes `Z`, `+00:00` and `.000Z` forms; a moment without an offset is UTC.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # Year 1 at +23:59 or year 9999 at -23:59 has no UTC moment (OverflowError).
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
