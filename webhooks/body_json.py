"""Stored webhook bodies read as JSON for people (admin detail, API detail).

A stored row is whatever reached the endpoint, so the reading must survive any of it: bodies
nested thousands of levels deep, `NaN`/`Infinity` or numbers too large for a float. Those are
not JSON a reader can be shown as parsed; callers show the raw text instead.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Cal.com bodies nest a handful of levels; far more only comes from junk, and printing or
# rendering it recursively would exhaust the stack.
MAX_DEPTH = 64


def parse_body_json(*, text: str) -> Any:
    """The parsed JSON value of `text`, or ValueError when it is not strict, finite JSON of at
    most MAX_DEPTH levels."""
    if _max_depth(text=text) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as exc:  # a depth the scan above missed must not become a 500
        raise ValueError("nested too deeply") from exc


def _max_depth(*, text: str) -> int:
    """Bracket nesting outside strings, without recursion (an upper bound for invalid text)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} does not fit a float")
    return value
