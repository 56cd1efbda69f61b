"""What the system and the job machinery do to an enrollment is audited like a person's action:
access provisioned, failed, revoked, a dead job retried by an admin, a coupon hold lapsing.
Each writes exactly one entry with its actor; nothing else writes one."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx2 as httpx

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.api.webhook_support import CREATE_COUPON, enroll, enrollment_doc, unique
from tests.jobs.job_flows import eventually, job_settings
from tests.jobs.stand_in_lms import Reply, StandInLms
from tests.servers import GraphQLClient, RunningApp, serve

ADMIN = "admin-3"
SYSTEM = {"kind": "SYSTEM", "id": None}
APPROVE = "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }"
REVOKE = """mutation($id: ID!) {
  revokeEnrollment(enrollmentId: $id, reason: "refund by phone") { errors { code } } }"""
RETRY_JOB = "mutation($id: ID!) { retryJob(id: $id) { errors { code } } }"


async def entries(running: RunningApp, enrollment_id: str) -> list[dict[str, Any]]:
    audit = running.app.runtime.collections.audit
    return [doc async for doc in audit.find({"enrollmentId": enrollment_id}).sort("_id", 1)]


async def job_status(running: RunningApp, job_id: str) -> str | None:
    doc = await running.app.runtime.collections.jobs.find_one({"_id": job_id})
    return None if doc is None else str(doc["status"])


async def test_access_jobs_and_an_admins_job_retry_each_write_one_entry(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # The LMS refuses the first grant for good (400): the job dies and an admin retries it.
    lms = StandInLms(script=[Reply(status=400)])
    settings = job_settings(mongo_server.url, redis_server.url, lms)
    async with (
        lms.serving(),
        serve(settings) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        gql, admin = GraphQLClient(http, running), running.token(ADMIN, Role.ADMIN)
        enrolled = await enroll(gql, running, method="EFT")
        provision = f"{enrolled.id}:provision_access"
        assert (await gql(APPROVE, {"id": enrolled.id}, admin))["data"]["approveEnrollment"]["errors"] == []

        async def is_(job_id: str, status: str) -> bool:
            return await job_status(running, job_id) == status

        await eventually(lambda: is_(provision, "DEAD"))
        await eventually(lambda: access(running, enrolled.id, "FAILED"))
        assert (await gql(RETRY_JOB, {"id": provision}, admin))["data"]["retryJob"]["errors"] == []
        await eventually(lambda: access(running, enrolled.id, "PROVISIONED"))
        assert (await gql(REVOKE, {"id": enrolled.id}, admin))["data"]["revokeEnrollment"]["errors"] == []
        await eventually(lambda: access(running, enrolled.id, "REVOKED"))

        logged = await entries(running, enrolled.id)
        actions = Counter(e["action"] for e in logged)
        assert actions == Counter(
            {
                "enroll": 1,
                "approveEnrollment": 1,
                "access_failed": 2,  # the admin's retry shows PENDING again, then it is provisioned
                "access_provisioned": 1,
                "revokeEnrollment": 1,
                "access_revoked": 1,
            }
        )
        actors = {e["action"]: e["actor"] for e in logged}
        assert actors["access_provisioned"] == actors["access_revoked"] == actors["access_failed"] == SYSTEM
        assert actors["revokeEnrollment"] == {"kind": "ADMIN", "id": ADMIN}
        # The retry itself is an admin's action on a job, not on the enrollment: its own entry.
        audit = running.app.runtime.collections.audit
        retries = [doc async for doc in audit.find({"action": "retryJob", "targetId": provision})]
        assert [r["actor"] for r in retries] == [{"kind": "ADMIN", "id": ADMIN}]
        # The history and the log agree one to one.
        doc = await enrollment_doc(running, enrolled.id)
        assert [h["action"] for h in doc["history"]] == [e["action"] for e in logged]


async def access(running: RunningApp, enrollment_id: str, status: str) -> bool:
    return bool((await enrollment_doc(running, enrollment_id))["access"]["status"] == status)


async def test_a_lapsing_coupon_hold_is_the_systems_entry(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms()
    settings = job_settings(mongo_server.url, redis_server.url, lms, coupon_hold_seconds=0.5)
    async with (
        lms.serving(),
        serve(settings) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        gql, admin = GraphQLClient(http, running), running.token(ADMIN, Role.ADMIN)
        code = unique("HOLD").upper().replace("-", "")
        coupon = {"input": {"code": code, "percentOff": 10, "maxRedemptions": 5}}
        assert (await gql(CREATE_COUPON, coupon, admin))["data"]["createCoupon"]["errors"] == []
        enrolled = await enroll(gql, running, coupon=code)

        async def lapsed() -> bool:
            return any(e["action"] == "hold_lapsed" for e in await entries(running, enrolled.id))

        await eventually(lapsed)
        [entry] = [e for e in await entries(running, enrolled.id) if e["action"] == "hold_lapsed"]
        assert entry["actor"] == SYSTEM
        doc = await enrollment_doc(running, enrolled.id)
        assert (doc["couponState"], doc["amountDue"]) == ("LAPSED", doc["fullPrice"])
