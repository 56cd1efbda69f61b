"""Claiming jobs cheaply for any store: ready jobs read in one indexed query, each claimed by an
update by `_id` that succeeds only on the job exactly as read.

The filter names the revision read (every state change of a job bumps it), so a candidate that
another worker took, finished or released meanwhile matches nothing, and a claim that matched
knows the claimed job without reading it back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from domain.jobs import JobStatus
from store.database import Doc, stored

# Ready jobs one claim query reads; the pool's next claims try them by `_id` first.
CLAIM_BATCH = 8

# Jobs whose lease ran out (their worker died) are looked for at most this often by one queue,
# not at every claim: such a job has waited a whole lease already, and the query otherwise costs
# the store one more read for every job claimed.
LEASE_CHECK_EVERY = timedelta(seconds=1)


async def ready_jobs(jobs: AsyncCollection[Doc], now: datetime, *, expired_leases: bool = True) -> list[Doc]:
    """Up to CLAIM_BATCH claimable jobs, those whose lease ran out first (they waited a lease)."""
    # Each read walks its own index in order, rather than one `$or`: sorted on one field, an
    # `$or` walks neither branch's index in order, so MongoDB would sort every due job.
    reads = [({"status": JobStatus.PENDING.value, "nextRunAt": {"$lte": now}}, "nextRunAt")]
    if expired_leases:
        reads.insert(
            0, ({"status": JobStatus.RUNNING.value, "leaseExpiresAt": {"$lte": now}}, "leaseExpiresAt")
        )
    found: list[Doc] = []
    for ready, order in reads:
        cursor = jobs.find(ready, {"errors": 0}).sort(order, ASCENDING)
        found += [doc async for doc in cursor.limit(CLAIM_BATCH - len(found))]
        if len(found) >= CLAIM_BATCH:
            break
    return found


async def take(
    jobs: AsyncCollection[Doc], doc: Doc, worker_id: str, lease_seconds: float, now: datetime
) -> Doc | None:
    """The job `doc` claimed for `worker_id`, as stored now; None when it changed since read."""
    now = stored(now)
    fields = {
        "status": JobStatus.RUNNING.value,
        "leaseOwner": worker_id,
        # Kept after the lease ends: which worker made the latest attempt.
        "lastWorker": worker_id,
        "leaseExpiresAt": now + timedelta(seconds=lease_seconds),
        "updatedAt": now,
    }
    # A document from before revisions has none: `None` matches the missing field.
    revision = doc.get("revision")
    read = {"_id": doc["_id"], "revision": revision, "status": doc["status"]}
    result = await jobs.update_one(read, {"$set": fields, "$inc": {"attempts": 1, "revision": 1}})
    if result.matched_count != 1:
        return None
    return doc | fields | {"attempts": doc["attempts"] + 1, "revision": (revision or 0) + 1}
