"""Group commit: callers that arrive while a batch is being written go together in the next one.

An idle process writes a caller's item at once, alone; under load, the items that queued during
one batch's round trips share the next batch's. Each caller still waits until its own item is
written, so nothing a caller relies on after `submit` returns has changed. Fewer, larger writes
cost the database less per item (one command, one retryable-write record, one commit), which is
what a store that serializes writes per collection needs most.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Enough to share a batch among every request a process serves at once, small enough that one
# batch's bulk write stays one modest command.
DEFAULT_LIMIT = 64


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], Awaitable[None]], limit: int = DEFAULT_LIMIT) -> None:
        self._write = write
        self._limit = limit
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once `item` is written; raise what writing it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="group commit")
        await done

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._limit], self._waiting[self._limit :]
                await self._commit(batch)
                batch = []
        except BaseException:
            # Cancelled (the process is stopping): nobody may wait forever for a batch that will
            # not be written. What was not written stays in the store's outbox for the sweep.
            for _, done in batch + self._waiting:
                done.cancel()
            self._waiting = []
            raise

    async def _commit(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            await self._write([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error)
                return
            # One item's failure must not fail the others: each is written again on its own, and
            # only one that fails again reports it.
            log.warning("a grouped write failed; writing its items one by one", exc_info=True)
            for entry in batch:
                await self._commit([entry])
            return
        for _, done in batch:
            _settle(done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    # A caller that was cancelled while waiting no longer listens; its item was written anyway.
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
