"""The job queue's numbers for `jobStats` and the `/metrics` gauges, at a cost that does not grow
with history: the live statuses (PENDING, RUNNING, DEAD: few, until the workers or an admin act)
read through the `by_status` index, SUCCEEDED from the retention counters (`store.job_retention`).
"""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from domain.jobs import JobKind, JobStats, JobStatus
from store.database import Doc
from store.job_retention import SucceededCounts

LIVE = [s.value for s in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DEAD)]


async def job_stats(jobs: AsyncCollection[Doc], succeeded: SucceededCounts, now: datetime) -> JobStats:
    # One read for the live statuses: a job moving from PENDING to RUNNING meanwhile counts once.
    counts = {status: 0 for status in JobStatus}
    pipeline: list[Doc] = [
        {"$match": {"status": {"$in": LIVE}}},
        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
    ]
    async for row in await jobs.aggregate(pipeline):
        counts[JobStatus(row["_id"])] = row["n"]
    # A reconciliation waits on purpose (up to a checkout's TTL): it is not a queue falling behind.
    ages = [
        age
        for kind, age in (await oldest_pending(jobs, now)).items()
        if kind is not JobKind.RECONCILE_PAYMENT
    ]
    return JobStats(
        pending=counts[JobStatus.PENDING],
        running=counts[JobStatus.RUNNING],
        succeeded=await succeeded.total(now),
        dead=counts[JobStatus.DEAD],
        oldest_pending_seconds=max(ages, default=None),
    )


async def oldest_pending(jobs: AsyncCollection[Doc], now: datetime) -> dict[JobKind, float]:
    """Per kind with a PENDING job, the age of its oldest: an index walk from the oldest each."""
    ages: dict[JobKind, float] = {}
    for kind in JobKind:
        oldest = await jobs.find_one(
            {"status": JobStatus.PENDING.value, "kind": kind.value},
            {"createdAt": 1},
            sort=[("createdAt", ASCENDING)],
        )
        if oldest is not None:
            ages[kind] = max(0.0, (now - oldest["createdAt"]).total_seconds())
    return ages
