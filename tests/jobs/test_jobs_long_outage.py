"""The LMS is down for "20 minutes": nobody approved meanwhile is lost.

Time is scaled by 1/100 (every job setting and the outage alike): base 20 ms, cap 9 s,
give-up 864 s, the outage 12 s. Coarser scales drown the schedule in the test store's own
latency: the old budget (6 attempts) then outlasts the outage by accident. Two instances
work the same queue, so a job run twice at once would show at the stand-in as an overlap.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sandbox.embedded import ManagedServer, free_port
from tests.jobs.job_flows import (
    JOB_STATS,
    access_is,
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_settings,
)
from tests.jobs.stand_in_lms import OK, Reply, StandInLms, launch_url

SCALE = 1 / 100
OUTAGE_SECONDS = 20 * 60 * SCALE
APPROVALS = 20


def scaled(lms: StandInLms, mongo_url: str, redis_url: str, **overrides: Any) -> Any:
    return job_settings(
        mongo_url,
        redis_url,
        lms,
        job_backoff_base_seconds=2 * SCALE,
        job_backoff_cap_seconds=900 * SCALE,
        job_give_up_after_seconds=86400 * SCALE,
        job_poll_seconds=0.1,
        **overrides,
    )


async def test_every_approval_is_provisioned_after_a_20_minute_outage(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms(default=Reply(503))
    settings = scaled(lms, mongo_server.url, redis_server.url)
    other = settings.model_copy(update={"port": free_port()})
    async with lms.serving(), instance(settings) as app, instance(other), database(settings) as db:
        await create_course(app)
        ids = [await awaiting_approval(app, f"stu-out-{n}") for n in range(APPROVALS)]
        await asyncio.gather(*(approve(app, i) for i in ids))

        def all_refused() -> bool:
            return len({c.key for c in lms.calls if c.path == "/lms" and c.status == 503}) == APPROVALS

        await lms.wait_for(all_refused)
        # The outage's length is the scenario's input, not a wait for something to happen.
        await asyncio.sleep(OUTAGE_SECONDS)
        lms.default = OK

        async def all_provisioned() -> bool:
            done = await db.enrollments.count_documents({"access.status": "PROVISIONED"})
            return done == APPROVALS

        await eventually(all_provisioned)
        async for doc in db.enrollments.find({"_id": {"$in": ids}}, {"access": 1}):
            assert doc["access"]["launchUrl"] == launch_url(doc["_id"])
        stats = (await app.gql(JOB_STATS, None, app.admin))["data"]["jobStats"]
        assert stats["dead"] == 0
        assert lms.overlaps == []
        # Refused, then provisioned; the backoff kept each well inside the attempt budget.
        attempts = [doc["attempts"] async for doc in db.jobs.find({"kind": "PROVISION_ACCESS"})]
        assert len(attempts) == APPROVALS and min(attempts) >= 2 and max(attempts) < 25


async def test_a_job_gives_up_by_time_before_its_attempt_cap(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms(default=Reply(503))
    settings = job_settings(
        mongo_server.url,
        redis_server.url,
        lms,
        job_max_attempts=10_000,
        job_give_up_after_seconds=0.5,
    )
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-give-up")
        await approve(app, enrollment_id)
        await eventually(lambda: access_is(db, enrollment_id, "FAILED"))
        job = await db.jobs.find_one({"_id": f"{enrollment_id}:provision_access"})
        assert job is not None and job["status"] == "DEAD"
        assert job["attempts"] < 10_000
        assert job["lastError"] == "HTTP 503 (gave up after 0.5s)"
