"""Background loops that never die silently, and the backoff they retry with."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from typing import Any

log = logging.getLogger(__name__)


def full_jitter(attempt: int, base: float, cap: float) -> float:
    """Delay before retry number `attempt` (1-based): uniform in [0, min(cap, base * 2^(n-1))]."""
    return random.uniform(0.0, min(cap, base * 2 ** min(attempt - 1, 32)))


async def supervise(name: str, body: Callable[[], Awaitable[None]], *, base: float, cap: float) -> None:
    """Run `body` until cancelled, logging and restarting it whenever it crashes or returns."""
    crashes = 0
    while True:
        try:
            await body()
        except Exception:
            log.exception("%s crashed; restarting it", name)
        else:
            log.error("%s returned; restarting it", name)
        crashes += 1
        await asyncio.sleep(full_jitter(crashes, base, cap))


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one has ended.

    Cancelled again while still running: on Python 3.11 a cancellation can be swallowed
    inside redis-py (asyncio.wait_for completing at the same moment).
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s ended with an error", task.get_name(), exc_info=exc)
