"""A worker claims the ready jobs in one write, runs them at once, and writes the outcomes known
together in one write, without holding a known outcome back for a slow call."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pymongo.monitoring import CommandFailedEvent, CommandListener, CommandStartedEvent, CommandSucceededEvent

from jobs.pool import WorkerPool
from sandbox.embedded import ManagedServer
from store.database import Collections
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


@dataclass
class JobWrites(CommandListener):
    """The jobs each claim write and each outcome write carried, in order."""

    claims: list[set[str]] = field(default_factory=list)
    outcomes: list[set[str]] = field(default_factory=list)

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name != "update" or event.command.get("update") != "jobs":
            return
        statements: list[dict[str, Any]] = list(event.command["updates"])
        ids = {statement["q"]["_id"] for statement in statements}
        first = statements[0]
        if first["u"].get("$set", {}).get("status") == "RUNNING":
            self.claims.append(ids)
        elif first["q"].get("status") == "RUNNING" and "leaseOwner" in first["q"]:
            self.outcomes.append(ids)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@dataclass(frozen=True)
class Approved:
    db: Collections
    enrollment_id: str
    pool: WorkerPool  # not started yet

    def job(self, kind: str) -> str:
        return f"{self.enrollment_id}:{kind}"


@contextlib.asynccontextmanager
async def approved_jobs(
    mongo_server: ManagedServer, redis_server: ManagedServer, lms: StandInLms, writes: JobWrites
) -> AsyncIterator[Approved]:
    """An approval's jobs, written by an app without workers, and a pool (batches of 8) on a
    database client `writes` hears."""
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=0)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-b")
        await approve(app, enrollment_id)
        pool = job_pool(settings, mongo_server.url, batch=8, lease_seconds=30, listeners=[writes])
        async with pool as started_later:
            yield Approved(db, enrollment_id, started_later)


async def test_ready_jobs_are_claimed_in_one_write_and_outcomes_known_together_share_one(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # Every call answered after the same pause: the batch's calls end together.
    lms = StandInLms(default=Reply(delay=0.2))
    writes = JobWrites()
    async with approved_jobs(mongo_server, redis_server, lms, writes) as approved:
        db = approved.db
        ready = {doc["_id"] async for doc in db.jobs.find({}, {"_id": 1})}
        assert len(ready) >= 2  # the access job and the student's notices
        approved.pool.start()
        await eventually(lambda: job_has_status(db, approved.job("provision_access"), "SUCCEEDED"))
        await eventually(lambda: _none_left(db))

    assert writes.claims[0] == ready
    assert writes.outcomes[0] == ready
    # The access job's success then wrote one more notice (access is ready): its own batch.
    assert all(claim.isdisjoint(ready) for claim in writes.claims[1:])


async def _none_left(db: Collections) -> bool:
    return await db.jobs.count_documents({"status": {"$ne": "SUCCEEDED"}}) == 0


async def test_an_outcome_is_written_without_waiting_for_a_slow_call_of_its_batch(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # The LMS holds its call until released; the notifier answers at once.
    lms = StandInLms(script=[Reply(hold=True)])
    writes = JobWrites()
    async with approved_jobs(mongo_server, redis_server, lms, writes) as approved:
        db, provision, notify = approved.db, approved.job("provision_access"), approved.job("notify_student")
        approved.pool.start()
        await eventually(lambda: job_has_status(db, notify, "SUCCEEDED"))
        # Written while the batch's LMS call is still out.
        assert await job_has_status(db, provision, "RUNNING")
        assert len(lms.calls) >= 2 and provision in writes.claims[0] and notify in writes.claims[0]
        assert provision not in set().union(*writes.outcomes)
        lms.release()  # answered 499: the job's own outcome, a write of its own
        await eventually(lambda: _left_running(db, provision))
    assert any(outcome == {provision} for outcome in writes.outcomes)


async def _left_running(db: Collections, job_id: str) -> bool:
    return not await job_has_status(db, job_id, "RUNNING")
