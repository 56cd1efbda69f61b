"""Provisioning jobs: written idempotently, claimed with a lease, finished only by the lease holder.

Every state change is one `find_one_and_update` whose filter states its precondition
(claimable; still holding this claim; DEAD), so two workers never run one job at once
and a worker whose lease was taken over cannot overwrite the newer outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne

from domain.enrollment import Enrollment
from domain.jobs import APPROVAL_KINDS, Decision, Job, JobKind, JobStats, JobStatus, Verdict
from domain.notifications import Notice
from domain.ports import Page
from store.database import Collections, Doc
from store.job_docs import approval_notice, job_from, job_id, new_job, notice_id
from store.pages import keyset_page

__all__ = ["JOB_INDEXES", "JobKind", "JobStatus", "MongoJobQueue", "job_id"]

JOB_INDEXES = [
    IndexModel([("status", ASCENDING), ("nextRunAt", ASCENDING)], name="claimable"),
    IndexModel([("status", ASCENDING), ("leaseExpiresAt", ASCENDING)], name="by_lease"),
    IndexModel([("status", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_status"),
    IndexModel([("createdAt", ASCENDING), ("_id", ASCENDING)], name="by_created"),
    IndexModel([("enrollmentId", ASCENDING)], name="by_enrollment"),
    IndexModel([("accessDirty", ASCENDING), ("updatedAt", ASCENDING)], name="by_access_dirty"),
]

# Enough to see a pattern in an admin console; a job's document stays small.
ERROR_HISTORY = 20


def _held_by(job: Job) -> Doc:
    # The claim is (owner, attempt): even the same worker id cannot finish an older claim.
    return {
        "_id": job.id,
        "status": JobStatus.RUNNING.value,
        "leaseOwner": job.lease_owner,
        "attempts": job.attempts,
    }


def _mirrors_access(kind: JobKind) -> bool:
    return kind is JobKind.PROVISION_ACCESS


class MongoJobQueue:
    def __init__(self, collections: Collections) -> None:
        self._jobs = collections.jobs
        self._listeners: list[Callable[[], None]] = []

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Called after jobs were written by this process, to wake idle local workers."""
        self._listeners.append(listener)

    async def enqueue_for_approval(self, enrollment: Enrollment) -> None:
        now = datetime.now(UTC)
        writes = [
            UpdateOne(
                {"_id": job_id(enrollment.id, kind)},
                {"$setOnInsert": new_job(enrollment, kind, now) | approval_notice(enrollment, kind)},
                upsert=True,
            )
            for kind in APPROVAL_KINDS
        ]
        await self._jobs.bulk_write(writes, ordered=False)
        self._notify()

    async def enqueue_notice(self, enrollment: Enrollment, notice: Notice) -> None:
        """Once per (enrollment, template, key): a second call for the same event writes nothing."""
        doc = new_job(enrollment, notice.kind, datetime.now(UTC)) | {
            "template": notice.template,
            "data": dict(notice.data),
        }
        await self._jobs.update_one(
            {"_id": notice_id(enrollment.id, notice)}, {"$setOnInsert": doc}, upsert=True
        )
        self._notify()

    async def enqueue_reconcile(self, enrollment: Enrollment, reference: str, run_at: datetime) -> None:
        kind = JobKind.RECONCILE_PAYMENT
        doc = new_job(enrollment, kind, datetime.now(UTC)) | {"nextRunAt": run_at, "reference": reference}
        await self._jobs.update_one(
            {"_id": f"{job_id(enrollment.id, kind)}:{reference}"}, {"$setOnInsert": doc}, upsert=True
        )
        # Due later: the scheduler, not the idle workers, has to hear of it.
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    async def get(self, job_id: str) -> Job | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return None if doc is None else job_from(doc)

    async def claim_job(self, worker_id: str, lease_seconds: float, now: datetime) -> Job | None:
        # Two claims, each walking its own index in order, rather than one `$or`: sorted on one
        # field, an `$or` walks neither branch's index in order, so MongoDB would sort every due
        # job on every claim. A lease that ran out goes first: its job has waited a whole lease.
        for ready, order in (
            ({"status": JobStatus.RUNNING.value, "leaseExpiresAt": {"$lte": now}}, "leaseExpiresAt"),
            ({"status": JobStatus.PENDING.value, "nextRunAt": {"$lte": now}}, "nextRunAt"),
        ):
            doc = await self._jobs.find_one_and_update(
                ready,
                {
                    "$set": {
                        "status": JobStatus.RUNNING.value,
                        "leaseOwner": worker_id,
                        # Kept after the lease ends: which worker made the latest attempt.
                        "lastWorker": worker_id,
                        "leaseExpiresAt": now + timedelta(seconds=lease_seconds),
                        "updatedAt": now,
                    },
                    "$inc": {"attempts": 1, "revision": 1},
                },
                sort=[(order, ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return job_from(doc)
        return None

    async def finish(self, job: Job, decision: Decision, now: datetime) -> Job | None:
        """Record the claimed attempt's outcome; None when the lease was lost meanwhile."""
        fields: Doc = {"leaseOwner": None, "leaseExpiresAt": None, "updatedAt": now}
        update: dict[str, Any] = {"$set": fields, "$inc": {"revision": 1}}
        if decision.verdict is Verdict.SUCCEEDED:
            fields |= {"status": JobStatus.SUCCEEDED.value, "nextRunAt": None, "lastError": None}
            if decision.result is not None:
                fields["result"] = dict(decision.result)
        else:
            retry = decision.verdict is Verdict.RETRY
            fields |= {
                "status": (JobStatus.PENDING if retry else JobStatus.DEAD).value,
                "nextRunAt": now + timedelta(seconds=decision.delay) if retry else None,
                "lastError": decision.error,
            }
            entry = {"attempt": job.attempts, "error": decision.error, "at": now, "delay": decision.delay}
            update["$push"] = {"errors": {"$each": [entry], "$slice": -ERROR_HISTORY}}
        fields["accessDirty"] = _mirrors_access(job.kind)
        doc = await self._jobs.find_one_and_update(
            _held_by(job), update, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else job_from(doc)

    async def release(self, job: Job, now: datetime) -> bool:
        """Give an interrupted claim back at once (shutdown); the attempt is not counted."""
        result = await self._jobs.update_one(
            _held_by(job),
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
        return result.modified_count == 1

    async def retry_dead(self, job_id: str, now: datetime) -> Job | None:
        """DEAD -> PENDING with a fresh attempt budget; None when the job is not DEAD."""
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
                        "accessDirty": {"$eq": ["$kind", JobKind.PROVISION_ACCESS.value]},
                        "updatedAt": now,
                    }
                }
            ],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
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
        return min(times, default=None)

    async def stats(self, now: datetime) -> JobStats:
        counts = {status: 0 for status in JobStatus}
        async for row in await self._jobs.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            counts[JobStatus(row["_id"])] = row["n"]
        # A reconciliation waits on purpose (up to a checkout's TTL): it is not a queue falling behind.
        waiting = {"status": JobStatus.PENDING.value, "kind": {"$ne": JobKind.RECONCILE_PAYMENT.value}}
        oldest = await self._jobs.find_one(waiting, {"createdAt": 1}, sort=[("createdAt", ASCENDING)])
        age = None if oldest is None else max(0.0, (now - oldest["createdAt"]).total_seconds())
        return JobStats(
            pending=counts[JobStatus.PENDING],
            running=counts[JobStatus.RUNNING],
            succeeded=counts[JobStatus.SUCCEEDED],
            dead=counts[JobStatus.DEAD],
            oldest_pending_seconds=age,
        )

    async def page(self, status: JobStatus | None, first: int, after: str | None) -> Page[Job]:
        query: Doc = {} if status is None else {"status": status.value}
        return await keyset_page(self._jobs, query, first, after, job_from)
