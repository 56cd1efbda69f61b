"""A worker process dies mid-call: its lease runs out and another worker finishes the job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sandbox.embedded import ManagedServer
from server.settings import Settings
from tests.jobs.job_flows import (
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_doc,
    job_has_status,
    job_settings,
)
from tests.jobs.stand_in_lms import Reply, StandInLms

LEASE_SECONDS = 3


@contextlib.asynccontextmanager
async def worker_process(settings: Settings, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`enrollwire worker` as its own process, configured only through the environment."""
    env = {
        **os.environ,
        "ENROLLWIRE_MONGODB_URL": str(settings.mongodb_url),
        "ENROLLWIRE_REDIS_URL": str(settings.redis_url),
        "ENROLLWIRE_MONGODB_DB": settings.mongodb_db,
        "ENROLLWIRE_LMS_URL": str(settings.lms_url),
        "ENROLLWIRE_NOTIFY_URL": str(settings.notify_url),
        "ENROLLWIRE_JOB_WORKERS": "1",
        "ENROLLWIRE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "ENROLLWIRE_JOB_POLL_SECONDS": "0.2",
        "ENROLLWIRE_JOB_HTTP_TIMEOUT_SECONDS": "60",
    }
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "worker", env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(15):
            await process.wait()


async def test_a_killed_worker_loses_its_lease_and_another_finishes(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    lms = StandInLms(script=[Reply(hold=True)])
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=0)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-k")
        key = f"{enrollment_id}:provision_access"
        async with worker_process(settings, tmp_path / "a.log") as doomed:
            await approve(app, enrollment_id)
            await lms.wait_for(lambda: lms.in_flight[key] == 1, seconds=60)
            doomed.send_signal(signal.SIGKILL)
            await doomed.wait()
        assert doomed.returncode == -signal.SIGKILL
        await lms.wait_for(lambda: lms.in_flight[key] == 0)
        held = await job_doc(db, key)
        assert (held["status"], held["attempts"]) == ("RUNNING", 1)

        async def provisioned() -> bool:
            enrollment = await db.enrollments.find_one({"_id": enrollment_id})
            return enrollment is not None and enrollment["access"]["status"] == "PROVISIONED"

        async with worker_process(settings, tmp_path / "b.log"):
            await eventually(lambda: job_has_status(db, key, "SUCCEEDED"), seconds=60)
            # The worker mirrors the finished job onto its enrollment right after the job write:
            # stopping it before then would leave the mirror to the sweep's grace period.
            await eventually(provisioned, seconds=30)

        done = await job_doc(db, key)
        assert done["attempts"] == 2
        assert done["lastWorker"] != held["leaseOwner"]
        assert lms.per_key("/lms")[key] == 2
        assert lms.overlaps == []


async def test_a_stopping_instance_gives_its_job_back(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms(script=[Reply(hold=True)])
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=1)
    async with lms.serving(), database(settings) as db:
        async with instance(settings) as app:
            await create_course(app)
            enrollment_id = await awaiting_approval(app, "stu-s")
            key = f"{enrollment_id}:provision_access"
            await approve(app, enrollment_id)
            await lms.wait_for(lambda: lms.in_flight[key] == 1, seconds=60)
        released = await job_doc(db, key)
        assert (released["status"], released["attempts"], released["leaseOwner"]) == ("PENDING", 0, None)
        assert released["nextRunAt"] is not None

        async with instance(settings):
            await eventually(lambda: job_has_status(db, key, "SUCCEEDED"), seconds=60)
        assert (await job_doc(db, key))["attempts"] == 1
        assert lms.overlaps == []
