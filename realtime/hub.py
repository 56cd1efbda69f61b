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
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from domain.backoff import full_jitter
from realtime.buffer import BUFFER_SIZE
from realtime.inbox import RECONNECTED, Inbox
from realtime.link import LINK_ERRORS, Link, LinkLost, describe
from realtime.redis_publisher import RedisPublisher
from realtime.registry import SubscriberRegistry
from realtime.supervise import cancel_and_wait, supervise

log = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "enrollwire:hb:"


@dataclass(frozen=True, slots=True)
class HubStats:
    # Neither counts the hub's own heartbeat channel nor the process's own listeners (`own=True`,
    # the course cache): these describe what clients hold.
    channels: int  # subscribed in Redis
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
        buffer_size: int = BUFFER_SIZE,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 3.0,
        reconnect_base: float = 0.1,
        reconnect_cap: float = 5.0,
    ) -> None:
        if not 0 < heartbeat_interval < heartbeat_timeout:
            raise ValueError("need 0 < heartbeat_interval < heartbeat_timeout")
        if not 0 < reconnect_base <= reconnect_cap:
            raise ValueError("need 0 < reconnect_base <= reconnect_cap")
        self._url = redis_url
        self._channels = SubscriberRegistry(buffer_size)
        self._hb_interval = heartbeat_interval
        self._hb_timeout = heartbeat_timeout
        self._base, self._cap = reconnect_base, reconnect_cap
        # One bound for every network step: a Redis slower than the heartbeat deadline
        # counts as dead anyway.
        self._timeout = heartbeat_timeout
        self._poll = min(0.5, heartbeat_interval / 2)
        self._hb_channel = f"{HEARTBEAT_PREFIX}{uuid.uuid4().hex}"

        self._link: Link | None = None
        self._lost: str | None = "not connected yet"
        self._healthy = False
        # When the oldest heartbeat still without its echo was sent: judging silence from the
        # send, not from the last echo, keeps a saturated event loop (which sends late) from
        # passing for a dead Redis.
        self._unanswered_since: float | None = None
        self._hb_kick = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._publisher: RedisPublisher | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._syncs: set[asyncio.Task[None]] = set()
        self._started = self._stopped = self._connected_before = False
        self._reconnects = 0
        self._own: Counter[str] = Counter()  # the process's own listeners, by channel

    @property
    def healthy(self) -> bool:
        return self._healthy

    def stats(self) -> HubStats:
        publisher = self._publisher
        own_in_redis = sum(1 for channel in self._own if self._channels.is_in_redis(channel))
        return HubStats(
            channels=self._channels.in_redis - own_in_redis,
            subscribers=self._channels.subscribers - self._own.total(),
            published=publisher.published if publisher else 0,
            received=self._channels.received,
            dropped=self._channels.dropped,
            publish_failures=publisher.failures if publisher else 0,
            reconnects=self._reconnects,
        )

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("Hub.start() may be called once")
        self._started = True
        self._publisher = RedisPublisher(self._url, self._timeout)
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
        self._channels.close_everyone()
        await cancel_and_wait([*self._tasks, *self._syncs])
        await self._drop_link("hub stopped")
        if self._publisher is not None:
            await self._publisher.aclose()

    async def publish(self, channel: str, payload: bytes) -> bool:
        if self._publisher is None:
            raise RuntimeError("Hub.publish() before Hub.start()")
        return await self._publisher.publish(channel, payload)

    async def publish_many(self, channels: Sequence[str], payload: bytes) -> bool:
        if self._publisher is None:
            raise RuntimeError("Hub.publish_many() before Hub.start()")
        return await self._publisher.publish_many(channels, payload)

    def subscribe(self, channel: str, *, own: bool = False) -> AbstractAsyncContextManager[Inbox]:
        """`own`: a listener of this process, not a client's (left out of `stats`)."""
        return self._subscription(channel, own)

    @asynccontextmanager
    async def _subscription(self, channel: str, own: bool) -> AsyncIterator[Inbox]:
        sub = self._channels.attach(channel)
        if own:
            self._own[channel] += 1
        if self._stopped:
            sub.close()
        try:
            await self._sync_channel(channel)
            yield sub
        finally:
            self._channels.detach(sub)
            if own:
                self._own[channel] -= 1
                if not self._own[channel]:
                    del self._own[channel]
            await self._sync_channel(channel)

    async def _sync_channel(self, channel: str) -> None:
        if self._stopped:
            return
        # Shielded: a consumer cancelled mid-SUBSCRIBE must not leave Redis disagreeing
        # with the refcounts; the task is bounded by the network timeout.
        task = asyncio.create_task(self._reconcile(channel))
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)
        await asyncio.shield(task)

    async def _reconcile(self, channel: str) -> None:
        async with self._channels.lock:
            link = self._link
            if link is None or self._lost is not None:
                return  # the next connection subscribes whatever has local subscribers then
            try:
                await self._channels.reconcile(channel, link)
            except LINK_ERRORS as exc:
                # Redis's view of this channel is unknown now: resync everything.
                self._mark_lost(f"(un)subscribe {channel!r} failed: {describe(exc)}")

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            try:
                link = await self._connect()
            except LINK_ERRORS as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "Redis subscription connect failed (try %d): %s", failures, describe(exc))
            else:
                try:
                    await self._pump(link)
                except LINK_ERRORS as exc:
                    log.warning("Redis subscription connection lost: %s", describe(exc))
                finally:
                    await self._drop_link("reader stopped")
                # A link that never carried an echo keeps backing off: Redis may be flapping.
                failures = 1 if link.proven else failures + 1
            self._first_attempt.set()
            await asyncio.sleep(full_jitter(failures, self._base, self._cap, random.uniform))

    async def _connect(self) -> Link:
        link = Link(self._url, self._timeout, self._poll)
        try:
            async with asyncio.timeout(2 * self._timeout), self._channels.lock:
                channels = self._channels.wanted()
                await link.open([self._hb_channel, *channels], self._deliver)
                self._link, self._lost = link, None
                self._channels.resubscribed(channels)
        except BaseException:
            await link.close()
            raise
        if self._connected_before:
            self._reconnects += 1
        self._connected_before = True
        self._first_attempt.set()
        self._unanswered_since = None
        self._hb_kick.set()
        self._channels.gap_everyone(RECONNECTED)
        return link

    async def _pump(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._lost is not None:
                raise LinkLost(self._lost)
            # Judged only after a whole idle poll, so an echo queued behind a backlog of
            # messages is not mistaken for a dead connection; and not after a poll that took
            # far longer than asked, since then it was this process that could not read.
            started = loop.time()
            idle = not await link.read(self._deliver)
            now = loop.time()
            if idle and now - started < 2 * self._poll and self._silent_for(now) > self._hb_timeout:
                raise LinkLost(f"no heartbeat echo for {self._hb_timeout}s")

    def _silent_for(self, now: float) -> float:
        since = self._unanswered_since
        return 0.0 if since is None else now - since

    def _deliver(self, channel: str, payload: bytes) -> None:
        if channel == self._hb_channel:
            self._on_echo()
        else:
            self._channels.fan_out(channel, payload)

    def _on_echo(self) -> None:
        self._unanswered_since = None
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
            if self._unanswered_since is None:
                self._unanswered_since = asyncio.get_running_loop().time()
            await self._publisher.heartbeat(self._hb_channel)
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
        self._channels.disconnected()
        if link is not None:
            await link.close()
