"""The LMS is away: approvals do not notice, and the jobs finish once it is back."""

from __future__ import annotations

import asyncio

from sandbox.embedded import ManagedServer
from tests.jobs.job_flows import (
    JOB_STATS,
    all_jobs_succeeded,
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_settings,
)
from tests.jobs.stand_in_lms import StandInLms

APPROVALS = 50
# Per enrollment while both are down: PROVISION_ACCESS and the notices of the EFT enrollment and
# its approval (access_ready follows once the LMS answers).
WAITING = 3


async def test_approvals_succeed_while_the_lms_is_down(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms()  # not serving yet: every call is refused
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_max_attempts=10_000)
    async with instance(settings) as app, database(settings) as db:
        await create_course(app)
        ids = [await awaiting_approval(app, f"stu-{n}") for n in range(APPROVALS)]
        approved = await asyncio.gather(*(approve(app, i) for i in ids))
        assert all(p["enrollment"]["status"] == "APPROVED" for p in approved)
        assert all(p["enrollment"]["access"]["status"] == "PENDING" for p in approved)

        async def refused_at_least_once() -> bool:
            return await db.jobs.count_documents({"errors.0": {"$exists": True}}) == WAITING * APPROVALS

        await eventually(refused_at_least_once)
        stats = (await app.gql(JOB_STATS, None, app.admin))["data"]["jobStats"]
        assert stats["succeeded"] == 0 and stats["dead"] == 0
        assert stats["pending"] + stats["running"] == WAITING * APPROVALS
        assert stats["oldestPendingSeconds"] is None or stats["oldestPendingSeconds"] >= 0
        failure = await db.jobs.find_one({"errors.0": {"$exists": True}})
        assert failure is not None and "ConnectError" in failure["errors"][0]["error"]

        async with lms.serving():
            await eventually(lambda: all_jobs_succeeded(db, (WAITING + 1) * APPROVALS))
            assert len(lms.succeeded("/lms")) == APPROVALS
            assert len(lms.succeeded("/notify")) == WAITING * APPROVALS
            assert lms.overlaps == []

            async def all_provisioned() -> bool:
                return await db.enrollments.count_documents({"access.status": "PROVISIONED"}) == APPROVALS

            await eventually(all_provisioned)
        stats = (await app.gql(JOB_STATS, None, app.admin))["data"]["jobStats"]
        assert stats == {
            "pending": 0,
            "running": 0,
            "succeeded": (WAITING + 1) * APPROVALS,
            "dead": 0,
            "oldestPendingSeconds": None,
        }
