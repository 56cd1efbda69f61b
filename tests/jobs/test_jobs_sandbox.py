"""`make run` without an LMS: the built-in sandbox endpoints receive the jobs."""

from __future__ import annotations

import logging

import pytest

from sandbox.embedded import ManagedServer
from tests import servers
from tests.jobs.job_flows import (
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_doc,
    job_has_status,
)


async def test_the_sandbox_lms_fails_the_first_calls_then_provisions(
    mongo_server: ManagedServer, redis_server: ManagedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sandbox.mail_sink")
    settings = servers.test_settings(
        mongo_server.url,
        redis_server.url,
        sandbox_lms_fail_first=2,
        job_backoff_base_seconds=0.05,
        job_backoff_cap_seconds=0.2,
        job_poll_seconds=0.2,
    )
    async with instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-sb")
        await approve(app, enrollment_id)

        async def provisioned() -> bool:
            doc = await db.enrollments.find_one({"_id": enrollment_id}, {"access": 1})
            return doc is not None and doc["access"]["status"] == "PROVISIONED"

        await eventually(provisioned)
        job = await job_doc(db, f"{enrollment_id}:provision_access")
        assert (job["status"], job["attempts"]) == ("SUCCEEDED", 3)
        assert [e["error"] for e in job["errors"]] == ["HTTP 503", "HTTP 503"]

        admin = {"authorization": f"Bearer {app.admin}"}  # the calls name students
        lms = (await app.gql.http.get("/sandbox/lms", headers=admin)).json()
        assert [c["status"] for c in lms["calls"]] == [503, 503, 200]
        assert lms["calls"][-1]["idempotencyKey"] == f"{enrollment_id}:provision_access"
        assert lms["calls"][-1]["body"]["enrollmentId"] == enrollment_id

        await eventually(lambda: job_has_status(db, f"{enrollment_id}:notify_student", "SUCCEEDED"))

        async def told(templates: set[str]) -> bool:
            notify = (await app.gql.http.get("/sandbox/notify", headers=admin)).json()
            return {c["body"]["template"] for c in notify["calls"]} == templates

        # The EFT enrollment's reference, the approval, then the access (attempt 3) are told.
        await eventually(lambda: told({"enrollment_received", "approved", "access_ready"}))
        # No SMTP configured: the sandbox's sink printed the e-mails to the log, sent nowhere.
        mails = [r.getMessage() for r in caplog.records if r.name == "sandbox.mail_sink"]
        assert any(m.startswith("sandbox mail to stu-sb@example.com: You are enrolled in c1") for m in mails)
        json_type = {"content-type": "application/json"}
        bad = await app.gql.http.post("/sandbox/lms", content=b"{not json", headers=json_type)
        assert bad.status_code == 400


async def test_no_sandbox_routes_when_the_targets_are_configured(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = servers.test_settings(
        mongo_server.url,
        redis_server.url,
        lms_url="http://127.0.0.1:9/lms",
        notify_url="http://127.0.0.1:9/n",
    )
    async with instance(settings) as app:
        assert (await app.gql.http.post("/sandbox/lms", json={})).status_code == 404
