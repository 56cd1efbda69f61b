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

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import islice

from pymongo import ASCENDING, UpdateOne
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

    def pop(self, now: datetime, limit: int) -> list[Doc]:
        """Up to `limit` candidates claimable at `now`, first known first; a job written here but
        due later stays."""
        claimable = (
            key
            for key, doc in self._docs.items()
            if doc["status"] == JobStatus.RUNNING.value or doc["nextRunAt"] <= now
        )
        ready = list(islice(claimable, limit))
        return [self._docs.pop(key) for key in ready]


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
    jobs: AsyncCollection[Doc], docs: Sequence[Doc], worker_id: str, lease_seconds: float, now: datetime
) -> list[Doc]:
    """The jobs among `docs` now claimed for `worker_id`, as stored: one write for all of them.

    Each claim's filter names the job as known, so one that changed since matches nothing and is
    left out. The write's count tells when every claim matched (nearly always); only when some did
    not does a read by `_id` tell which ones this write claimed.
    """
    now = stored(now)
    fields = {
        "status": JobStatus.RUNNING.value,
        "leaseOwner": worker_id,
        # Kept after the lease ends: which worker made the latest attempt.
        "lastWorker": worker_id,
        "leaseExpiresAt": now + timedelta(seconds=lease_seconds),
        "updatedAt": now,
    }
    writes: list[UpdateOne] = []
    claimed: list[Doc] = []
    for doc in docs:
        # A document from before revisions has none: `None` matches the missing field.
        revision = doc.get("revision")
        read = {"_id": doc["_id"], "revision": revision, "status": doc["status"]}
        writes.append(UpdateOne(read, {"$set": fields, "$inc": {"attempts": 1, "revision": 1}}))
        claimed.append(doc | fields | {"attempts": doc["attempts"] + 1, "revision": (revision or 0) + 1})
    if not writes:
        return []
    result = await jobs.bulk_write(writes, ordered=False)
    if result.matched_count == len(writes):
        return claimed
    # This worker holds one claim write at a time, and every change bumps the revision: a job
    # under this worker's lease at exactly the revision this write set is one it claimed.
    ids = [doc["_id"] for doc in claimed]
    held = jobs.find({"_id": {"$in": ids}, "leaseOwner": worker_id}, {"revision": 1})
    revisions = {doc["_id"]: doc["revision"] async for doc in held}
    return [doc for doc in claimed if revisions.get(doc["_id"]) == doc["revision"]]
