"""The PUBLISH side of the hub: a small pool of its own, bounded, never raising for Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime.link import REDIS_ERRORS, describe

log = logging.getLogger(__name__)

POOL_SIZE = 16


class RedisPublisher:
    def __init__(self, url: str, timeout: float) -> None:
        self.published = 0
        self.failures = 0
        self._timeout = timeout
        self._failing = False
        self._closed = False
        # One retry on a connection error recovers a pooled connection that died with a
        # Redis restart; timeouts are not retried, so a black-holed server costs one timeout.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._client = Redis.from_pool(pool)

    async def publish(self, channel: str, payload: bytes) -> bool:
        return await self.publish_many((channel,), payload)

    async def publish_many(self, channels: Sequence[str], payload: bytes) -> bool:
        """One payload to several channels in one round trip (a pipeline, not a transaction)."""
        where = ", ".join(map(repr, channels))
        if self._closed:
            return self._failed(where, "the hub is stopped")
        try:
            async with asyncio.timeout(self._timeout):
                if len(channels) == 1:
                    await self._client.publish(channels[0], payload)
                else:
                    pipe = self._client.pipeline(transaction=False)
                    for channel in channels:
                        pipe.publish(channel, payload)
                    await pipe.execute()
        except REDIS_ERRORS as exc:
            return self._failed(where, describe(exc))
        if self._failing:
            self._failing = False
            log.info("publishing to Redis works again")
        self.published += len(channels)
        return True

    def _failed(self, where: str, why: str) -> bool:
        self.failures += 1
        # One warning per outage, not one per event published during it.
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "publish to %s failed: %s", where, why)
        self._failing = True
        return False

    async def heartbeat(self, channel: str) -> None:
        """Publish an empty message, uncounted: the hub's own liveness probe."""
        try:
            await self._send(channel, b"")
        except REDIS_ERRORS as exc:
            log.debug("heartbeat publish failed: %s", describe(exc))

    async def aclose(self) -> None:
        self._closed = True
        with contextlib.suppress(*REDIS_ERRORS):
            await self._client.aclose()

    async def _send(self, channel: str, payload: bytes) -> None:
        async with asyncio.timeout(self._timeout):
            await self._client.publish(channel, payload)
