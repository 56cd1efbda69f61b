"""The admin search at 100,000 enrollments: seeded straight into the store, queried over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
from pymongo import AsyncMongoClient

from bench.harness import Stack, rss_kib
from bench.scenarios import gql, pct
from domain.viewer import Role

SEARCH = """
query($f: EnrollmentFilter, $after: String) {
  enrollments(filter: $f, first: 50, after: $after) {
    totalCount pageInfo { endCursor } edges { node { id userEmail status } }
  }
}
"""
STATUSES = ["PENDING_PAYMENT", "AWAITING_APPROVAL", "APPROVED", "REJECTED", "PAYMENT_FAILED", "CANCELLED"]
COURSES = [f"bench-course-{n}" for n in range(50)]
START = datetime(2026, 1, 1, tzinfo=UTC)


def population_doc(n: int) -> dict[str, Any]:
    """An enrollment document as the store writes it, spread over 50 courses and 90 days."""
    email = f"Student{n:06d}@Example.org"
    created = START + timedelta(seconds=n * 77)
    method = "CARD" if n % 3 else "EFT"
    return {
        "_id": f"bench-{n:06d}",
        "userId": f"bench-user-{n}",
        "email": email,
        "emailLower": email.lower(),
        "courseId": COURSES[n % len(COURSES)],
        "status": STATUSES[n % len(STATUSES)],
        "previousStatus": None,
        "paymentMethod": method,
        "currency": "ZAR",
        "fullPrice": 10000,
        "amountDue": 10000,
        "amountPaid": 0,
        "couponCode": None,
        "couponState": None,
        "couponDiscount": 0,
        "holdExpiresAt": None,
        "paymentReference": f"EW-BENCH-{n:06d}",
        "paymentReferences": [f"EW-BENCH-{n:06d}"],
        "rejectionReason": None,
        "approvedBy": None,
        "version": 1,
        "access": {"status": "NOT_STARTED", "attempts": 0, "lastError": None, "updatedAt": None},
        "webhookEventIds": [],
        "deliveries": [],
        "pending": [],
        "history": [],
        "createdAt": created,
        "updatedAt": created,
    }


async def seed_population(stack: Stack, count: int) -> float:
    """Seconds to insert `count` enrollments (idempotent: a second call finds them there)."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo.url)
    try:
        collection = mongo[stack.db]["enrollments"]
        if await collection.count_documents({"_id": {"$regex": "^bench-"}}, limit=1):
            return 0.0
        began = time.perf_counter()
        batch = 5000
        for start in range(0, count, batch):
            docs = [population_doc(n) for n in range(start, min(count, start + batch))]
            await collection.insert_many(docs, ordered=False)
        return time.perf_counter() - began
    finally:
        await mongo.close()


def filters(count: int) -> dict[str, dict[str, Any]]:
    """The shapes the console sends, with values that exist in the population."""
    some = count // 2
    return {
        "none": {},
        "status": {"status": "AWAITING_APPROVAL"},
        "course": {"courseId": COURSES[7]},
        "status+course": {"status": "APPROVED", "courseId": COURSES[8]},
        "user": {"userId": f"bench-user-{some}"},
        "email_prefix": {"email": f"STUDENT{some // 100:04d}"},
        "reference": {"paymentReference": f"EW-BENCH-{some:06d}"},
        "method+week": {
            "paymentMethod": "EFT",
            "createdFrom": (START + timedelta(days=30)).isoformat(),
            "createdTo": (START + timedelta(days=37)).isoformat(),
        },
    }


async def search(stack: Stack, client: httpx.AsyncClient, count: int, rounds: int = 5) -> dict[str, Any]:
    seeded = await seed_population(stack, count)
    admin = stack.token("bench-admin", Role.ADMIN)
    result: dict[str, Any] = {"scenario": f"search at {count} enrollments", "seed_s": seeded}
    with stack.measure("search") as cpu:
        for name, where in filters(count).items():
            latencies: list[float] = []
            total = 0
            for _ in range(rounds):
                began = time.perf_counter()
                body = await gql(client, SEARCH, {"f": where}, admin)
                latencies.append(time.perf_counter() - began)
                assert "errors" not in body, body
                total = body["data"]["enrollments"]["totalCount"]
            result[f"{name}_p50_ms"] = pct(latencies, 0.5) * 1000
            result[f"{name}_rows"] = total
        # Later pages of a long list: the keyset seeks, it does not skip.
        cursor, latencies = None, []
        for _ in range(rounds):
            began = time.perf_counter()
            body = await gql(client, SEARCH, {"f": {"status": "APPROVED"}, "after": cursor}, admin)
            latencies.append(time.perf_counter() - began)
            cursor = body["data"]["enrollments"]["pageInfo"]["endCursor"]
        result["next_pages_p50_ms"] = pct(latencies, 0.5) * 1000
    result["cpu"] = cpu.__dict__
    return result


async def export(stack: Stack, client: httpx.AsyncClient, count: int) -> dict[str, Any]:
    """The whole population as CSV, with the server's RSS sampled while it streams."""
    await seed_population(stack, count)
    admin = stack.token("bench-admin", Role.ADMIN)
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(rss_kib(stack.server.pid))
            await asyncio.sleep(0.1)

    before = rss_kib(stack.server.pid)
    rows, size, first_rows = 0, 0, None
    sampler = asyncio.create_task(sample())
    headers = {"Authorization": f"Bearer {admin}"}
    with stack.measure("export") as cpu:
        began = time.perf_counter()
        # The store sorts the whole collection before its first batch: no read timeout here.
        async with client.stream("GET", "/admin/enrollments.csv", headers=headers, timeout=None) as response:
            assert response.status_code == 200, response.status_code
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                rows += chunk.count(b"\n")
                if first_rows is None and rows > 1:
                    first_rows = time.perf_counter() - began
    done.set()
    await sampler
    return {
        "scenario": f"CSV export of {count} enrollments",
        "rows": rows - 1,
        "mb": size / 1e6,
        "rows_per_s": (rows - 1) / cpu.wall,
        "first_rows_s": first_rows,
        "server_rss_before_mib": before / 1024,
        "server_rss_max_mib": max(samples, default=before) / 1024,
        "server_rss_after_mib": rss_kib(stack.server.pid) / 1024,
        "cpu": cpu.__dict__,
    }
