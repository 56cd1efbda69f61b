"""The student gets in: the LMS's launch URL and account are kept, shown on the card, and a
FAILED access can be retried by its student or an admin; admins retry every DEAD job of a kind."""

from __future__ import annotations

import httpx2 as httpx

from integrations.job_endpoints import kept_fields
from sandbox.embedded import ManagedServer
from tests import servers
from tests.jobs.job_flows import (
    access_is,
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_has_status,
    job_settings,
)
from tests.jobs.stand_in_lms import OK, Reply, StandInLms, launch_url

CARD = """
query($id: ID!) {
  courseCard(courseId: $id) { buttonText continueUrl enrollment { access { status launchUrl } } }
}
"""
RETRY_ACCESS = """
mutation($id: ID!) {
  retryAccess(enrollmentId: $id) { enrollment { access { status } } errors { code } }
}
"""
RETRY_DEAD = "mutation($kind: JobKind!) { retryDeadJobs(kind: $kind) }"


async def test_the_sandbox_lms_answers_a_launch_url_the_card_opens(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = servers.test_settings(mongo_server.url, redis_server.url, job_poll_seconds=0.2)
    async with instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-launch")
        student = app.running.token("stu-launch")
        before = (await app.gql(CARD, {"id": "c1"}, student))["data"]["courseCard"]
        assert before["continueUrl"] is None

        await approve(app, enrollment_id)
        await eventually(lambda: access_is(db, enrollment_id, "PROVISIONED"))
        card = (await app.gql(CARD, {"id": "c1"}, student))["data"]["courseCard"]
        expected = f"{app.running.base_url}/sandbox/lms/launch/{enrollment_id}"
        assert card == {
            "buttonText": "Continue Course",
            "continueUrl": expected,
            "enrollment": {"access": {"status": "PROVISIONED", "launchUrl": expected}},
        }
        doc = await db.enrollments.find_one({"_id": enrollment_id}, {"access": 1})
        assert doc is not None and doc["access"]["accountId"] == "sandbox-stu-launch"
        page = await app.gql.http.get(expected)
        assert page.status_code == 200 and enrollment_id in page.text


async def test_the_owner_retries_failed_access_and_gets_the_launch_url(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms(default=Reply(400))  # refused for good: the job is DEAD at once
    settings = job_settings(mongo_server.url, redis_server.url, lms)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-retry")
        owner = app.running.token("stu-retry")
        stranger = app.running.token("stu-other")

        early = await app.gql(RETRY_ACCESS, {"id": enrollment_id}, owner)
        assert early["data"]["retryAccess"]["errors"] == [{"code": "INVALID_TRANSITION"}]
        await approve(app, enrollment_id)
        await eventually(lambda: access_is(db, enrollment_id, "FAILED"))

        denied = await app.gql(RETRY_ACCESS, {"id": enrollment_id}, stranger)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert await access_is(db, enrollment_id, "FAILED")

        lms.default = OK
        retried = await app.gql(RETRY_ACCESS, {"id": enrollment_id}, owner)
        payload = retried["data"]["retryAccess"]
        assert payload["errors"] == []
        # A worker may take the job before the answer is read back.
        assert payload["enrollment"]["access"]["status"] in ("PENDING", "PROVISIONED")
        await eventually(lambda: access_is(db, enrollment_id, "PROVISIONED"))
        card = (await app.gql(CARD, {"id": "c1"}, owner))["data"]["courseCard"]
        assert card["continueUrl"] == launch_url(enrollment_id)


async def test_an_admin_retries_every_dead_job_of_a_kind(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms(default=Reply(400))
    settings = job_settings(mongo_server.url, redis_server.url, lms)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        ids = [await awaiting_approval(app, f"stu-dead-{n}") for n in range(3)]
        for enrollment_id in ids:
            await approve(app, enrollment_id)
        for enrollment_id in ids:
            await eventually(lambda i=enrollment_id: job_has_status(db, f"{i}:provision_access", "DEAD"))  # type: ignore[misc]

        student = app.running.token("stu-dead-0")
        refused = await app.gql(RETRY_DEAD, {"kind": "PROVISION_ACCESS"}, student)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        lms.default = OK
        retried = await app.gql(RETRY_DEAD, {"kind": "PROVISION_ACCESS"}, app.admin)
        assert retried["data"]["retryDeadJobs"] == 3
        for enrollment_id in ids:
            await eventually(lambda i=enrollment_id: access_is(db, i, "PROVISIONED"))  # type: ignore[misc]
        again = await app.gql(RETRY_DEAD, {"kind": "PROVISION_ACCESS"}, app.admin)
        assert again["data"]["retryDeadJobs"] == 0


def test_only_web_links_are_kept_from_the_lms_answer() -> None:
    def answer(body: object) -> httpx.Response:
        return httpx.Response(200, json=body)

    kept = kept_fields(answer({"launchUrl": "https://lms.example/x", "accountId": "a1", "other": "y"}))
    assert kept == {"launchUrl": "https://lms.example/x", "accountId": "a1"}
    assert kept_fields(answer({"launchUrl": "javascript:alert(1)", "accountId": "a1"})) == {"accountId": "a1"}
    assert kept_fields(answer({"launchUrl": 7})) is None
    assert kept_fields(answer([1, 2])) is None
    assert kept_fields(httpx.Response(200, text="ok")) is None
