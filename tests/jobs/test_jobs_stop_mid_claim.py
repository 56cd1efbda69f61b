"""A pool stopped while its claim is on the wire gives the claimed jobs back at once.

The pool talks to the real store through a TCP proxy that can hold the store's replies: the
claim reaches the store and is applied, but its answer waits. Stopping the pool then is the
moment a graceful restart can hit on a busy machine; a claim lost there would keep its job
RUNNING, invisible to every other instance, for a whole lease.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from jobs.pool import RELEASE_TIMEOUT
from sandbox.embedded import HOST, ManagedServer
from tests.jobs.job_flows import (
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_doc,
    job_pool,
    job_settings,
)
from tests.jobs.stand_in_lms import StandInLms
from tests.proxy import HoldingProxy

LEASE_SECONDS = 120  # far beyond the test: a job back in PENDING was released, not expired


async def test_a_pool_stopped_mid_claim_gives_the_claimed_job_back(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms()
    # No workers in the app: it only approves, and so writes the jobs the pool below claims.
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=0)
    proxy = HoldingProxy(mongo_server.port, replies_only=True)
    await proxy.start()
    try:
        async with lms.serving(), instance(settings) as app, database(settings) as db:
            await create_course(app)
            enrollment_id = await awaiting_approval(app, "stu-c")
            await approve(app, enrollment_id)
            # A worker that died left this job RUNNING with a lease now over: a claim takes those
            # first, so the claim's first write is the one whose answer is held.
            key = f"{enrollment_id}:provision_access"
            orphan = {"status": "RUNNING", "leaseOwner": "gone:0", "leaseExpiresAt": datetime.now(UTC)}
            await db.jobs.update_one({"_id": key}, {"$set": orphan, "$inc": {"attempts": 1}})

            proxied = f"mongodb://{HOST}:{proxy.port}/?directConnection=true"
            async with job_pool(settings, proxied, batch=4, lease_seconds=LEASE_SECONDS) as pool:
                # A claim reads the ready jobs (the expired leases, then the due ones: two replies
                # let through) and then writes the claim of all of them: that write's answer is held.
                proxy.hold(after_replies=2)
                pool.start()

                async def claimed() -> bool:
                    return (await job_doc(db, key))["leaseOwner"] not in ("gone:0", None)

                await eventually(claimed, seconds=30)  # applied by the store; its answer is held
                stopping = asyncio.ensure_future(pool.stop())
                # Long enough for a stop that does not wait to be over; short of the time a
                # stopping worker gives a write it has sent, which the answer still needs.
                done, _ = await asyncio.wait({stopping}, timeout=RELEASE_TIMEOUT / 4)
                assert not done, "stop must wait for the answer to the claim it has on the wire"
                proxy.let_go()
                async with asyncio.timeout(30):
                    await stopping

            # Every job of the batch was claimed and given back at once (a revision each), the dead
            # worker's attempt still counted.
            released = await job_doc(db, key)
            assert (released["status"], released["attempts"], released["leaseOwner"]) == ("PENDING", 1, None)
            others = [doc async for doc in db.jobs.find({"_id": {"$ne": key}})]
            assert f"{enrollment_id}:notify_student" in [doc["_id"] for doc in others]
            states = {(doc["status"], doc["attempts"], doc["revision"]) for doc in others}
            assert states == {("PENDING", 0, 2)}
            assert released["revision"] == 2
            assert lms.calls == []
    finally:
        await proxy.close()
