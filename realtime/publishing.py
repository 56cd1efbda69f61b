"""The PUBLISH side of the hub: a small pool of its own, bounded, never raising for Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime.link import REDIS_ERRORS, describe

log = logging.getLogger(__name__)

POOL_SIZE = 16


class Publisher:
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
        if self._closed:
            return self._failed(channel, "the hub is stopped")
        try:
            await self._send(channel, payload)
        except REDIS_ERRORS as exc:
            return self._failed(channel, describe(exc))
        if self._failing:
            self._failing = False
            log.info("publishing to Redis works again")
        self.published += 1
        return True

    def _failed(self, channel: str, why: str) -> bool:
        self.failures += 1
        # One warning per outage, not one per event published during it.
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "publish to %r failed: %s", channel, why)
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
