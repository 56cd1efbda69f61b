"""Provisioning against a flaky LMS: retries with backoff, dead letters, and the admin retry."""

from __future__ import annotations

import itertools

from domain.enrollment import AccessStatus
from domain.jobs import RetryPolicy
from realtime.channels import user_channel
from sandbox.embedded import ManagedServer
from tests.jobs.job_flows import (
    JOB_STATS,
    JOBS,
    RETRY_JOB,
    access_changes,
    approve,
    awaiting_approval,
    create_course,
    database,
    instance,
    job_doc,
    job_settings,
)
from tests.jobs.stand_in_lms import OK, Reply, StandInLms

ACCESS = "query($id: ID!) { enrollment(id: $id) { version access { status attempts lastError } } }"


async def test_503_timeout_429_then_success(mongo_server: ManagedServer, redis_server: ManagedServer) -> None:
    lms = StandInLms(script=[Reply(503), Reply(hold=True), Reply(429, retry_after="1"), OK])
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_http_timeout_seconds=0.5)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-a")
        async with app.running.app.runtime.hub.subscribe(user_channel("stu-a")) as events:
            approved = await approve(app, enrollment_id)
            assert approved["enrollment"] == {"status": "APPROVED", "access": {"status": "PENDING"}}
            seen = await access_changes(events, until=AccessStatus.PROVISIONED)

        # The approval's own push, then one per failed attempt, then PROVISIONED on attempt 4.
        assert seen[-1] == (AccessStatus.PROVISIONED, 4)
        assert {status for status, _ in seen[:-1]} == {AccessStatus.PENDING}
        assert [attempts for _, attempts in seen] == sorted(attempts for _, attempts in seen)

        job = await job_doc(db, f"{enrollment_id}:provision_access")
        assert (job["status"], job["attempts"], job["lastError"]) == ("SUCCEEDED", 4, None)
        errors = job["errors"]
        assert [e["attempt"] for e in errors] == [1, 2, 3]
        assert errors[0]["error"] == "HTTP 503"
        assert errors[1]["error"].startswith("timeout")
        assert errors[2]["error"] == "HTTP 429"

        policy = RetryPolicy(6, settings.job_backoff_base_seconds, settings.job_backoff_cap_seconds)
        delays = [e["delay"] for e in errors]
        windows = [policy.window(n) for n in (1, 2, 3)]
        assert windows == sorted(windows)
        assert all(0 <= d <= w for d, w in zip(delays[:2], windows, strict=False))
        # Retry-After: 1 is above every jitter window here, so the wait grows to it.
        assert delays[2] == 1.0 >= max(delays[:2])

        calls = [c for c in lms.calls if c.path == "/lms"]
        assert [c.status for c in calls] == [503, None, 429, 200]
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
        assert gaps[0] >= delays[0]
        assert gaps[1] >= settings.job_http_timeout_seconds + delays[1]
        assert gaps[2] >= 1.0
        assert lms.per_key("/lms") == {f"{enrollment_id}:provision_access": 4}
        assert lms.overlaps == []

        body = await app.gql(ACCESS, {"id": enrollment_id}, app.admin)
        access = body["data"]["enrollment"]["access"]
        assert access == {"status": "PROVISIONED", "attempts": 4, "lastError": None}
        assert lms.calls[0].body["email"] == "stu-a@example.com"


async def test_400_is_dead_at_once_and_an_admin_retry_runs_it_again(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms(script=[Reply(400)])
    settings = job_settings(mongo_server.url, redis_server.url, lms)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-b")
        job_id = f"{enrollment_id}:provision_access"
        async with app.running.app.runtime.hub.subscribe(user_channel("stu-b")) as events:
            await approve(app, enrollment_id)
            seen = await access_changes(events, until=AccessStatus.FAILED)
            assert seen[-1] == (AccessStatus.FAILED, 1)
            dead = await job_doc(db, job_id)
            assert (dead["status"], dead["attempts"], dead["lastError"]) == ("DEAD", 1, "HTTP 400")
            assert lms.per_key("/lms") == {job_id: 1}

            listed = (await app.gql(JOBS, {"status": "DEAD"}, app.admin))["data"]["jobs"]
            assert listed["totalCount"] == 1
            assert listed["edges"][0]["node"]["id"] == job_id
            assert listed["edges"][0]["node"]["lastError"] == "HTTP 400"
            stats = (await app.gql(JOB_STATS, None, app.admin))["data"]["jobStats"]
            assert stats["dead"] == 1

            # The LMS is fixed (its script is used up); the admin retries.
            retried = (await app.gql(RETRY_JOB, {"id": job_id}, app.admin))["data"]["retryJob"]
            assert retried["errors"] == []
            assert retried["job"]["status"] in ("PENDING", "RUNNING", "SUCCEEDED")
            after = await access_changes(events, until=AccessStatus.PROVISIONED)

        assert after[0] == (AccessStatus.PENDING, 1)
        assert after[-1] == (AccessStatus.PROVISIONED, 2)
        done = await job_doc(db, job_id)
        assert (done["status"], done["attempts"]) == ("SUCCEEDED", 2)
        assert [c.status for c in lms.calls if c.path == "/lms"] == [400, 200]

        again = (await app.gql(RETRY_JOB, {"id": job_id}, app.admin))["data"]["retryJob"]
        assert again == {"job": None, "errors": [{"code": "INVALID_TRANSITION"}]}
        unknown = (await app.gql(RETRY_JOB, {"id": "nope"}, app.admin))["data"]["retryJob"]
        assert unknown == {"job": None, "errors": [{"code": "JOB_NOT_FOUND"}]}
        student = app.running.token("stu-b")
        denied = await app.gql(RETRY_JOB, {"id": job_id}, student)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert (await job_doc(db, job_id))["status"] == "SUCCEEDED"
