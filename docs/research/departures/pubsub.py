"""2. broadcaster vs our hub (realtime.hub), on Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from measuring import (
    MESSAGES,
    OUTAGE_S,
    RECOVERY_S,
    SETTLE_S,
    optional,
)

from realtime.hub import Hub
from realtime.inbox import Gap
from sandbox.embedded import ManagedServer

# --- 2. broadcaster vs our hub ---------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    start: Callable[[], Awaitable[None]]
    subscribe: Callable[[str], AbstractAsyncContextManager[Any]]
    publish: Callable[[str, str], Awaitable[object]]
    stop: Callable[[], Awaitable[None]]


def hub_side(url: str) -> Side:
    hub = Hub(url)
    return Side(hub.start, hub.subscribe, lambda channel, text: hub.publish(channel, text.encode()), hub.stop)


def broadcaster_side(url: str, *, primed: bool) -> Side:
    broadcast, primer = optional("broadcaster").Broadcast(url), contextlib.AsyncExitStack()

    async def start() -> None:
        await broadcast.connect()
        if primed:
            # Its Redis reader wakes on the first subscribe() before redis-py 8 has recorded
            # the channel, sees nothing subscribed and stops for good; a second subscribe()
            # wakes it again with a channel on record. This first one is that workaround.
            await primer.enter_async_context(broadcast.subscribe(channel="primer"))

    async def stop() -> None:
        await primer.aclose()
        await broadcast.disconnect()

    return Side(start, lambda channel: broadcast.subscribe(channel=channel), broadcast.publish, stop)


@dataclass
class Probe:
    got: int = 0
    gaps: int = 0
    error: str = ""  # raised by the subscription, most interestingly when leaving it


async def consume(side: Side, channel: str, ready: asyncio.Future[asyncio.Timeout]) -> Probe:
    probe = Probe()
    try:
        async with side.subscribe(channel) as items:
            try:
                # The publisher sets the deadline once it starts publishing.
                async with asyncio.timeout(None) as window:
                    ready.set_result(window)
                    async for item in items:
                        if isinstance(item, Gap):
                            probe.gaps += 1
                        else:
                            probe.got += 1
                            if probe.got == MESSAGES:
                                break
            except TimeoutError:
                pass
    except Exception as exc:
        probe.error = type(exc).__name__
    if not ready.done():
        ready.set_exception(RuntimeError(f"subscribing failed: {probe.error}"))
    return probe


async def check(
    side: Side, subscribers: int, window_s: float, meanwhile: Callable[[], Awaitable[None]] | None = None
) -> str:
    loop = asyncio.get_running_loop()
    channel = f"departures-{time.monotonic_ns()}"
    await side.start()
    readies = [loop.create_future() for _ in range(subscribers)]
    consumers = asyncio.gather(*(consume(side, channel, ready) for ready in readies))
    async with asyncio.timeout(30):  # hang guard only
        windows = await asyncio.gather(*readies)
    await asyncio.sleep(SETTLE_S)
    if meanwhile is not None:
        await meanwhile()
    for window in windows:
        window.reschedule(loop.time() + window_s)
    failed = 0
    for i in range(MESSAGES):
        try:
            await side.publish(channel, f"message {i}")
        except Exception:
            failed += 1
    probes = await consumers
    stop_error = ""
    try:
        await side.stop()
    except Exception as exc:
        stop_error = f"; stop raised {type(exc).__name__}"
    got = " + ".join(f"{p.got}/{MESSAGES}" for p in probes)
    notes = [f"{sum(p.gaps for p in probes)} gap marker(s)"] if any(p.gaps for p in probes) else []
    notes += [f"publish raised {failed}x"] if failed else []
    notes += [f"leaving raised {p.error}" for p in probes if p.error]
    return got + (f" ({', '.join(notes)})" if notes else "") + stop_error


async def pubsub_table(redis: ManagedServer) -> list[str]:
    async def restart() -> None:
        redis.stop()
        await asyncio.sleep(OUTAGE_S)
        redis.start()  # blocks the loop until it answers PING, like a quick supervisor restart
        await asyncio.sleep(RECOVERY_S)

    checks: list[tuple[str, int, float, Callable[[], Awaitable[None]] | None]] = [
        (f"(a) 1 subscriber, {MESSAGES} published, delivered within 5 s", 1, 5.0, None),
        (f"(b) 2 subscribers joining at once, {MESSAGES} published: each got", 2, 5.0, None),
        (f"(c) Redis down {OUTAGE_S:g} s and back, {MESSAGES} published: got in 10 s", 1, 10.0, restart),
    ]
    broadcaster = f"broadcaster {version('broadcaster')}"
    sides: dict[str, Callable[[], Side]] = {
        broadcaster: lambda: broadcaster_side(redis.url, primed=False),
        f"{broadcaster}, primed": lambda: broadcaster_side(redis.url, primed=True),
        "enrollwire Hub": lambda: hub_side(redis.url),
    }
    rows = [f"| check | {' | '.join(sides)} |", "|---|" + "---|" * len(sides)]
    for label, subscribers, window_s, meanwhile in checks:
        cells = [await check(make(), subscribers, window_s, meanwhile) for make in sides.values()]
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return rows
