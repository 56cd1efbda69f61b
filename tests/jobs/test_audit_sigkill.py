"""The server is SIGKILLed at random moments during 300 approvals, rejections and revocations.

Afterwards the audit log and the enrollments agree one to one: every history entry of every
enrollment has exactly one audit entry (same id, actor, action, reason) and no audit entry
exists for a change that did not happen; each decision is recorded once however often a
request whose answer the kill swallowed was sent again. Set ENROLLWIRE_TEST_SEED to replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from pathlib import Path
from typing import Any

import httpx2 as httpx

from domain.actors import audit_id
from sandbox.embedded import ManagedServer
from store.database import Collections
from tests.jobs.job_flows import CREATE_COURSE, database, eventually, job_settings
from tests.jobs.stand_in_lms import Reply, StandInLms
from tests.jobs.test_jobs_sigkill_restarts import RECOVERY_GUARD, Clients, kill_at_random_moments
from tests.processes import HANG_GUARD, Enrollwire

ENROLLMENTS = 240  # half approved (then half of those revoked), half rejected: 300 decisions
KILLS = 8
DECIDE = """mutation($id: ID!, $reason: String!) {
  %s(enrollmentId: $id, reason: $reason) { enrollment { status } errors { code } } }"""
FINAL = {"rejectEnrollment": "REJECTED", "approveEnrollment": "APPROVED", "revokeEnrollment": "REVOKED"}
APPROVE = """mutation($id: ID!) {
  approveEnrollment(enrollmentId: $id) { enrollment { status } errors { code } } }"""


def plan(n: int) -> list[str]:
    """The decisions each enrollment gets, in order."""
    if n % 2:
        return ["rejectEnrollment"]
    return ["approveEnrollment", "revokeEnrollment"] if n % 4 == 0 else ["approveEnrollment"]


async def decide(clients: Clients, enrollment_id: str, action: str) -> None:
    if action == "approveEnrollment":
        body = await clients.post(APPROVE, {"id": enrollment_id}, clients.admin)
    else:
        body = await clients.post(DECIDE % action, {"id": enrollment_id, "reason": "test"}, clients.admin)
    # A decision whose answer a kill swallowed was applied: asking again is refused.
    assert body[action]["errors"] in ([], [{"code": "INVALID_TRANSITION"}]), body


async def settled(db: Collections) -> bool:
    busy = {"$or": [{"pending": {"$ne": []}}, {"access.status": "PENDING"}]}
    return (
        await db.enrollments.count_documents(busy) == 0
        and await db.jobs.count_documents({"$or": [{"status": {"$ne": "SUCCEEDED"}}, {"accessDirty": True}]})
        == 0
    )


async def test_sigkill_during_decisions_leaves_the_audit_log_and_the_enrollments_one_to_one(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    seed = int(os.environ.get("ENROLLWIRE_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"kill moments from seed {seed} (ENROLLWIRE_TEST_SEED={seed} replays them)")
    rng = random.Random(seed)
    decisions = sum(len(plan(n)) for n in range(ENROLLMENTS))
    assert decisions == 300
    points = sorted(rng.sample(range(1, decisions), KILLS))
    lms = StandInLms(default=Reply(delay=0.01))
    settings = job_settings(
        mongo_server.url,
        redis_server.url,
        lms,
        job_workers=2,
        job_lease_seconds=5,
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
            ids = [await clients.enroll(f"stu-{n}") for n in range(ENROLLMENTS)]
            sent: list[str] = []
            deciding = asyncio.Semaphore(10)

            async def decided(n: int, enrollment_id: str) -> None:
                for action in plan(n):
                    async with deciding:
                        sent.append(enrollment_id)
                        await decide(clients, enrollment_id, action)

            killing = asyncio.create_task(kill_at_random_moments(server, sent, points, rng))
            await asyncio.gather(*(decided(n, i) for n, i in enumerate(ids)))
            async with asyncio.timeout(HANG_GUARD):
                await killing
            assert server.starts == KILLS + 1
            with contextlib.suppress(TimeoutError):
                await eventually(lambda: settled(db), seconds=RECOVERY_GUARD, every=0.5)
            assert await settled(db)
        finally:
            await server.stop()

        enrollments = {doc["_id"]: doc async for doc in db.enrollments.find({})}
        audit = {doc["_id"]: doc async for doc in db.audit.find({"enrollmentId": {"$ne": None}})}
        expected: dict[str, dict[str, Any]] = {}
        for n, enrollment_id in enumerate(ids):
            doc = enrollments[enrollment_id]
            final = {
                "rejectEnrollment": "REJECTED",
                "approveEnrollment": "APPROVED",
                "revokeEnrollment": "REVOKED",
            }
            assert doc["status"] == final[plan(n)[-1]]
            actions = [h["action"] for h in doc["history"]]
            for action in ("enroll", *plan(n)):
                assert actions.count(action) == 1, (enrollment_id, actions)
            for change in doc["history"]:
                expected[audit_id(enrollment_id, change["version"])] = change
        assert set(audit) == set(expected)
        for entry_id, entry in audit.items():
            change = expected[entry_id]
            assert (entry["actor"], entry["action"], entry["createdAt"]) == (
                change["actor"],
                change["action"],
                change["at"],
            )
        resumed = (tmp_path / "server.log").read_text().count("resuming follow-up work")
        print(f"{len(audit)} audit entries for {len(expected)} changes; outboxes resumed: {resumed}")
