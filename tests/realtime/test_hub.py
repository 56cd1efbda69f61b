"""The hub against real Redis servers: fan-out, refcounts, bounded buffers, outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis

from realtime.inbox import Gap, GapReason, Inbox
from sandbox.embedded import HOST, ManagedServer, free_port, start_redis
from tests.proxy import HoldingProxy
from tests.realtime.conftest import HubFactory

log = logging.getLogger(__name__)

RECONNECTED = Gap(GapReason.RECONNECTED)
OVERFLOW = Gap(GapReason.OVERFLOW)


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        # `healthy` and `stats()` are polled properties (for /readyz), not events.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def next_item(events: Inbox, within: float = 5.0) -> bytes | Gap:
    async with asyncio.timeout(within):
        return await anext(events)


async def redis_channels(plain_redis: Redis, channel_prefix: str) -> list[bytes | str]:
    return await plain_redis.pubsub_channels(f"{channel_prefix}*")


async def test_round_trip_hands_every_local_subscriber_the_same_bytes(
    hubs: HubFactory, redis_server: ManagedServer, channel_prefix: str
) -> None:
    hub = await hubs(redis_server.url)
    channel = channel_prefix + "course"
    async with hub.subscribe(channel) as first, hub.subscribe(channel) as second:
        await until(lambda: hub.healthy)
        assert hub.stats().received == 0  # heartbeat echoes are not messages

        assert await hub.publish(channel, b"payload")

        got_first, got_second = await next_item(first), await next_item(second)
        assert got_first == b"payload"
        assert got_second is got_first
        assert hub.stats().received == 1


async def test_message_crosses_from_one_process_to_another(
    hubs: HubFactory, redis_server: ManagedServer, channel_prefix: str
) -> None:
    publisher, subscriber = await hubs(redis_server.url), await hubs(redis_server.url)
    channel = channel_prefix + "user:alice"
    async with subscriber.subscribe(channel) as events:
        assert await publisher.publish(channel, b"from another process")

        assert await next_item(events) == b"from another process"
    assert publisher.stats().published == 1
    assert subscriber.stats().received == 1


async def test_fifty_concurrent_subscribers_share_one_redis_subscription(
    hubs: HubFactory, redis_server: ManagedServer, plain_redis: Redis, channel_prefix: str
) -> None:
    hub = await hubs(redis_server.url)
    channel = channel_prefix + "course"
    everyone_in = asyncio.Barrier(51)

    async def tab() -> bytes | Gap:
        async with hub.subscribe(channel) as events:
            await everyone_in.wait()
            return await next_item(events)

    tabs = [asyncio.create_task(tab()) for _ in range(50)]
    async with asyncio.timeout(10):
        await everyone_in.wait()
    assert (hub.stats().channels, hub.stats().subscribers) == (1, 50)
    assert await plain_redis.pubsub_numsub(channel) == [(channel.encode(), 1)]

    assert await hub.publish(channel, b"seat taken")

    async with asyncio.timeout(10):
        received = await asyncio.gather(*tabs)
    assert received == [b"seat taken"] * 50
    assert (hub.stats().channels, hub.stats().subscribers) == (0, 0)
    assert await redis_channels(plain_redis, channel_prefix) == []


async def test_thousand_subscribe_cycles_leave_nothing_behind(
    hubs: HubFactory, redis_server: ManagedServer, plain_redis: Redis, channel_prefix: str
) -> None:
    hub = await hubs(redis_server.url)
    for i in range(1000):
        async with hub.subscribe(f"{channel_prefix}{i % 7}"):
            pass

    async def cycle(i: int) -> None:
        async with hub.subscribe(f"{channel_prefix}{i % 7}"):
            await asyncio.sleep(0)

    async with asyncio.timeout(30):
        await asyncio.gather(*(cycle(i) for i in range(1000)))

    assert (hub.stats().channels, hub.stats().subscribers) == (0, 0)
    assert await redis_channels(plain_redis, channel_prefix) == []
    assert hub.healthy


async def test_subscribers_cancelled_mid_subscribe_leave_nothing_behind(
    hubs: HubFactory, redis_server: ManagedServer, plain_redis: Redis, channel_prefix: str
) -> None:
    hub = await hubs(redis_server.url)
    channels = [f"{channel_prefix}{i}" for i in range(5)]

    async def tab(i: int) -> None:
        async with hub.subscribe(channels[i % 5]) as events:
            await anext(events)

    tabs = [asyncio.create_task(tab(i)) for i in range(200)]
    for task in tabs:  # one loop turn apart, so each is cancelled at a different point
        task.cancel()
        await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await asyncio.gather(*tabs, return_exceptions=True)
    # Bookkeeping queues on one FIFO lock: one more round per channel runs after the rest.
    for channel in channels:
        async with hub.subscribe(channel):
            pass

    assert (hub.stats().channels, hub.stats().subscribers) == (0, 0)
    assert await redis_channels(plain_redis, channel_prefix) == []


async def test_slow_subscriber_stays_bounded_and_never_delays_a_reader(
    hubs: HubFactory, redis_server: ManagedServer, channel_prefix: str
) -> None:
    hub = await hubs(redis_server.url, buffer_size=256)
    channel = channel_prefix + "admin"
    count = 10_000
    async with hub.subscribe(channel) as slow, hub.subscribe(channel) as fast:
        received: list[bytes | Gap] = []

        async def read_all() -> None:
            while len(received) < count:
                received.append(await anext(fast))

        reader = asyncio.create_task(read_all())
        started = time.monotonic()
        for i in range(count):
            assert await hub.publish(channel, b"%d" % i)
            assert slow.pending <= 256
        async with asyncio.timeout(30):
            await reader
        log.info("10,000 messages published and read in %.2fs", time.monotonic() - started)

        assert received == [b"%d" % i for i in range(count)]
        assert await next_item(slow) == OVERFLOW
        still_buffered = slow.pending
        assert still_buffered < 256
        assert hub.stats().dropped + still_buffered == count


async def test_redis_restart_resyncs_open_subscriptions(
    hubs: HubFactory, own_redis: ManagedServer, channel_prefix: str
) -> None:
    hub = await hubs(own_redis.url, heartbeat_interval=0.2, heartbeat_timeout=1.0)
    channel = channel_prefix + "course"
    async with hub.subscribe(channel) as events:
        await until(lambda: hub.healthy)
        waiting = asyncio.create_task(next_item(events, within=30))

        own_redis.kill()
        await until(lambda: not hub.healthy)
        assert not waiting.done()  # the subscription stays open through the outage

        own_redis.start()
        assert await waiting == RECONNECTED
        await until(lambda: hub.healthy)
        assert await hub.publish(channel, b"after restart")
        assert await next_item(events) == b"after restart"

    assert hub.stats().reconnects == 1
    assert hub.stats().channels == 0


async def test_publish_while_redis_is_down_returns_false(hubs: HubFactory, channel_prefix: str) -> None:
    port = free_port()
    hub = await hubs(f"redis://127.0.0.1:{port}/0", heartbeat_interval=0.2, heartbeat_timeout=1.0)
    channel = channel_prefix + "course"
    assert not hub.healthy

    assert await hub.publish(channel, b"lost") is False
    assert hub.stats().publish_failures == 1

    async with hub.subscribe(channel) as events:  # subscribing during an outage works too
        server = start_redis(port=port)
        try:
            assert await next_item(events, within=30) == RECONNECTED
            assert await hub.publish(channel, b"now it works")
            assert await next_item(events) == b"now it works"
        finally:
            server.stop()


async def test_black_holed_connection_is_detected_and_resynced(
    black_hole: HoldingProxy, hubs: HubFactory, redis_server: ManagedServer, channel_prefix: str
) -> None:
    hub = await hubs(
        f"redis://{HOST}:{black_hole.port}/0",
        heartbeat_interval=0.5,
        heartbeat_timeout=2.0,
        reconnect_cap=1.0,
    )
    direct = await hubs(redis_server.url)
    channel = channel_prefix + "course"
    async with hub.subscribe(channel) as events:
        await until(lambda: hub.healthy)

        black_hole.hold()
        blocked_at = time.monotonic()
        assert await direct.publish(channel, b"lost in the black hole")
        await until(lambda: not hub.healthy, within=10)
        detected_at = time.monotonic()

        black_hole.let_go()
        unblocked_at = time.monotonic()
        assert await next_item(events, within=30) == RECONNECTED
        resynced_at = time.monotonic()
        await until(lambda: hub.healthy)
        assert await direct.publish(channel, b"after the black hole")
        assert await next_item(events) == b"after the black hole"

    log.info(
        "black hole: unhealthy after %.2fs; resubscribed %.2fs after forwarding resumed",
        detected_at - blocked_at,
        resynced_at - unblocked_at,
    )
    assert hub.stats().reconnects >= 1


async def test_a_stalled_event_loop_is_not_taken_for_a_dead_redis(
    hubs: HubFactory, redis_server: ManagedServer, channel_prefix: str
) -> None:
    """A process busy for longer than the heartbeat timeout sent no heartbeat meanwhile: its
    silence says nothing about Redis, and reconnecting would make every card resync at once."""
    hub = await hubs(redis_server.url, heartbeat_interval=0.2, heartbeat_timeout=0.6)
    channel = channel_prefix + "busy"
    async with hub.subscribe(channel) as events:
        await until(lambda: hub.healthy)
        for _ in range(3):
            await asyncio.sleep(0.25)  # an echo has just been handled; the next heartbeat is due
            time.sleep(1.5)  # noqa: ASYNC251  (stands for CPU-bound work holding the loop)
        await asyncio.sleep(1.0)
        assert hub.stats().reconnects == 0
        assert await hub.publish(channel, b"still here")
        assert await next_item(events) == b"still here"
