"""The benchmark scenarios, each driving the server over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import statistics
import time
import uuid
from typing import Any

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.harness import WEBHOOK_SECRET, Stack, rss_kib
from bench.ws import TRANSPORT_WS, Subscriber
from domain.viewer import Role

ADMIN_EVENTS = "subscription { adminEnrollmentEvents { type enrollment { id status version } } }"
CARD = "subscription($c: ID!) { courseCard(courseId: $c) { buttonText version enrollment { id } } }"
ENROLL = (
    "mutation($i: EnrollInput!) { enroll(input: $i) { enrollment { id paymentReference } errors { code } } }"
)
APPROVE = "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


async def lag_buckets(client: httpx.AsyncClient, field: str) -> dict[float, float]:
    """The server's realtime lag histogram for one field: cumulative count per upper bound."""
    text = (await client.get("/metrics")).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "enrollwire_realtime_lag_seconds_bucket"
                and sample.labels.get("field") == field
            ):
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def lag_quantiles(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """p50/p99 of the lag observed between two scrapes, as the histogram's bucket bounds (ms)."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0.0
    result: dict[str, float] = {}
    for name, q in (("server_lag_p50_ms_le", 0.5), ("server_lag_p99_ms_le", 0.99)):
        bound = next((b for b, n in counts if total and n >= q * total), float("nan"))
        result[name] = bound * 1000
    return result


async def create_course(client: httpx.AsyncClient, stack: Stack, course_id: str, price: int = 10000) -> None:
    admin = stack.token("bench-admin", Role.ADMIN)
    mutation = "mutation($i: CreateCourseInput!) { createCourse(input: $i) { errors { code } } }"
    await gql(client, mutation, {"i": {"id": course_id, "title": course_id, "price": price}}, admin)


async def enroll_students(
    client: httpx.AsyncClient, stack: Stack, course: str, method: str, count: int, prefix: str
) -> list[dict[str, Any]]:
    """Setup, not measured: `count` students enroll, 32 at a time; their enrollments in order."""
    tokens = [stack.token(f"{prefix}-{course}-{n}") for n in range(count)]
    enrollments: list[dict[str, Any]] = []
    for start in range(0, count, 32):
        bodies = await asyncio.gather(
            *(
                gql(client, ENROLL, {"i": {"courseId": course, "paymentMethod": method}}, token)
                for token in tokens[start : start + 32]
            )
        )
        enrollments += [body["data"]["enroll"]["enrollment"] for body in bodies]
    return enrollments


async def open_many(stack: Stack, count: int, make: Any) -> list[Subscriber]:
    subscribers: list[Subscriber] = []
    for start in range(0, count, 100):
        batch = await asyncio.gather(*(make(i) for i in range(start, min(count, start + 100))))
        subscribers.extend(batch)
    return subscribers


async def admin_fanout(
    stack: Stack,
    client: httpx.AsyncClient,
    subscribers_n: int,
    events: int = 30,
    protocol: str = TRANSPORT_WS,
) -> dict[str, Any]:
    course = f"fan-{subscribers_n}-{uuid.uuid4().hex[:6]}"
    await create_course(client, stack, course)
    admin = stack.token("bench-admin", Role.ADMIN)
    subs = await open_many(
        stack, subscribers_n, lambda i: Subscriber.open(stack.ws_url, admin, ADMIN_EVENTS, protocol=protocol)
    )
    readers = [asyncio.create_task(s.run()) for s in subs]
    await asyncio.sleep(1)
    sent: dict[str, float] = {}
    lag_before = await lag_buckets(client, "adminEnrollmentEvents")
    with stack.measure(f"fanout-{subscribers_n}") as cpu:
        for n in range(events):
            t0 = time.perf_counter()
            body = await gql(
                client,
                ENROLL,
                {"i": {"courseId": course, "paymentMethod": "EFT"}},
                stack.token(f"fan-{course}-{n}"),
            )
            sent[body["data"]["enroll"]["enrollment"]["id"]] = t0
        expected = events * subscribers_n
        # A hang guard, generous for the per-socket comparison row (~0.3 ms of CPU per frame).
        async with asyncio.timeout(60 + expected * 0.002):
            for s in subs:
                while s.received < events:  # a count: `arrivals` decodes, after the window
                    s.arrived.clear()
                    await s.arrived.wait()
    latencies: list[float] = []
    last_by_event: dict[str, float] = {}
    for s in subs:
        for at, data in s.arrivals:
            eid = data["adminEnrollmentEvents"]["enrollment"]["id"]
            if eid in sent:
                latencies.append(at - sent[eid])
                last_by_event[eid] = max(last_by_event.get(eid, 0.0), at - sent[eid])
    delivered = len(latencies)
    lag = lag_quantiles(lag_before, await lag_buckets(client, "adminEnrollmentEvents"))
    for r in readers:
        r.cancel()
    await close_all(client, subs)
    return {
        "scenario": f"admin fan-out x{subscribers_n}"
        + ("" if protocol == TRANSPORT_WS else f" ({protocol})"),
        "frames": delivered,
        "lost": expected - delivered,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "last_subscriber_p50_ms": statistics.median(last_by_event.values()) * 1000
        if last_by_event
        else float("nan"),
        **lag,
        "frames_per_s": delivered / cpu.wall,
        "server_cpu_us_per_frame": cpu.server / max(delivered, 1) * 1e6,
        "cpu": cpu.__dict__,
    }


async def card_tabs(stack: Stack, client: httpx.AsyncClient, students: int = 200) -> dict[str, Any]:
    course = f"tabs-{uuid.uuid4().hex[:6]}"
    await create_course(client, stack, course)
    admin = stack.token("bench-admin", Role.ADMIN)
    ids = [e["id"] for e in await enroll_students(client, stack, course, "EFT", students, "tab")]

    def tab(i: int) -> Any:
        return Subscriber.open(stack.ws_url, stack.token(f"tab-{course}-{i // 2}"), CARD, {"c": course})

    subs = await open_many(stack, students * 2, tab)
    readers = [asyncio.create_task(s.run()) for s in subs]
    await asyncio.sleep(1)
    latencies: list[float] = []
    inconsistent = 0
    lag_before = await lag_buckets(client, "courseCard")
    with stack.measure("card-tabs") as cpu:
        for n, enrollment_id in enumerate(ids):
            pair = subs[2 * n : 2 * n + 2]
            for s in pair:
                s.arrived.clear()
            t0 = time.perf_counter()
            await gql(client, APPROVE, {"id": enrollment_id}, admin)
            async with asyncio.timeout(10):
                await asyncio.gather(*(s.arrived.wait() for s in pair))
            finals = []
            for s in pair:
                at, data = s.arrivals[-1]
                latencies.append(at - t0)
                finals.append((data["courseCard"]["buttonText"], data["courseCard"]["version"]))
            inconsistent += finals[0] != finals[1] or finals[0][0] != "Continue Course"
    lag = lag_quantiles(lag_before, await lag_buckets(client, "courseCard"))
    for r in readers:
        r.cancel()
    await close_all(client, subs)
    return {
        "scenario": f"course-card tabs {students}x2",
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        **lag,
        "inconsistent_pairs": inconsistent,
        "server_cpu_ms_per_approval": cpu.server / students * 1000,
        "cpu": cpu.__dict__,
    }


def signed(body: bytes) -> dict[str, str]:
    t = str(int(time.time()))
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Enrollwire-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


async def webhook(
    stack: Stack, client: httpx.AsyncClient, deliveries: int = 2000, concurrency: int = 32
) -> dict[str, Any]:
    course = f"hook-{uuid.uuid4().hex[:6]}"
    await create_course(client, stack, course, price=10**9)
    refs = [e["paymentReference"] for e in await enroll_students(client, stack, course, "CARD", 100, "hook")]
    events: list[bytes] = []
    unique = 0
    for n in range(deliveries):
        if events and random.random() < 0.10:
            events.append(random.choice(events))
            continue
        unique += 1
        payload = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.succeeded",
            "created": int(time.time()),
            "data": {"reference": refs[n % len(refs)], "amount": 100, "currency": "ZAR"},
        }
        events.append(json.dumps(payload).encode())
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    queue = iter(events)

    async def worker() -> None:
        for body in queue:
            t0 = time.perf_counter()
            response = await client.post("/webhooks/payments", content=body, headers=signed(body))
            latencies.append(time.perf_counter() - t0)
            key = f"{response.status_code}:{response.json().get('status', '')}"
            outcomes[key] = outcomes.get(key, 0) + 1

    with stack.measure("webhook") as cpu:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    processed = outcomes.get("200:processed", 0)
    return {
        "scenario": f"webhook {deliveries} @ {concurrency}",
        "deliveries_per_s": deliveries / cpu.wall,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "outcomes": outcomes,
        "exactly_once": processed == unique,
        "server_cpu_ms_per_request": cpu.server / deliveries * 1000,
        "cpu": cpu.__dict__,
    }


async def enroll_load(
    stack: Stack, client: httpx.AsyncClient, seconds: float = 20, concurrency: int = 32
) -> dict[str, Any]:
    courses = [f"load-{uuid.uuid4().hex[:6]}-{i}" for i in range(20)]
    for c in courses:
        await create_course(client, stack, c)
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    counter = 0

    async def worker(w: int) -> None:
        nonlocal counter
        while time.perf_counter() < stop:
            counter += 1
            t0 = time.perf_counter()
            variables = {"i": {"courseId": courses[counter % len(courses)], "paymentMethod": "EFT"}}
            await gql(client, ENROLL, variables, stack.token(f"load-{w}-{counter}"))
            latencies.append(time.perf_counter() - t0)

    with stack.measure("enroll") as cpu:
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {
        "scenario": f"enroll @ {concurrency} for {seconds:.0f}s",
        "mutations_per_s": len(latencies) / cpu.wall,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "server_cpu_ms_per_request": cpu.server / max(len(latencies), 1) * 1000,
        "cpu": cpu.__dict__,
    }


async def gauge(client: httpx.AsyncClient, name: str, labels: dict[str, str] | None = None) -> float:
    text = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return sample.value
    return 0.0


async def active_subscriptions(client: httpx.AsyncClient, field: str) -> float:
    return await gauge(client, "enrollwire_subscriptions_active", {"field": field})


async def close_all(client: httpx.AsyncClient, subs: list[Subscriber]) -> None:
    """Closes the sockets and waits until the server has, too: its teardown of thousands of
    sockets takes seconds of CPU, which the next scenario would otherwise be charged for."""
    await asyncio.gather(*(s.close() for s in subs), return_exceptions=True)
    for _ in range(1200):  # 60 s
        if await gauge(client, "enrollwire_websockets_open") == 0:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the server still had sockets open 60 s after the clients closed them")


async def idle_memory(stack: Stack, client: httpx.AsyncClient, subscriptions: int) -> dict[str, Any]:
    """RSS per idle subscription, split into the connection (acknowledged) and the subscription on it."""
    admin = stack.token("bench-admin", Role.ADMIN)
    before = rss_kib(stack.server.pid)
    subs = await open_many(stack, subscriptions, lambda i: Subscriber.open(stack.ws_url, admin, ""))
    await asyncio.sleep(2)
    connected = rss_kib(stack.server.pid)
    for start in range(0, subscriptions, 100):
        batch = subs[start : start + 100]
        await asyncio.gather(*(s.subscribe(ADMIN_EVENTS) for s in batch))
        # Each batch set up before the next, as clients arriving over time would be: thousands of
        # subscribes in flight at once would measure their transient peak, which RSS never gives back.
        for _ in range(1200):  # 60 s
            if await active_subscriptions(client, "adminEnrollmentEvents") >= start + len(batch):
                break
            await asyncio.sleep(0.05)
        else:
            raise TimeoutError("subscriptions were not set up within 60 s")
    await asyncio.sleep(2)
    after = rss_kib(stack.server.pid)
    await close_all(client, subs)
    return {
        "scenario": f"idle memory x{subscriptions}",
        "kib_per_subscription": (after - before) / subscriptions,
        "of_which_connection_kib": (connected - before) / subscriptions,
        "server_rss_mib": after / 1024,
    }


async def hub_health(client: httpx.AsyncClient) -> dict[str, Any]:
    """Did the run disturb the hub? (A saturated loop must not look like a dead Redis.)"""
    await asyncio.sleep(1)  # sockets closed by the last scenario finish closing
    text = (await client.get("/metrics")).text
    wanted = {
        "enrollwire_realtime_reconnects": "reconnects",
        "enrollwire_realtime_dropped": "dropped",
        "enrollwire_realtime_publish_failures": "publish_failures",
        # Everything was closed: these must be back at 0.
        "enrollwire_websockets_open": "websockets_left",
        "enrollwire_realtime_local_subscribers": "hub_subscribers_left",
    }
    figures: dict[str, Any] = {"scenario": "realtime hub over the whole run"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted or sample.name.removesuffix("_total") in wanted:
                figures[wanted[sample.name.removesuffix("_total")]] = int(sample.value)
    return figures
