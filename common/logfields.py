"""Structured log lines: `what key=value …`, readable as text and as JSON (LOG_FORMAT=json)."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime

# A value with whitespace, a quote or `=` would be ambiguous bare: it is JSON-quoted.
_NEEDS_QUOTES = re.compile(r'[\s"=]')


def log_fields(*, logger: logging.Logger, level: int, what: str, **fields: object) -> None:
    """One log line: `what key=value …`, values with spaces JSON-quoted, empty ones as `-`.

    The fields also ride on the record (`extra`), so LOG_FORMAT=json emits them as JSON keys.
    """
    if not logger.isEnabledFor(level):
        return
    text = " ".join(f"{key}={_log_value(value)}" for key, value in fields.items())
    logger.log(level, "%s %s", what, text, extra=fields)


def _log_value(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _NEEDS_QUOTES.search(text):
        return json.dumps(text, ensure_ascii=False)
    return text
