"""One Redis pub/sub connection whose (un)subscribe calls return once Redis confirmed them.

Every network step is bounded by a timeout, and redis-py's own reconnect-and-resubscribe
is switched off: it would skip the hub's resync (and its `Gap`), so every failure surfaces
as an exception and the hub replaces the whole link.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class LinkLost(Exception):
    """The subscription connection is known to be dead; the hub replaces it."""


# Everything that means "Redis is unreachable or misbehaving" rather than a bug of ours.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
LINK_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, LinkLost)

OnMessage = Callable[[str, bytes], None]


class Link:
    def __init__(self, url: str, timeout: float, poll: float) -> None:
        self._timeout = timeout
        self._poll = poll
        self._client = Redis.from_url(
            url,
            max_connections=1,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=0,
            retry=Retry(NoBackoff(), 0, supported_errors=()),
        )
        self._pubsub = self._client.pubsub()
        self._ack: tuple[str, str, asyncio.Future[None]] | None = None
        self._failed: str | None = None
        self.proven = False  # a heartbeat echo came through it

    async def open(self, channels: Collection[str], on_message: OnMessage) -> None:
        """Connect and subscribe `channels`, returning once Redis confirmed every one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        waiting = set(channels)
        if waiting:
            await self._pubsub.subscribe(*waiting)
        while waiting:
            if loop.time() > deadline:
                raise TimeoutError(f"Redis did not confirm {len(waiting)} subscriptions")
            message = await self._pubsub.get_message(timeout=self._poll)
            if message is None:
                continue
            if message["type"] == "subscribe":
                waiting.discard(_channel_of(message))
            elif message["type"] == "message":
                on_message(_channel_of(message), message["data"])

    async def subscribe(self, channel: str) -> None:
        await self._confirmed("subscribe", channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._confirmed("unsubscribe", channel)

    async def _confirmed(self, kind: str, channel: str) -> None:
        # Callers serialize these (the hub's lock), so one pending ack is unambiguous.
        if self._failed is not None:
            raise LinkLost(self._failed)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ack = (kind, channel, ack)
        try:
            # Sends are bounded by the socket timeout. The confirmation is awaited with
            # asyncio.wait, not a cancelling timeout: on Python 3.11 redis-py's send
            # (asyncio.wait_for) can swallow a cancellation, which would disarm the timeout.
            if kind == "subscribe":
                await self._pubsub.subscribe(channel)
            else:
                await self._pubsub.unsubscribe(channel)
            await asyncio.wait([ack], timeout=self._timeout)
            if not ack.done():
                raise TimeoutError(f"Redis did not confirm {kind} {channel!r}")
            ack.result()
            if self._failed is not None:
                raise LinkLost(self._failed)
        finally:
            self._ack = None

    async def read(self, on_message: OnMessage) -> bool:
        """Deliver at most one message; False when the connection stayed idle for a poll."""
        message = await self._pubsub.get_message(timeout=self._poll)
        if message is None:
            return False
        kind: str = message["type"]
        if kind == "message":
            on_message(_channel_of(message), message["data"])
        elif (ack := self._ack) is not None and ack[:2] == (kind, _channel_of(message)):
            if not ack[2].done():
                ack[2].set_result(None)
        return True

    def fail(self, reason: str) -> None:
        """Mark the link dead and wake a pending (un)subscribe with `LinkLost`."""
        self._failed = self._failed or reason
        ack = self._ack
        if ack is not None and not ack[2].done():
            ack[2].set_exception(LinkLost(reason))

    async def close(self) -> None:
        self.fail("link closed")
        try:
            async with asyncio.timeout(self._timeout):
                await self._pubsub.aclose()
                await self._client.aclose()
        except REDIS_ERRORS as exc:
            log.debug("closing the Redis subscription connection failed: %s", describe(exc))


def describe(exc: BaseException) -> str:
    """redis-py 8 errors repr as just their category ("network:ConnectionError")."""
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _channel_of(message: dict[str, Any]) -> str:
    channel: bytes = message["channel"]
    return channel.decode()
