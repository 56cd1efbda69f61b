"""Two worker pools in two processes on one database: each job runs, and never twice at once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sandbox.embedded import ManagedServer
from tests.jobs.job_flows import (
    JOBS,
    all_jobs_succeeded,
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_settings,
)
from tests.jobs.stand_in_lms import Reply, StandInLms
from tests.processes import HANG_GUARD, enrollwire

APPROVALS = 500
# PROVISION_ACCESS, and NOTIFY_STUDENT's enrollment_received, approved and access_ready.
JOBS_PER_ENROLLMENT = 4
# Approvals run at most this far ahead of the LMS calls. Both pools stay busy all along; an
# unbounded backlog would only make each claim slower on the test database, which sorts every
# due job per claim where MongoDB walks an index.
AHEAD = 50


async def test_two_pools_never_run_one_job_twice_at_once(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    # A short answer delay keeps many calls in flight at once, where an overlap would show.
    lms = StandInLms(default=Reply(delay=0.01))
    # A lease far beyond any call here: no job may run twice, not even after its lease.
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=4, job_lease_seconds=120)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        async with enrollwire("worker", settings, tmp_path / "worker.log") as other_pool:
            assert other_pool.process is not None
            await create_course(app)
            enrolling = asyncio.Semaphore(10)

            async def enrolled(n: int) -> str:
                async with enrolling:
                    return await awaiting_approval(app, f"stu-{n}")

            ids = await asyncio.gather(*(enrolled(n) for n in range(APPROVALS)))
            # Each EFT enrollment's notice (its reference, by webhook and by e-mail to the sandbox's
            # sink) first: approvals then queue behind nothing. A hang guard for 500 jobs.
            await eventually(lambda: all_jobs_succeeded(db, APPROVALS), seconds=5 * HANG_GUARD)
            ahead, approving = asyncio.Semaphore(AHEAD), asyncio.Semaphore(20)

            async def approved_and_called(enrollment_id: str) -> None:
                async with ahead:
                    async with approving:
                        await approve(app, enrollment_id)
                    await lms.wait_for(
                        lambda: (
                            ("/lms", f"{enrollment_id}:provision_access") in lms.answered_ok
                            and ("/notify", f"{enrollment_id}:notify_student") in lms.answered_ok
                        ),
                        seconds=HANG_GUARD,
                    )

            await asyncio.gather(*(approved_and_called(i) for i in ids))
            # Per enrollment: its reference, and per approval: access, the approval, access ready.
            await eventually(
                lambda: all_jobs_succeeded(db, JOBS_PER_ENROLLMENT * APPROVALS), seconds=HANG_GUARD
            )

        assert lms.overlaps == []
        assert len(lms.succeeded("/lms")) == APPROVALS
        assert len(lms.succeeded("/notify")) == (JOBS_PER_ENROLLMENT - 1) * APPROVALS
        # Nothing failed and no lease ran out, so no job was even sent twice.
        assert set(lms.per_key("/lms").values()) == {1}
        assert set(lms.per_key("/notify").values()) == {1}
        owners = {doc["leaseOwner"] async for doc in db.jobs.find({}, {"leaseOwner": 1})}
        assert owners == {None}
        # Worker ids are host:pid:pool:n; both processes' pools took part.
        workers = {doc["lastWorker"] async for doc in db.jobs.find({}, {"lastWorker": 1})}
        assert {int(w.split(":")[1]) for w in workers} == {os.getpid(), other_pool.process.pid}
        listed = (await app.gql(JOBS, {"status": "SUCCEEDED", "first": 100}, app.admin))["data"]["jobs"]
        assert listed["totalCount"] == JOBS_PER_ENROLLMENT * APPROVALS
        assert listed["pageInfo"]["hasNextPage"] is True
