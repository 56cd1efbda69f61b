"""Claiming jobs cheaply for any store: each claim is an update by `_id` that succeeds only on the
job exactly as the queue knows it, and the queue is read as seldom as it can be.

The filter names the revision known (every state change of a job bumps it), so a candidate that
another worker took, finished or released meanwhile matches nothing, and a claim that matched
knows the claimed job without reading it back.

Candidates come from two places: the jobs this process has just written (known as stored, with
no read at all), and an indexed read of ready jobs, which also finds other processes' jobs,
retries come due and jobs whose worker died. The read runs at least once a second while there
are candidates, so no ready job waits behind this process's own for long; and when they run out,
if the queue may hold ready jobs this process does not know of: a read filled its batch, a job
written here was not kept, or the scheduler saw a job due (`MongoJobQueue.next_due`). A pool
that has just run its own jobs therefore goes idle without reading the queue again.
"""

from __future__ import annotations

from collections.abc import Iterable
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
# How often the queue is read while this process's own new jobs keep the candidates full.
READ_EVERY = timedelta(seconds=1)
# New jobs kept as candidates at most; past that (a burst) they are found by the reads.
LOCAL_CANDIDATES = 1000


def _due(last: datetime | None, now: datetime, every: timedelta) -> bool:
    # A clock set back (tests) counts as due too.
    return last is None or not timedelta(0) <= now - last < every


class Candidates:
    """The jobs this queue tries to claim next, oldest known first, each once."""

    def __init__(self) -> None:
        self._docs: dict[str, Doc] = {}  # by `_id`, in the order they became known
        self._read_at: datetime | None = None
        self._leases_checked_at: datetime | None = None
        self.unknown = True  # the queue may hold ready jobs that are not candidates

    def written(self, docs: Iterable[Doc], now: datetime) -> None:
        """Jobs this process has just inserted, exactly as stored; those due by `now` are kept."""
        for doc in docs:
            if len(self._docs) >= LOCAL_CANDIDATES:
                self.unknown = True
                return
            if doc["nextRunAt"] <= now:
                self._docs.setdefault(doc["_id"], doc)

    def read_due(self, now: datetime) -> bool:
        return _due(self._read_at, now, READ_EVERY) or (not self._docs and self.unknown)

    async def read(self, jobs: AsyncCollection[Doc], now: datetime) -> None:
        expired = _due(self._leases_checked_at, now, LEASE_CHECK_EVERY)
        if expired:
            self._leases_checked_at = now
        self._read_at = now
        found = await ready_jobs(jobs, now, expired_leases=expired)
        self.unknown = len(found) >= CLAIM_BATCH  # a full batch: more may be waiting
        for doc in found:
            self._docs[doc["_id"]] = doc  # as read: newer than a copy kept since it was written

    def pop(self, now: datetime) -> Doc | None:
        """The first candidate claimable at `now`; a job written here but due later stays."""
        for key, doc in self._docs.items():
            if doc["status"] == JobStatus.RUNNING.value or doc["nextRunAt"] <= now:
                return self._docs.pop(key)
        return None


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
