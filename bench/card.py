"""`BENCH_ONLY=card`: enroll(CARD) at concurrency 32, iK Pay answering every paylink in 200 ms.

The gateway is the iK Pay stand-in (`sandbox/ikhokha_standin.py`, `delay_seconds=0.2`) served
by uvicorn in the generator's own event loop: never inside the server under test, so the
server's CPU per request stays its own. The server is a second `enrollwire serve` process on
the same store and Redis, configured for the ikhokha gateway and pointed at the stand-in.

Two figures show the outbound call never blocks the server's event loop: the stand-in counts
the paylink requests it holds at once (all 32 together means the server awaits each call and
serves the others meanwhile), and a probe GETs `/healthz` (no outbound call) all along; a
loop blocked for the gateway's 200 ms would show in its latency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import httpx2 as httpx
import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from bench.harness import Stack, start_server, stop_server, wait_ready
from bench.scenarios import create_course, gql, pct
from integrations.ikhokha.gateway import PAYMENT_PATH
from sandbox.embedded import free_port
from sandbox.ikhokha_standin import IkPayStandIn

APP_ID = "IKBENCHAPP"
APP_SECRET = "ik-bench-app-secret-0123456789abcdef"
GATEWAY_SECONDS = 0.2
PROBE_EVERY_SECONDS = 0.02  # pacing of the /healthz probe, not a synchronisation
ENROLL_CARD = (
    "mutation($i: EnrollInput!) { enroll(input: $i) {"
    " enrollment { id status } payment { redirectUrl } errors { code } } }"
)


class InFlight:
    """ASGI wrapper counting the paylink requests the stand-in holds at once."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.now = 0
        self.most = 0
        self.total = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        counted = scope["type"] == "http" and scope["path"] == PAYMENT_PATH
        if counted:
            self.now += 1
            self.total += 1
            self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            if counted:
                self.now -= 1


async def card_enroll(
    stack: Stack, seconds: float = 20, concurrency: int = 32, delay: float = GATEWAY_SECONDS
) -> dict[str, Any]:
    port = free_port()
    standin = IkPayStandIn(APP_ID, APP_SECRET, None, f"http://127.0.0.1:{port}")
    standin.knobs.delay_seconds = delay
    counter = InFlight(Starlette(routes=standin.routes()))
    config = uvicorn.Config(counter, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    gateway = uvicorn.Server(config)
    served = asyncio.create_task(gateway.serve())
    env = {
        "ENROLLWIRE_PAYMENT_GATEWAY": "ikhokha",
        "ENROLLWIRE_IKHOKHA_API_URL": f"http://127.0.0.1:{port}",
        "ENROLLWIRE_IKHOKHA_APP_ID": APP_ID,
        "ENROLLWIRE_IKHOKHA_APP_SECRET": APP_SECRET,
    }
    process, base = start_server(stack.mongo, stack.redis, f"{stack.db}_card", env)
    try:
        await wait_ready(base)
        while not gateway.started:  # a readiness poll, as the harness waits for the server
            if served.done():
                served.result()
            await asyncio.sleep(0.01)
        card = dataclasses.replace(stack, server=process, base_url=base)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            return await _load(card, client, counter, seconds, concurrency, delay)
    finally:
        stop_server(process)
        gateway.should_exit = True
        await served


async def _load(
    stack: Stack, client: httpx.AsyncClient, counter: InFlight, seconds: float, concurrency: int, delay: float
) -> dict[str, Any]:
    courses = [f"card-{uuid.uuid4().hex[:6]}-{i}" for i in range(20)]
    for c in courses:
        await create_course(client, stack, c)
    latencies: list[float] = []
    probes: list[float] = []
    failed = 0
    stop = time.perf_counter() + seconds
    count = 0

    async def worker(w: int) -> None:
        nonlocal count, failed
        while time.perf_counter() < stop:
            count += 1
            t0 = time.perf_counter()
            variables = {"i": {"courseId": courses[count % len(courses)], "paymentMethod": "CARD"}}
            body = await gql(client, ENROLL_CARD, variables, stack.token(f"card-{w}-{count}"))
            latencies.append(time.perf_counter() - t0)
            enroll = body["data"]["enroll"]
            failed += bool(enroll["errors"]) or enroll["enrollment"]["status"] != "PENDING_PAYMENT"

    async def probe() -> None:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as own:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                await own.get("/healthz")
                probes.append(time.perf_counter() - t0)
                await asyncio.sleep(PROBE_EVERY_SECONDS)

    with stack.measure("card") as cpu:
        await asyncio.gather(probe(), *(worker(w) for w in range(concurrency)))
    return {
        "scenario": f"enroll CARD @ {concurrency} for {seconds:.0f}s, iK Pay stand-in {delay * 1000:.0f} ms",
        "mutations_per_s": len(latencies) / cpu.wall,
        "bound_per_s": concurrency / delay,  # every request waiting out the gateway, nothing else
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "not_pending_payment": failed,
        "paylinks": counter.total,
        "paylinks_in_flight_max": counter.most,
        "healthz_p50_ms": pct(probes, 0.5) * 1000,
        "healthz_p99_ms": pct(probes, 0.99) * 1000,
        "healthz_max_ms": max(probes, default=float("nan")) * 1000,
        "server_cpu_ms_per_request": cpu.server / max(len(latencies), 1) * 1000,
        "cpu": cpu.__dict__,
    }
