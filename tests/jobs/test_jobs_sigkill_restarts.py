"""The server is SIGKILLed at random moments during 500 approvals and started again each time.

Afterwards no approval has lost its jobs (the outbox is resumed), every job has succeeded (a
lease left by a killed worker runs out), and the LMS saw every key, never twice at once.
Set ENROLLWIRE_TEST_SEED to replay the kill moments of a failed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path
from typing import Any

import httpx2 as httpx

from api.auth import issue_token
from domain.viewer import Role
from sandbox.embedded import ManagedServer
from store.database import Collections
from tests.jobs.job_flows import (
    CREATE_COURSE,
    ENROLL,
    all_jobs_succeeded,
    database,
    eventually,
    job_settings,
)
from tests.jobs.stand_in_lms import Reply, StandInLms
from tests.processes import HANG_GUARD, Enrollwire

APPROVALS = 500
KILLS = 10
LEASE_SECONDS = 5
# An outbox entry or an unmirrored job is picked up 30 s after its last write, by a 5 s sweep.
RECOVERY_GUARD = 120.0
# Approvals run at most this far ahead of the LMS calls (see test_jobs_two_pools).
AHEAD = 50

APPROVE = """
mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { enrollment { status } errors { code } } }
"""


class Clients:
    """Admin and students talking to a server that may vanish at any moment."""

    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self.http = http
        self.secret = secret
        self.admin = issue_token(secret, "admin-1", Role.ADMIN, 3600)

    async def post(self, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        """Sent again until answered: a request that got no answer may or may not have been applied."""
        async with asyncio.timeout(HANG_GUARD):
            while True:
                try:
                    response = await self.http.post(
                        "/graphql",
                        json={"query": query, "variables": variables},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()["data"]
                return body

    async def enroll(self, student: str) -> str:
        token = issue_token(self.secret, student, Role.STUDENT, 3600, f"{student}@example.com")
        payload = (await self.post(ENROLL, {"input": {"courseId": "c1", "paymentMethod": "EFT"}}, token))[
            "enroll"
        ]
        assert payload["errors"] == [], payload
        return str(payload["enrollment"]["id"])

    async def approve(self, enrollment_id: str) -> None:
        payload = (await self.post(APPROVE, {"id": enrollment_id}, self.admin))["approveEnrollment"]
        # An approval whose answer a kill swallowed was applied: asking again is refused.
        assert payload["errors"] in ([], [{"code": "INVALID_TRANSITION"}]), payload


async def kill_at_random_moments(
    server: Enrollwire, sent: list[str], points: list[int], rng: random.Random
) -> None:
    for point in points:
        # Waits on the approvals loop; the random pause lands the kill inside requests and jobs.
        while len(sent) < point:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0, 0.3))
        await server.kill()
        await server.start()


async def left_behind(db: Collections) -> dict[str, list[Any]]:
    """Jobs not yet SUCCEEDED, accesses not yet mirrored, outboxes not yet settled: all empty when done."""
    # A job still marked accessDirty has not been mirrored yet (nor its access-ready notice
    # enqueued): the sweep does that after MIRROR_GRACE, so it is not done either.
    unfinished = {"$or": [{"status": {"$ne": "SUCCEEDED"}}, {"accessDirty": True}]}
    jobs = db.jobs.find(unfinished, {"status": 1, "attempts": 1, "leaseExpiresAt": 1, "accessDirty": 1})
    unsettled = {"$or": [{"access.status": {"$ne": "PROVISIONED"}}, {"pending": {"$ne": []}}]}
    enrollments = db.enrollments.find(unsettled, {"status": 1, "access": 1, "pending": 1, "updatedAt": 1})
    stuck = [doc async for doc in enrollments]
    theirs = db.jobs.find({"enrollmentId": {"$in": [doc["_id"] for doc in stuck]}}, {"errors": 0})
    return {
        "jobs": [doc async for doc in jobs],
        "enrollments": stuck,
        "their jobs": [doc async for doc in theirs],
    }


async def nothing_left_behind(db: Collections) -> bool:
    left = await left_behind(db)
    return not left["jobs"] and not left["enrollments"]


async def test_sigkill_at_random_moments_loses_no_job(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    seed = int(os.environ.get("ENROLLWIRE_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"kill moments from seed {seed} (ENROLLWIRE_TEST_SEED={seed} replays them)")
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, APPROVALS), KILLS))
    lms = StandInLms(default=Reply(delay=0.01))
    settings = job_settings(
        mongo_server.url,
        redis_server.url,
        lms,
        job_workers=4,
        job_lease_seconds=LEASE_SECONDS,
        job_http_timeout_seconds=2,
    )
    server = Enrollwire("serve", settings, tmp_path / "server.log")
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    async with (
        lms.serving(),
        database(settings) as db,
        httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http,
    ):
        await server.start()
        try:
            clients = Clients(http, settings.auth_secret)
            course = {"input": {"id": "c1", "title": "c1", "price": 1000}}
            assert (await clients.post(CREATE_COURSE, course, clients.admin))["createCourse"]["errors"] == []
            enrolling = asyncio.Semaphore(10)

            async def enrolled(n: int) -> str:
                async with enrolling:
                    return await clients.enroll(f"stu-{n}")

            ids = await asyncio.gather(*(enrolled(n) for n in range(APPROVALS)))
            # Each EFT enrollment's notice (its reference) first: approvals then queue behind nothing.
            await eventually(lambda: all_jobs_succeeded(db, APPROVALS), seconds=RECOVERY_GUARD)
            sent: list[str] = []
            ahead, approving = asyncio.Semaphore(AHEAD), asyncio.Semaphore(10)

            async def approved(enrollment_id: str) -> None:
                async with ahead:
                    async with approving:
                        sent.append(enrollment_id)
                        await clients.approve(enrollment_id)
                    # A job the kill cut off comes back through the outbox or its lease: no fixed wait.
                    await lms.wait_for(
                        lambda: (
                            ("/lms", f"{enrollment_id}:provision_access") in lms.answered_ok
                            and ("/notify", f"{enrollment_id}:notify_student") in lms.answered_ok
                        ),
                        seconds=RECOVERY_GUARD,
                    )

            chaos = asyncio.create_task(kill_at_random_moments(server, sent, points, rng))
            await asyncio.gather(*(approved(i) for i in ids))
            async with asyncio.timeout(HANG_GUARD):
                await chaos
            assert server.starts == KILLS + 1

            with contextlib.suppress(TimeoutError):
                await eventually(lambda: nothing_left_behind(db), seconds=RECOVERY_GUARD, every=0.5)
            leftovers = await left_behind(db)
            assert not leftovers["jobs"] and not leftovers["enrollments"], leftovers
        finally:
            await server.stop()

        statuses = {doc["_id"]: doc["status"] async for doc in db.enrollments.find({}, {"status": 1})}
        assert statuses == dict.fromkeys(ids, "APPROVED")
        jobs = {doc["_id"]: doc async for doc in db.jobs.find({})}
        for enrollment_id in ids:
            for kind in ("provision_access", "notify_student"):
                assert jobs[f"{enrollment_id}:{kind}"]["status"] == "SUCCEEDED"
        # PROVISION_ACCESS, and NOTIFY_STUDENT's enrollment_received, approved and access_ready.
        assert len(jobs) == 4 * APPROVALS
        assert lms.overlaps == []
        assert {key for path, key in lms.answered_ok if path == "/lms"} == {
            f"{i}:provision_access" for i in ids
        }
        rerun = sum(1 for doc in jobs.values() if doc["attempts"] > 1)
        resumed = (tmp_path / "server.log").read_text().count("resuming follow-up work")
        print(f"jobs run again after a kill: {rerun}; outboxes resumed: {resumed}")
