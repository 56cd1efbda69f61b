"""Capped exponential backoff with full jitter: the one formula every retry here waits by.

Pure: the caller passes the random draw (`uniform`), so a test can pin it.
"""

from __future__ import annotations

from collections.abc import Callable

Uniform = Callable[[float, float], float]


def backoff_window(retry: int, base: float, cap: float) -> float:
    """Upper bound of the wait before retry number `retry` (1-based): base, 2 base, 4 base... up to cap."""
    # Past the cap the exponent only risks overflow.
    return min(cap, base * 2.0 ** min(retry - 1, 64))


def full_jitter(retry: int, base: float, cap: float, uniform: Uniform) -> float:
    """The wait before retry number `retry`: uniform in [0, backoff_window(retry, base, cap)]."""
    return uniform(0.0, backoff_window(retry, base, cap))
