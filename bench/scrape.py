"""`/metrics` and `jobStats` against a job history of 1,000 and then 100,000 finished jobs.

The history is written straight into the store, as the product would have left it: SUCCEEDED
jobs with `finishedAt` (recent, so the TTL index keeps them for the run) counted in the hourly
counters the product increments, plus a few DEAD and PENDING ones. Each size reports the median
and 95th percentile of a scrape and of a `jobStats` query, the server's and the store's CPU per
scrape, and, for comparison, one run of the pipeline both used before (a `$group` over the whole
collection).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
from pymongo import AsyncMongoClient

from bench.harness import Stack
from bench.scenarios import gql, pct
from domain.viewer import Role
from store.database import Doc
from store.job_retention import COUNTS_COLLECTION, DEFAULT_RETENTION, SucceededCounts

JOB_STATS = "{ jobStats { pending running succeeded dead oldestPendingSeconds } }"
BATCH = 5_000
SIDE_JOBS = 20  # DEAD and PENDING ones: few, as in a healthy queue


def _job(n: int, status: str, now: datetime) -> Doc:
    doc: Doc = {
        "_id": f"bench-{status.lower()}-{n}",
        "kind": "PROVISION_ACCESS" if n % 2 else "NOTIFY_STUDENT",
        "enrollmentId": f"bench-e-{n}",
        "userId": f"bench-u-{n}",
        "courseId": "bench-course",
        "status": status,
        "attempts": 1,
        "errors": [],
        "createdAt": now - timedelta(minutes=5),
        "updatedAt": now,
    }
    if status == "SUCCEEDED":
        doc["finishedAt"] = now
    return doc


async def _grow(stack: Stack, have: int, want: int) -> None:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(stack.mongo.url)
    try:
        db = client[stack.db]
        now = datetime.now(UTC)
        if have == 0:
            side = [_job(n, "DEAD", now) for n in range(SIDE_JOBS)] + [
                _job(n, "PENDING", now) for n in range(SIDE_JOBS)
            ]
            await db.jobs.insert_many(side)
        for start in range(have, want, BATCH):
            await db.jobs.insert_many(
                [_job(n, "SUCCEEDED", now) for n in range(start, min(want, start + BATCH))]
            )
        counts = SucceededCounts(db[COUNTS_COLLECTION], DEFAULT_RETENTION)
        counts.add(now, want - have)
        await counts.write()
    finally:
        await client.close()


async def _old_pipeline_ms(stack: Stack) -> float:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(stack.mongo.url)
    try:
        started = time.perf_counter()
        cursor = await client[stack.db].jobs.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        _ = [row async for row in cursor]
        return (time.perf_counter() - started) * 1000
    finally:
        await client.close()


async def _timed(calls: int, call: Any) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def scrape_cost(
    stack: Stack, client: httpx.AsyncClient, sizes: list[int], calls: int = 50
) -> list[dict[str, Any]]:
    admin = stack.token("bench-admin", Role.ADMIN)
    results: list[dict[str, Any]] = []
    have = 0
    for size in sizes:
        await _grow(stack, have, size)
        have = size

        async def scrape() -> None:
            response = await client.get("/metrics")
            assert response.status_code == 200

        async def job_stats(expected: int = size) -> None:
            body = await gql(client, JOB_STATS, {}, admin)
            assert body["data"]["jobStats"]["succeeded"] == expected, body

        await scrape()  # warm
        with stack.measure(f"scrape-{size}") as cpu:
            scrapes = await _timed(calls, scrape)
        stats = await _timed(calls, job_stats)
        results.append(
            {
                "scenario": f"/metrics scrape, {size:,} finished jobs",
                "scrape p50 ms": pct(scrapes, 0.5),
                "scrape p95 ms": pct(scrapes, 0.95),
                "jobStats p50 ms": pct(stats, 0.5),
                "server CPU ms per scrape": cpu.server * 1000 / calls,
                "store CPU ms per scrape": cpu.store * 1000 / calls,
                "old $group pipeline ms": await _old_pipeline_ms(stack),
                "cpu": vars(cpu),
            }
        )
    return results
