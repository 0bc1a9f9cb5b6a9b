"""The one exponential backoff: how long to wait before a retry.

Used by the webhook processing retries, the HIT notification retries and the Cal.com API
client; each passes its own base, cap and whether to add jitter.
"""

from __future__ import annotations

import random

# 2**32 times any sane base is already centuries; a larger exponent only risks overflow.
_MAX_EXPONENT = 32


def backoff_seconds(*, retry: int, base: float, cap: float | None = None, jitter: bool = True) -> float:
    """Seconds to wait before retry number `retry` (0-based: 0 is the first retry).

    `base * 2**retry`, at most `cap`. With jitter the upper half of that is random ("equal
    jitter"), so clients or events that failed together do not retry in step.
    """
    ceiling = base * 2 ** min(max(retry, 0), _MAX_EXPONENT)
    if cap is not None:
        ceiling = min(ceiling, cap)
    if not jitter:
        return ceiling
    return ceiling / 2 + random.uniform(0, ceiling / 2)
