"""Measured reasons for enrollwire's three departures from the stack it was asked for.

1. PyMongo's AsyncMongoClient, not Motor (deprecated since PyMongo Async went GA).
2. Our own hub (realtime.hub), not broadcaster, on Redis pub/sub.
3. httpx2, not httpx 0.28.1 (same API, still released).

Motor, broadcaster and httpx are not project dependencies, so run it from a throwaway venv:

    python3 -m venv /tmp/ew-departures && /tmp/ew-departures/bin/pip install motor \
        'broadcaster[redis]' redis pymongo httpx httpx2 secantusdb==0.7.0b3
    /tmp/ew-departures/bin/python docs/research/departures.py

It starts its own SecantusDB, redis-server and a minimal asyncio HTTP server (all child
processes on free loopback ports) and prints markdown tables. Rates are the median of
ROUNDS rounds in which the competing clients take turns inside this one process; client CPU
is this process's getrusage (every thread, so Motor's executor threads count too) and the
servers' CPU is not in it. Takes about six minutes, mostly SecantusDB serving updates.

Two variants are worth a run: add 'redis<8' to the pip line to give broadcaster a redis-py
it still works with (7.x), and add sniffio to spare httpx 0.28.1 the failing `import sniffio`
that its httpcore 1 repeats on every request when sniffio is absent (nothing requires it now).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import itertools
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.hub import Hub
from realtime.inbox import Gap
from sandbox.embedded import ManagedServer, free_port, start_mongo, start_redis

N = 2000
WARMUP = 100
ROUNDS = 3
MONGO_CONCURRENCY = (1, 32)
HTTP_CONCURRENCY = 16
DOCS = 100
MESSAGES = 100
SETTLE_S = 0.3  # after subscribing, so SUBSCRIBE has surely reached Redis before the first PUBLISH
OUTAGE_S = 1.0  # how long redis-server stays down in check (c)
RECOVERY_S = 3.0  # after the restart, before publishing: time for either side to resubscribe

Op = Callable[[int], Awaitable[object]]


def optional(name: str) -> ModuleType:
    # Imported by name: these packages exist only in the throwaway venv, and strict mypy runs
    # in the project's venv, where a plain import would not resolve.
    return importlib.import_module(name)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(op: Op, n: int, concurrency: int) -> tuple[float, float]:
    """Run op(0) .. op(n-1) on `concurrency` workers: (ops per second, client CPU µs per op)."""
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            await op(i)

    cpu, wall = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return n / wall, cpu / n * 1e6


async def compare(ops: dict[str, Op], concurrency: int) -> dict[str, tuple[float, float]]:
    """Median (ops/s, CPU µs/op) per contender; they take turns, in alternating order, so that
    drift and whatever the server is left doing after one run hit them all alike."""
    for op in ops.values():
        await timed(op, WARMUP, concurrency)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ops}
    for round_ in range(ROUNDS):
        for name in list(ops)[:: -1 if round_ % 2 else 1]:
            samples[name].append(await timed(ops[name], N, concurrency))
    return {
        name: (statistics.median(r for r, _ in got), statistics.median(c for _, c in got))
        for name, got in samples.items()
    }


# --- 1. Motor vs PyMongo's AsyncMongoClient -------------------------------------------------


async def mongo_table(url: str) -> list[str]:
    motor = optional("motor.motor_asyncio")
    clients: dict[str, Any] = {
        f"Motor {version('motor')}": motor.AsyncIOMotorClient(url),
        f"PyMongo {version('pymongo')} AsyncMongoClient": AsyncMongoClient[dict[str, Any]](url),
    }
    collection = next(iter(clients.values())).bench.departures
    await collection.drop()
    await collection.insert_many([{"_id": i, "n": 0} for i in range(DOCS)])

    def reader(client: Any) -> Op:
        collection = client.bench.departures
        return lambda i: collection.find_one({"_id": i % DOCS})

    def incrementer(client: Any) -> Op:
        collection, inc = client.bench.departures, {"$inc": {"n": 1}}
        return lambda i: collection.find_one_and_update({"_id": i % DOCS}, inc)

    rows = ["| client | operation | concurrency | ops/s | client CPU µs/op |", "|---|---|--:|--:|--:|"]
    for label, make in (("find_one by _id", reader), ("find_one_and_update $inc", incrementer)):
        for concurrency in MONGO_CONCURRENCY:
            results = await compare({name: make(c) for name, c in clients.items()}, concurrency)
            for name, (rate, cpu) in results.items():
                rows.append(f"| {name} | {label} | {concurrency} | {rate:,.0f} | {cpu:,.0f} |")
    for client in clients.values():
        closed = client.close()  # Motor's close() is synchronous, PyMongo's is a coroutine
        if inspect.isawaitable(closed):
            await closed
    return rows


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


# --- 3. httpx vs httpx2 ----------------------------------------------------------------------

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class KeepAliveOk(asyncio.Protocol):
    """Answers every request head with 200 "ok": as cheap as a server gets, so the client shows."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(RESPONSE)


async def serve_http(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(KeepAliveOk, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def http_table(url: str) -> list[str]:
    stack = contextlib.AsyncExitStack()
    ops: dict[str, Op] = {}
    for module in ("httpx", "httpx2"):
        client = await stack.enter_async_context(optional(module).AsyncClient(base_url=url))

        async def get(_: int, client: Any = client) -> None:
            (await client.get("/")).raise_for_status()

        ops[f"{module} {version(module)}"] = get
    async with stack:
        results = await compare(ops, HTTP_CONCURRENCY)
    rows = ["| client | concurrency | requests/s | client CPU µs/request |", "|---|--:|--:|--:|"]
    for name, (rate, cpu) in results.items():
        rows.append(f"| {name} | {HTTP_CONCURRENCY} | {rate:,.0f} | {cpu:,.0f} |")
    return rows


# --- driver ----------------------------------------------------------------------------------


def start_http_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the HTTP server did not come up") from None
            time.sleep(0.05)


async def measure(mongo: ManagedServer, redis: ManagedServer, http_url: str) -> None:
    for title, rows in [
        ("Motor vs PyMongo AsyncMongoClient (SecantusDB)", await mongo_table(mongo.url)),
        ("broadcaster vs enrollwire Hub (redis-server)", await pubsub_table(redis)),
        ("httpx vs httpx2 (GET against a local keep-alive server)", await http_table(http_url)),
    ]:
        print(f"\n### {title}\n", *rows, sep="\n")


def main() -> None:
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    packages = ["motor", "pymongo", "broadcaster", "redis", "httpx", "httpcore", "httpx2", "secantusdb"]
    print(
        "Versions:",
        ", ".join(f"{p} {version(p)}" for p in packages),
        f"redis-server {redis_version.split()[2].removeprefix('v=')}",
    )
    # httpcore 1 retries `import sniffio` on every request when it is missing, which is slow.
    print("sniffio installed:", importlib.util.find_spec("sniffio") is not None)
    with tempfile.TemporaryDirectory(prefix="ew-departures-") as tmp:
        mongo, redis = start_mongo(Path(tmp) / "mongo"), start_redis()
        http_server, http_url = start_http_server()
        try:
            asyncio.run(measure(mongo, redis, http_url))
        finally:
            http_server.terminate()
            http_server.wait()
            redis.stop()
            mongo.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve_http(int(sys.argv[2])))
    else:
        main()
