"""Fan-out of opaque payloads between processes through Redis pub/sub.

One subscription connection per process carries every channel, reference-counted by
local subscribers. A supervised reader reconnects with backoff and pushes a `Gap` to every
subscriber after resubscribing; a heartbeat through Redis itself catches connections that
silently stop passing traffic, which redis-py does not notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from realtime.link import LINK_ERRORS, REDIS_ERRORS, Link, LinkLost, publisher_client
from realtime.subscription import RECONNECTED, Subscription
from realtime.supervise import full_jitter, supervise

log = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "enrollwire:hb:"


@dataclass(frozen=True, slots=True)
class HubStats:
    channels: int  # subscribed in Redis, not counting the hub's own heartbeat channel
    subscribers: int
    published: int
    received: int
    dropped: int
    publish_failures: int
    reconnects: int


class Hub:
    def __init__(
        self,
        redis_url: str,
        *,
        buffer_size: int = 256,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 3.0,
        reconnect_base: float = 0.1,
        reconnect_cap: float = 5.0,
    ) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        if not 0 < heartbeat_interval < heartbeat_timeout:
            raise ValueError("need 0 < heartbeat_interval < heartbeat_timeout")
        if not 0 < reconnect_base <= reconnect_cap:
            raise ValueError("need 0 < reconnect_base <= reconnect_cap")
        self._url = redis_url
        self._buffer_size = buffer_size
        self._hb_interval = heartbeat_interval
        self._hb_timeout = heartbeat_timeout
        self._base, self._cap = reconnect_base, reconnect_cap
        # One bound for every network step: a Redis slower than the heartbeat deadline
        # counts as dead anyway.
        self._timeout = heartbeat_timeout
        self._poll = min(0.5, heartbeat_interval / 2)
        self._hb_channel = f"{HEARTBEAT_PREFIX}{uuid.uuid4().hex}"

        self._subs: dict[str, set[Subscription]] = {}
        self._redis_channels: set[str] = set()
        self._lock = asyncio.Lock()  # held while Redis and `_redis_channels` may disagree
        self._link: Link | None = None
        self._lost: str | None = "not connected yet"
        self._healthy = False
        self._last_echo = 0.0
        self._hb_kick = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._publisher: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._syncs: set[asyncio.Task[None]] = set()
        self._started = self._stopped = self._connected_before = False
        self._publish_failing = False
        self._published = self._received = self._dropped = 0
        self._publish_failures = self._reconnects = 0

    @property
    def healthy(self) -> bool:
        return self._healthy

    def stats(self) -> HubStats:
        return HubStats(
            channels=len(self._redis_channels),
            subscribers=sum(len(subs) for subs in self._subs.values()),
            published=self._published,
            received=self._received,
            dropped=self._dropped,
            publish_failures=self._publish_failures,
            reconnects=self._reconnects,
        )

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("Hub.start() may be called once")
        self._started = True
        self._publisher = publisher_client(self._url, self._timeout)
        backoff = {"base": self._base, "cap": self._cap}
        self._tasks = [
            asyncio.create_task(supervise("hub reader", self._read_forever, **backoff)),
            asyncio.create_task(supervise("hub heartbeat", self._heartbeat_forever, **backoff)),
        ]
        # Subscriptions made right after start() then go straight to Redis; if Redis is
        # down the reader keeps retrying in the background and `healthy` stays False.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3 * self._timeout):
                await self._first_attempt.wait()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for subs in self._subs.values():
            for sub in subs:
                sub.close()
        pending = [*self._tasks, *self._syncs]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._drop_link("hub stopped")
        if self._publisher is not None:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._publisher.aclose()

    async def publish(self, channel: str, payload: bytes) -> bool:
        if self._publisher is None:
            raise RuntimeError("Hub.publish() before Hub.start()")
        if self._stopped:
            return self._publish_failed(channel, LinkLost("hub stopped"))
        try:
            async with asyncio.timeout(self._timeout):
                await self._publisher.publish(channel, payload)
        except REDIS_ERRORS as exc:
            return self._publish_failed(channel, exc)
        if self._publish_failing:
            self._publish_failing = False
            log.info("publishing to Redis works again")
        self._published += 1
        return True

    def _publish_failed(self, channel: str, exc: BaseException) -> bool:
        self._publish_failures += 1
        # One warning per outage, not one per event published during it.
        level = logging.DEBUG if self._publish_failing else logging.WARNING
        log.log(level, "publish to %r failed: %r", channel, exc)
        self._publish_failing = True
        return False

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(channel)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[Subscription]:
        sub = Subscription(channel, self._buffer_size)
        if self._stopped:
            sub.close()
        self._subs.setdefault(channel, set()).add(sub)
        try:
            await self._sync_channel(channel)
            yield sub
        finally:
            sub.close()
            subs = self._subs.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[channel]
            await self._sync_channel(channel)

    async def _sync_channel(self, channel: str) -> None:
        if self._stopped:
            return
        # Shielded: a consumer cancelled mid-SUBSCRIBE must not leave Redis disagreeing
        # with the refcounts; the task is bounded by the network timeout.
        task = asyncio.create_task(self._reconcile(channel))
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)
        await task

    async def _reconcile(self, channel: str) -> None:
        async with self._lock:
            link = self._link
            if link is None or self._lost is not None:
                return  # the next connection subscribes whatever has local subscribers then
            wanted = channel in self._subs
            if wanted == (channel in self._redis_channels):
                return
            try:
                if wanted:
                    await link.subscribe(channel)
                else:
                    await link.unsubscribe(channel)
            except LINK_ERRORS as exc:
                # Redis's view of this channel is unknown now: resync everything.
                self._mark_lost(f"(un)subscribe {channel!r} failed: {exc!r}")
                return
            if self._link is not link:
                return
            if wanted:
                self._redis_channels.add(channel)
            else:
                self._redis_channels.discard(channel)

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            try:
                link = await self._connect()
            except LINK_ERRORS as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "Redis subscription connect failed (try %d): %r", failures, exc)
            else:
                try:
                    await self._pump(link)
                except LINK_ERRORS as exc:
                    log.warning("Redis subscription connection lost: %r", exc)
                finally:
                    await self._drop_link("reader stopped")
                # A link that never carried an echo keeps backing off: Redis may be flapping.
                failures = 1 if link.proven else failures + 1
            self._first_attempt.set()
            await asyncio.sleep(full_jitter(failures, self._base, self._cap))

    async def _connect(self) -> Link:
        link = Link(self._url, self._timeout, self._poll)
        try:
            async with asyncio.timeout(2 * self._timeout), self._lock:
                channels = list(self._subs)
                await link.open([self._hb_channel, *channels], self._deliver)
                self._link, self._lost = link, None
                self._redis_channels = set(channels)
        except BaseException:
            await link.close()
            raise
        if self._connected_before:
            self._reconnects += 1
        self._connected_before = True
        self._first_attempt.set()
        self._last_echo = asyncio.get_running_loop().time()
        self._hb_kick.set()
        for subs in self._subs.values():
            for sub in subs:
                self._dropped += sub.push_gap(RECONNECTED)
        return link

    async def _pump(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._lost is not None:
                raise LinkLost(self._lost)
            # Judged only after a whole idle poll, so an echo queued behind a backlog of
            # messages is not mistaken for a dead connection.
            if not await link.read(self._deliver) and (loop.time() - self._last_echo > self._hb_timeout):
                raise LinkLost(f"no heartbeat echo for {self._hb_timeout}s")

    def _deliver(self, channel: str, payload: bytes) -> None:
        if channel == self._hb_channel:
            self._on_echo()
            return
        self._received += 1
        for sub in self._subs.get(channel, ()):
            self._dropped += sub.push(payload)

    def _on_echo(self) -> None:
        self._last_echo = asyncio.get_running_loop().time()
        link = self._link
        if link is None or self._lost is not None:
            return
        link.proven = True
        if not self._healthy:
            self._healthy = True
            log.info("Redis subscription connection is healthy")

    async def _heartbeat_forever(self) -> None:
        assert self._publisher is not None
        while True:
            self._hb_kick.clear()
            try:
                async with asyncio.timeout(self._timeout):
                    await self._publisher.publish(self._hb_channel, b"")
            except REDIS_ERRORS as exc:
                log.debug("heartbeat publish failed: %r", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._hb_interval):
                    await self._hb_kick.wait()

    def _mark_lost(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
        self._healthy = False
        if self._link is not None:
            self._link.fail(reason)

    async def _drop_link(self, reason: str) -> None:
        self._mark_lost(reason)
        link, self._link = self._link, None
        self._redis_channels.clear()
        if link is not None:
            await link.close()
