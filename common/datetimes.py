"""Datetimes that came from outside (query strings, cursors) and must reach the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_date, parse_datetime

# PostgreSQL refuses UTC offsets beyond ±15:59:59 ("time zone displacement out of range").
_MAX_UTC_OFFSET = timedelta(hours=15, minutes=59, seconds=59)


def storable_moment(value: datetime) -> bool:
    """Whether every supported database can compare with this datetime: its UTC value lies in
    years 1-9999 (SQLite stores UTC) and its offset is one PostgreSQL accepts."""
    offset = value.utcoffset()
    if offset is None:
        return True
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return abs(offset) <= _MAX_UTC_OFFSET


def parse_iso_moment(text: str) -> datetime | None:
    """An ISO date-time, or a date (its midnight), from an operator's command line; a naive one
    is UTC. None when the text is neither."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            return None
        moment = datetime.combine(day, datetime.min.time())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
