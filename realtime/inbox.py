"""One local subscriber's inbox: a bounded buffer fed by the hub's reader and drained by its consumer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from realtime.buffer import BoundedBuffer


class GapReason(StrEnum):
    RECONNECTED = "reconnected"
    OVERFLOW = "overflow"


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages may have been missed before this point: re-read the current state."""

    reason: GapReason


RECONNECTED = Gap(GapReason.RECONNECTED)
OVERFLOW = Gap(GapReason.OVERFLOW)


class Inbox:
    """Async iterator of `bytes | Gap` for one channel; ends when closed.

    The producer side (`push`, `push_gap`, `close`) never awaits, so the hub's reader
    is never held up by a consumer that is slow or gone.
    """

    def __init__(self, channel: str, buffer_size: int) -> None:
        self.channel = channel
        self._items: BoundedBuffer[bytes | Gap] = BoundedBuffer(buffer_size)
        self._wakeup = asyncio.Event()
        self._closed = False

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, payload: bytes) -> int:
        """Queue a payload; return how many payloads were dropped to stay bounded."""
        return self._append(payload)

    def push_gap(self, gap: Gap) -> int:
        if isinstance(self._items.last, Gap):
            # The queued gap already makes the consumer resync after everything before it.
            return 0
        return self._append(gap)

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._wakeup.set()

    def _append(self, item: bytes | Gap) -> int:
        if self._closed:
            return 0
        dropped = 0
        overflowed = self._items.offer(item)
        if overflowed is not None:
            # The consumer's resync after the gap reads state that already includes what was dropped.
            dropped = sum(1 for queued in overflowed if not isinstance(queued, Gap))
            dropped += 0 if isinstance(item, Gap) else 1
            self._items.offer(item if isinstance(item, Gap) else OVERFLOW)
        self._wakeup.set()
        return dropped

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> bytes | Gap:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()
