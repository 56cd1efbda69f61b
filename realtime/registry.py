"""Local subscribers per channel, and the channels Redis has been asked to send us."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from realtime.inbox import Gap, Inbox
from realtime.link import Link


class SubscriberRegistry:
    """Reference counts of local subscribers, mirrored into Redis one channel at a time.

    Redis-side changes happen only under `lock`, so once it is free, the channels
    subscribed in Redis are exactly those with local subscribers (while connected).
    """

    def __init__(self, buffer_size: int) -> None:
        self.lock = asyncio.Lock()
        self.received = 0
        self.dropped = 0
        self._buffer_size = buffer_size
        self._subs: dict[str, set[Inbox]] = {}
        self._in_redis: set[str] = set()

    @property
    def in_redis(self) -> int:
        return len(self._in_redis)

    @property
    def subscribers(self) -> int:
        return sum(len(subs) for subs in self._subs.values())

    def is_in_redis(self, channel: str) -> bool:
        return channel in self._in_redis

    def wanted(self) -> list[str]:
        return list(self._subs)

    def attach(self, channel: str) -> Inbox:
        sub = Inbox(channel, self._buffer_size)
        self._subs.setdefault(channel, set()).add(sub)
        return sub

    def detach(self, sub: Inbox) -> None:
        sub.close()
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]

    async def reconcile(self, channel: str, link: Link) -> None:
        """Make Redis match the local refcount of `channel`. Call with `lock` held."""
        wanted = channel in self._subs
        if wanted == (channel in self._in_redis):
            return
        if wanted:
            await link.subscribe(channel)
            self._in_redis.add(channel)
        else:
            await link.unsubscribe(channel)
            self._in_redis.discard(channel)

    def resubscribed(self, channels: Iterable[str]) -> None:
        self._in_redis = set(channels)

    def disconnected(self) -> None:
        self._in_redis.clear()

    def fan_out(self, channel: str, payload: bytes) -> None:
        self.received += 1
        for sub in self._subs.get(channel, ()):
            self.dropped += sub.push(payload)

    def gap_everyone(self, gap: Gap) -> None:
        for subs in self._subs.values():
            for sub in subs:
                self.dropped += sub.push_gap(gap)

    def close_everyone(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.close()
