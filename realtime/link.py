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

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class LinkLost(Exception):
    """The subscription connection is known to be dead; the hub replaces it."""


# Everything that means "Redis is unreachable or misbehaving" rather than a bug of ours.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
LINK_ERRORS: tuple[type[BaseException], ...] = (*REDIS_ERRORS, LinkLost)

PUBLISH_POOL_SIZE = 16

OnMessage = Callable[[str, bytes], None]


def publisher_client(url: str, timeout: float) -> Redis:
    # One retry on a connection error recovers a pooled connection that died with a
    # Redis restart; timeouts are not retried, so a black-holed server costs one timeout.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=PUBLISH_POOL_SIZE,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis.from_pool(pool)


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
        self.proven = False  # a heartbeat echo came through it

    async def open(self, channels: Collection[str], on_message: OnMessage) -> None:
        """Connect and subscribe `channels`, returning once Redis confirmed every one."""
        waiting = set(channels)
        if waiting:
            await self._pubsub.subscribe(*waiting)
        while waiting:
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
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ack = (kind, channel, ack)
        try:
            async with asyncio.timeout(self._timeout):
                if kind == "subscribe":
                    await self._pubsub.subscribe(channel)
                else:
                    await self._pubsub.unsubscribe(channel)
                await ack
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
        """Wake a pending (un)subscribe with `LinkLost`."""
        ack = self._ack
        if ack is not None and not ack[2].done():
            ack[2].set_exception(LinkLost(reason))

    async def close(self) -> None:
        self.fail("link closed")
        try:
            async with asyncio.timeout(self._timeout):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                await self._client.aclose()
        except REDIS_ERRORS as exc:
            log.debug("closing the Redis subscription connection failed: %r", exc)


def _channel_of(message: dict[str, Any]) -> str:
    channel: bytes = message["channel"]
    return channel.decode()
