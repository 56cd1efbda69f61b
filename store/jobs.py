"""Provisioning jobs: written idempotently, claimed with a lease, finished only by the lease holder.

Every state change is one conditional update whose filter states its precondition
(claimable as read; still holding this claim; DEAD), so two workers never run one job at
once and a worker whose lease was taken over cannot overwrite the newer outcome. Claims and
outcomes update by `_id` (a point lookup for any store) and know their result without
reading it back. A worker's claims go in one command, and so do the outcomes it knows at
once: each command is a round trip, and a record of its own in the store's retryable-write
log, whatever the number of jobs it carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel, ReturnDocument

from domain.audit import AuditEntry
from domain.enrollment import Enrollment
from domain.jobs import (
    ACCESS_KINDS,
    Decision,
    Job,
    JobKind,
    JobStats,
    JobStatus,
    job_id,
)
from domain.notifications import Notice
from domain.ports import Page
from store.audit import OUTBOX, outbox_document
from store.database import Collections, Doc, insert_new, stored
from store.job_claims import Candidates, take
from store.job_docs import effect_jobs, job_from, keyed, new_job, notice_id, notice_job
from store.job_outcomes import held_by, outcome_write
from store.job_retention import COUNTS_COLLECTION, DEFAULT_RETENTION, SucceededCounts
from store.job_stats import job_stats, oldest_pending
from store.pages import keyset_page
from store.transitions import literal

__all__ = ["JOB_INDEXES", "JobKind", "JobStatus", "MongoJobQueue"]

# No query reads jobs by enrollment (a job's id names its enrollment); every write kept this
# index up to date for nothing, so startup drops it where an earlier version created it.
RETIRED_JOB_INDEXES = ("by_enrollment",)

JOB_INDEXES = [
    IndexModel([("status", ASCENDING), ("nextRunAt", ASCENDING)], name="claimable"),
    IndexModel([("status", ASCENDING), ("leaseExpiresAt", ASCENDING)], name="by_lease"),
    IndexModel([("status", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_status"),
    IndexModel([("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_created"),
    IndexModel([("accessDirty", ASCENDING), ("updatedAt", ASCENDING)], name="by_access_dirty"),
]


class MongoJobQueue:
    def __init__(self, collections: Collections, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._jobs = collections.jobs
        self._succeeded = SucceededCounts(collections.db[COUNTS_COLLECTION], retention)
        self._listeners: list[Callable[[bool], None]] = []
        self._candidates = Candidates()

    def on_enqueue(self, listener: Callable[[bool], None]) -> None:
        """Called after jobs were written by this process, to wake idle local workers; the argument
        says whether a job is due later (the scheduler has to hear of it) rather than now."""
        self._listeners.append(listener)

    async def enqueue_effects(
        self,
        approved: Sequence[Enrollment],
        revoked: Sequence[Enrollment],
        notices: Sequence[tuple[Enrollment, Notice]],
    ) -> None:
        await self._insert(effect_jobs(approved, revoked, notices, stored(datetime.now(UTC))))

    async def enqueue_notice(self, enrollment: Enrollment, notice: Notice) -> None:
        """Once per (enrollment, template, key): a second call for the same event writes nothing."""
        job = notice_job(enrollment, notice, stored(datetime.now(UTC)))
        await self._insert([keyed(notice_id(enrollment.id, notice), job)])

    async def enqueue_reconcile(self, enrollment: Enrollment, reference: str, run_at: datetime) -> None:
        kind = JobKind.RECONCILE_PAYMENT
        doc = new_job(enrollment, kind, datetime.now(UTC)) | {"nextRunAt": run_at, "reference": reference}
        await insert_new(self._jobs, [keyed(f"{job_id(enrollment.id, kind)}:{reference}", doc)])
        # Due later: the scheduler, not the idle workers, has to hear of it.
        self._notify(later=True)

    async def _insert(self, docs: Sequence[Doc]) -> None:
        # A job already written (the same change settled again) is left as it is.
        new = await insert_new(self._jobs, docs)
        if new == len(docs):
            # Known exactly as stored: claimed without reading the queue.
            self._candidates.written(docs, stored(datetime.now(UTC)))
        elif new:
            # Which ones were there already is not known, and those may have moved on: read.
            self._candidates.unknown = True
        if new:
            self._notify()

    def _notify(self, *, later: bool = False) -> None:
        for listener in self._listeners:
            listener(later)

    async def get(self, job_id: str) -> Job | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return None if doc is None else job_from(doc)

    async def claim_jobs(self, worker_id: str, lease_seconds: float, now: datetime, limit: int) -> list[Job]:
        """Up to `limit` ready jobs, claimed for `worker_id` in one write; empty when none is ready.

        Candidates (store/job_claims.py) are the jobs this process just wrote and those an indexed
        read found; each claim is an update by `_id` whose filter names the revision known, and
        all of them go in one command. A stale candidate costs a claim that matches nothing.
        """
        fetched = self._candidates.read_due(now)
        if fetched:
            await self._candidates.read(self._jobs, now)
        while True:
            while candidates := self._candidates.pop(now, limit):
                claimed = await take(self._jobs, candidates, worker_id, lease_seconds, now)
                if claimed:
                    return [job_from(doc) for doc in claimed]
            if fetched or not self._candidates.read_due(now):
                return []
            await self._candidates.read(self._jobs, now)
            fetched = True

    async def finish_jobs(self, outcomes: Sequence[tuple[Job, Decision]], now: datetime) -> list[Job | None]:
        """Record claimed attempts' outcomes in one write; None for a job whose lease was lost.

        Each is an update by `_id` whose filter (this claim still held) means nothing else wrote
        the job since it was claimed, so the outcome is known without reading it back; only a
        write that did not match them all reads which ones it wrote.
        """
        now = stored(now)
        finished = [outcome_write(job, decision, now) for job, decision in outcomes]
        if not finished:
            return []
        written = await self._jobs.bulk_write([write for write, _ in finished], ordered=False)
        done = [job for _, job in finished]
        jobs = list[Job | None](done) if written.matched_count == len(done) else await self._written(done)
        if succeeded := sum(1 for job in jobs if job is not None and job.status is JobStatus.SUCCEEDED):
            self._succeeded.add(now, succeeded)
        if self._succeeded.write_due:
            await self._succeeded.write()
        return jobs

    async def _written(self, finished: Sequence[Job]) -> list[Job | None]:
        # A lease is lost only to another worker's claim, which sets its owner: a job at exactly
        # the revision an outcome set, with no owner, is one this write finished.
        ids = [job.id for job in finished]
        cursor = self._jobs.find({"_id": {"$in": ids}}, {"revision": 1, "leaseOwner": 1})
        now_at = {doc["_id"]: (doc["revision"], doc.get("leaseOwner")) async for doc in cursor}
        return [job if now_at.get(job.id) == (job.revision, None) else None for job in finished]

    async def flush(self) -> None:
        await self._succeeded.write()

    async def release(self, job: Job, now: datetime) -> bool:
        """Give an interrupted claim back at once (shutdown); the attempt is not counted."""
        result = await self._jobs.update_one(
            held_by(job),
            {
                "$set": {
                    "status": JobStatus.PENDING.value,
                    "nextRunAt": now,
                    "leaseOwner": None,
                    "leaseExpiresAt": None,
                    "updatedAt": now,
                },
                "$inc": {"attempts": -1, "revision": 1},
            },
        )
        if result.modified_count != 1:
            return False
        self._candidates.unknown = True
        return True

    async def retry_dead(self, job_id: str, now: datetime, entry: AuditEntry) -> Job | None:
        """DEAD -> PENDING with a fresh attempt budget; None when the job is not DEAD."""
        entries = outbox_document(entry)[OUTBOX]
        doc = await self._jobs.find_one_and_update(
            {"_id": job_id, "status": JobStatus.DEAD.value},
            [
                {
                    "$set": {
                        "status": JobStatus.PENDING.value,
                        "nextRunAt": now,
                        "roundStart": "$attempts",
                        "roundStartedAt": now,
                        "revision": {"$add": ["$revision", 1]},
                        "accessDirty": {"$in": ["$kind", sorted(k.value for k in ACCESS_KINDS)]},
                        "updatedAt": now,
                        OUTBOX: {"$concatArrays": [{"$ifNull": [f"${OUTBOX}", []]}, literal(entries)]},
                    }
                }
            ],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        self._candidates.unknown = True
        self._notify()
        return job_from(doc)

    async def job_of(self, enrollment_id: str, kind: JobKind) -> Job | None:
        return await self.get(job_id(enrollment_id, kind))

    async def dead_ids(self, kind: JobKind, after: str | None, limit: int) -> list[str]:
        query: Doc = {"status": JobStatus.DEAD.value, "kind": kind.value}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self._jobs.find(query, {"_id": 1}).sort("_id", ASCENDING).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def mark_access_synced(self, job: Job) -> None:
        # Only if nothing newer happened to the job; a newer state is mirrored by its own writer.
        await self._jobs.update_one(
            {"_id": job.id, "revision": job.revision}, {"$set": {"accessDirty": False}}
        )

    async def access_unsynced(self, older_than: datetime, limit: int) -> list[Job]:
        cursor = self._jobs.find({"accessDirty": True, "updatedAt": {"$lt": older_than}}).limit(limit)
        return [job_from(doc) async for doc in cursor]

    async def next_due(self, now: datetime) -> datetime | None:
        """When the next job becomes claimable: the earliest due PENDING job or expiring lease."""
        pending = await self._jobs.find_one(
            {"status": JobStatus.PENDING.value}, {"nextRunAt": 1}, sort=[("nextRunAt", ASCENDING)]
        )
        running = await self._jobs.find_one(
            {"status": JobStatus.RUNNING.value}, {"leaseExpiresAt": 1}, sort=[("leaseExpiresAt", ASCENDING)]
        )
        times: list[datetime] = []
        if pending is not None and pending.get("nextRunAt") is not None:
            times.append(pending["nextRunAt"])
        if running is not None and running.get("leaseExpiresAt") is not None:
            times.append(running["leaseExpiresAt"])
        due = min(times, default=None)
        if due is not None and due <= now:
            # The workers will be woken for it: it may be no candidate (another process's job, a
            # retry come due, an expired lease), so their next claim reads the queue.
            self._candidates.unknown = True
        return due

    async def stats(self, now: datetime) -> JobStats:
        return await job_stats(self._jobs, self._succeeded, now)

    async def oldest_pending(self, now: datetime) -> dict[JobKind, float]:
        return await oldest_pending(self._jobs, now)

    async def page(self, status: JobStatus | None, first: int, after: str | None) -> Page[Job]:
        query: Doc = {} if status is None else {"status": status.value}
        return await keyset_page(self._jobs, query, first, after, job_from)
