"""A pool stopped while its claim is on the wire gives the claimed job back at once.

The pool talks to the real store through a TCP proxy that can hold the store's replies: the
claim reaches the store and is applied, but its answer waits. Stopping the pool then is the
moment a graceful restart can hit on a busy machine; a claim lost there would keep its job
RUNNING, invisible to every other instance, for a whole lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx2 as httpx

from integrations.job_endpoints import JobEndpoints
from jobs.handlers import PostJob
from jobs.pool import RELEASE_TIMEOUT, PoolConfig, WorkerPool
from realtime.hub import Hub
from sandbox.embedded import HOST, ManagedServer
from server.runtime import build_services, job_targets, retry_policy
from server.settings import Settings
from store.database import Collections, connect
from tests.jobs.job_flows import (
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_doc,
    job_settings,
)
from tests.jobs.stand_in_lms import StandInLms
from tests.proxy import HoldingProxy

LEASE_SECONDS = 120  # far beyond the test: a job back in PENDING was released, not expired


@contextlib.asynccontextmanager
async def pool_through(proxy: HoldingProxy, settings: Settings) -> AsyncIterator[WorkerPool]:
    """One worker whose every database call goes through the proxy; started by the test."""
    mongo = connect(f"mongodb://{HOST}:{proxy.port}/?directConnection=true")
    targets = job_targets(settings)
    assert targets is not None
    try:
        collections = Collections.of(mongo, settings.mongodb_db)
        # The connection the worker will claim on, opened while replies still flow.
        await collections.jobs.find_one({})
        assert settings.redis_url is not None
        services = build_services(settings, collections, Hub(settings.redis_url))
        config = PoolConfig(
            workers=1,
            lease_seconds=LEASE_SECONDS,
            poll_seconds=settings.job_poll_seconds,
            policy=retry_policy(settings),
        )
        async with httpx.AsyncClient(timeout=httpx.Timeout(30)) as client:
            handlers = {
                kind: PostJob(JobEndpoints(client, targets, 30), services.changes, config.policy)
                for kind in targets
            }
            pool = WorkerPool(services.changes, handlers, config)
            try:
                yield pool
            finally:
                await pool.stop()
    finally:
        await mongo.close()


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

            async with pool_through(proxy, settings) as pool:
                # A claim reads the ready jobs (the expired leases, then the due ones: two replies
                # let through) and then writes the claim: that write's answer is held.
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

            # Given back at once, the dead worker's attempt still counted; the other job untouched.
            released = await job_doc(db, key)
            assert (released["status"], released["attempts"], released["leaseOwner"]) == ("PENDING", 1, None)
            notify = await job_doc(db, f"{enrollment_id}:notify_student")
            assert (notify["status"], notify["attempts"]) == ("PENDING", 0)
            assert lms.calls == []
    finally:
        await proxy.close()
