"""The bounded buffer behind every subscriber, and its one overflow policy.

A consumer that falls `capacity` items behind has lost the thread: everything queued, and the
incoming item, are dropped at once and the consumer resyncs from current state (a course card
re-reads it; an event stream ends with RESYNC_REQUIRED). Dropping only the oldest would hand it
a history with a hole it cannot see. The hub's per-subscriber inboxes and a shared feed's
per-socket backlog both use it.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

# Per subscriber: hundreds of events behind is a consumer that is not coming back soon.
BUFFER_SIZE = 256


class BoundedBuffer(Generic[T]):
    __slots__ = ("_capacity", "_items")

    def __init__(self, capacity: int = BUFFER_SIZE) -> None:
        if capacity < 1:
            raise ValueError("a buffer's capacity must be at least 1")
        self._capacity = capacity
        self._items: deque[T] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def last(self) -> T | None:
        return self._items[-1] if self._items else None

    def offer(self, item: T) -> list[T] | None:
        """Queue `item`; None when it fit. When full, empties the buffer instead and returns what it
        held: the consumer must resync (`item` is dropped too)."""
        if len(self._items) >= self._capacity:
            dropped = list(self._items)
            self._items.clear()
            return dropped
        self._items.append(item)
        return None

    def append_final(self, item: T) -> None:
        """Queue what ends the consumer (an error, a `complete`) whatever the bound: at most two
        items past it, and nothing follows them."""
        self._items.append(item)

    def popleft(self) -> T:
        return self._items.popleft()

    def clear(self) -> None:
        self._items.clear()
