"""Start a coroutine in the caller, and pay for a task only if it has to wait.

A socket write almost never waits: uvicorn's `send` awaits an `asyncio.Event` that is set
unless the peer's buffer is full. Running it in the caller writes a frame to a thousand
sockets without a thousand task wake-ups. Python 3.12 has this as `eager_start`; 3.11 does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Pending:
    """A coroutine that suspended: finish it with `finish()` (in a task)."""

    __slots__ = ("_awaiting", "_coro")

    def __init__(self, coro: Coroutine[Any, Any, Any], awaiting: Any) -> None:
        self._coro = coro
        self._awaiting = awaiting

    async def finish(self) -> Any:
        """Drives the coroutine on from where it suspended, as a task would."""
        coro, awaiting = self._coro, self._awaiting
        try:
            while True:
                if awaiting is None:  # a bare yield, as in `asyncio.sleep(0)`
                    await asyncio.sleep(0)
                else:
                    # The coroutine reads the future's result itself when resumed.
                    await asyncio.wait((awaiting,))
                try:
                    awaiting = coro.send(None)
                except StopIteration as done:
                    return done.value
        except BaseException:
            coro.close()  # runs its `finally` blocks (the event's waiter is removed)
            raise

    def close(self) -> None:
        self._coro.close()


def start(coro: Coroutine[Any, Any, T]) -> T | Pending:
    """Runs `coro` up to its first suspension: its result, or a `Pending` to finish."""
    try:
        awaiting = coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    return Pending(coro, awaiting)
