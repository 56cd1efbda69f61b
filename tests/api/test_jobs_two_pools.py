"""Two server instances, each with its own worker pool, on one database: each job runs once at a time."""

from __future__ import annotations

import asyncio
from itertools import cycle

from api.embedded import ManagedServer
from tests.api.job_flows import (
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
from tests.api.stand_in_lms import Reply, StandInLms
from tests.servers import free_port

APPROVALS = 500


async def test_two_pools_never_run_one_job_twice_at_once(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # A short answer delay keeps many calls in flight at once, where an overlap would show.
    lms = StandInLms(default=Reply(delay=0.01))
    # A lease far beyond any call here: the test surrogate database is slow under this load.
    first = job_settings(mongo_server.url, redis_server.url, lms, job_workers=4, job_lease_seconds=120)
    second = first.model_copy(update={"port": free_port()})
    async with lms.serving(), instance(first) as one, instance(second) as two, database(first) as db:
        await create_course(one)
        apps = cycle([one, two])
        ids = [await awaiting_approval(next(apps), f"stu-{n}") for n in range(APPROVALS)]
        gate = asyncio.Semaphore(20)

        async def approve_on(app_index: int, enrollment_id: str) -> None:
            async with gate:
                await approve((one, two)[app_index % 2], enrollment_id)

        await asyncio.gather(*(approve_on(n, i) for n, i in enumerate(ids)))
        await eventually(lambda: all_jobs_succeeded(db, 2 * APPROVALS), seconds=180)

        assert lms.overlaps == []
        assert len(lms.succeeded("/lms")) == APPROVALS
        assert len(lms.succeeded("/notify")) == APPROVALS
        # Nothing failed and no lease ran out, so no job was even sent twice.
        assert set(lms.per_key("/lms").values()) == {1}
        assert set(lms.per_key("/notify").values()) == {1}
        owners = {doc["leaseOwner"] async for doc in db.jobs.find({}, {"leaseOwner": 1})}
        assert owners == {None}
        # Worker ids are host:pid:instance:n; both instances' pools took part.
        workers = {doc["lastWorker"] async for doc in db.jobs.find({}, {"lastWorker": 1})}
        assert len({w.rsplit(":", 1)[0] for w in workers}) == 2
        listed = (await one.gql(JOBS, {"status": "SUCCEEDED", "first": 100}, one.admin))["data"]["jobs"]
        assert listed["totalCount"] == 2 * APPROVALS
        assert listed["pageInfo"]["hasNextPage"] is True
