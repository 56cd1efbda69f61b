"""Supervised background work: nothing that should keep running ever stops silently.

- `every` runs one step on an interval; a failing step is logged and tried again next time.
- `supervise` runs a long-lived body and restarts it, with backoff, whenever it crashes or returns.
- `Supervisor` owns a process's long-running tasks: one that ends on its own is logged loudly,
  `stop` cancels them all once and waits for them (a stopping task may finish a write first).
- `cancel_and_wait` stops tasks that may swallow a cancellation (redis-py), cancelling again.

The hub, the job runner and the app's sweeps all use these; the backoff is `domain.backoff`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from domain.backoff import full_jitter

log = logging.getLogger(__name__)


async def every(interval: float, name: str, step: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background step %s failed; retrying in %.1fs", name, interval)
        await asyncio.sleep(interval)


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
        await asyncio.sleep(full_jitter(crashes, base, cap, random.uniform))


class Supervisor:
    """Owns long-running tasks; a task that ends on its own is logged loudly."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._finished)
        self._tasks.add(task)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        log.critical("background task %s stopped: %r", task.get_name(), error, exc_info=error)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
