"""A worker claims the ready jobs in one write, runs them at once, and writes the outcomes known
together in one write, without holding a known outcome back for a slow call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.enrollment import Enrollment
from domain.jobs import Decision, Job, JobKind
from jobs.handlers import JobHandler
from jobs.pool import WorkerPool
from sandbox.embedded import ManagedServer
from store.database import Collections
from store.enrollment_docs import enrollment_from
from store.job_docs import keyed, new_job
from tests.commands import CommandLog
from tests.jobs.job_flows import (
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_has_status,
    job_pool,
    job_settings,
)
from tests.jobs.stand_in_lms import Reply, StandInLms


def claims(commands: CommandLog) -> list[set[str]]:
    """The jobs each claim write (which sets them RUNNING) carried, in order."""
    return [_ids(update) for update in commands.of("update", "jobs") if _sets_running(update)]


def outcomes(commands: CommandLog) -> list[set[str]]:
    """The jobs each outcome write (which requires the claim held) carried, in order."""
    return [_ids(update) for update in commands.of("update", "jobs") if _requires_claim(update)]


def _sets_running(update: Mapping[str, Any]) -> bool:
    return bool(update["updates"][0]["u"].get("$set", {}).get("status") == "RUNNING")


def _requires_claim(update: Mapping[str, Any]) -> bool:
    held = update["updates"][0]["q"]
    return "leaseOwner" in held and held.get("status") == "RUNNING"


def _ids(update: Mapping[str, Any]) -> set[str]:
    return {statement["q"]["_id"] for statement in update["updates"]}


@dataclass(frozen=True)
class Approved:
    db: Collections
    enrollment_id: str
    pool: WorkerPool  # not started yet

    def job(self, kind: str) -> str:
        return f"{self.enrollment_id}:{kind}"


@contextlib.asynccontextmanager
async def approved_jobs(
    mongo_server: ManagedServer,
    redis_server: ManagedServer,
    lms: StandInLms,
    writes: CommandLog,
    handlers: Mapping[JobKind, JobHandler] | None = None,
) -> AsyncIterator[Approved]:
    """An approval's jobs, written by an app without workers, and a pool (batches of 8) on a
    database client `writes` hears."""
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=0)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-b")
        await approve(app, enrollment_id)
        pool = job_pool(
            settings, mongo_server.url, batch=8, lease_seconds=30, listeners=[writes], handlers=handlers
        )
        async with pool as started_later:
            yield Approved(db, enrollment_id, started_later)


async def test_ready_jobs_are_claimed_in_one_write_and_outcomes_known_together_share_one(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # Every call answered after the same pause: the batch's calls end together.
    lms = StandInLms(default=Reply(delay=0.2))
    writes = CommandLog()
    async with approved_jobs(mongo_server, redis_server, lms, writes) as approved:
        db = approved.db
        ready = {doc["_id"] async for doc in db.jobs.find({}, {"_id": 1})}
        assert len(ready) >= 2  # the access job and the student's notices
        approved.pool.start()
        await eventually(lambda: job_has_status(db, approved.job("provision_access"), "SUCCEEDED"))
        await eventually(lambda: _none_left(db))

    assert claims(writes)[0] == ready
    assert outcomes(writes)[0] == ready
    # The access job's success then wrote one more notice (access is ready): its own batch.
    assert all(claim.isdisjoint(ready) for claim in claims(writes)[1:])


async def _none_left(db: Collections) -> bool:
    return await db.jobs.count_documents({"status": {"$ne": "SUCCEEDED"}}) == 0


async def test_an_outcome_is_written_without_waiting_for_a_slow_call_of_its_batch(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # The LMS holds its call until released; the notifier answers at once.
    lms = StandInLms(script=[Reply(hold=True)])
    writes = CommandLog()
    async with approved_jobs(mongo_server, redis_server, lms, writes) as approved:
        db, provision, notify = approved.db, approved.job("provision_access"), approved.job("notify_student")
        approved.pool.start()
        await eventually(lambda: job_has_status(db, notify, "SUCCEEDED"))
        # Written while the batch's LMS call is still out.
        assert await job_has_status(db, provision, "RUNNING")
        assert len(lms.calls) >= 2 and provision in claims(writes)[0] and notify in claims(writes)[0]
        assert provision not in set().union(*outcomes(writes))
        lms.release()  # answered 499: the job's own outcome, a write of its own
        await eventually(lambda: _left_running(db, provision))
    assert any(outcome == {provision} for outcome in outcomes(writes))


async def _left_running(db: Collections, job_id: str) -> bool:
    return not await job_has_status(db, job_id, "RUNNING")


class Raises:
    async def run(self, job: Job) -> Decision:
        raise RuntimeError(f"a bug in the handler of {job.id}")


class CancelsItself:
    async def run(self, job: Job) -> Decision:
        raise asyncio.CancelledError


async def test_a_handler_that_raises_or_cancels_loses_only_its_own_outcome(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms()
    writes = CommandLog()
    handlers: dict[JobKind, JobHandler] = {
        JobKind.PROVISION_ACCESS: Raises(),
        JobKind.NOTIFY_ADMINS: CancelsItself(),
    }
    async with approved_jobs(mongo_server, redis_server, lms, writes, handlers) as approved:
        db, provision, notify = approved.db, approved.job("provision_access"), approved.job("notify_student")
        enrollment = await _enrollment_of(approved)
        # Another kind of job, cancelled by its own handler, in the same batch.
        alert = _job(f"{enrollment.id}:alert", enrollment, JobKind.NOTIFY_ADMINS)
        await db.jobs.insert_one(alert)
        approved.pool.start()
        await eventually(lambda: job_has_status(db, notify, "SUCCEEDED"))
        # Theirs wait for the lease to run out, and another attempt follows.
        for held in (provision, alert["_id"]):
            assert await job_has_status(db, held, "RUNNING")
        assert [outcome for outcome in outcomes(writes) if outcome & {provision, alert["_id"]}] == []
        # The worker carries on.
        later = _job(f"{enrollment.id}:later", enrollment, JobKind.NOTIFY_STUDENT)
        await db.jobs.insert_one(later)
        approved.pool.wake()
        await eventually(lambda: job_has_status(db, later["_id"], "SUCCEEDED"))


async def _enrollment_of(approved: Approved) -> Enrollment:
    doc = await approved.db.enrollments.find_one({"_id": approved.enrollment_id})
    assert doc is not None
    return enrollment_from(doc)


def _job(key: str, enrollment: Enrollment, kind: JobKind) -> dict[str, Any]:
    return keyed(key, new_job(enrollment, kind, datetime.now(UTC)))
