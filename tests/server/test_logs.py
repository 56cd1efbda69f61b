from __future__ import annotations

import json
import logging

import httpx2 as httpx
import pytest

from sandbox.embedded import ManagedServer
from server.logs import JsonFormatter, request_id
from tests.jobs.job_flows import (
    approve,
    awaiting_approval,
    create_course,
    database,
    eventually,
    instance,
    job_has_status,
    job_settings,
)
from tests.jobs.stand_in_lms import Reply, StandInLms


def test_json_line_carries_ids_and_hides_tokens() -> None:
    token = request_id.set("req-123")
    try:
        record = logging.makeLogRecord(
            {
                "name": "enrollwire.test",
                "levelname": "WARNING",
                "msg": "header was Bearer eyJhbGciOiJIUzI1NiJ9.abc.def",
                "enrollment_id": "e-1",
            }
        )
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-123"
    assert entry["enrollment_id"] == "e-1"
    assert "eyJ" not in line and "[redacted]" in entry["message"]


async def test_request_id_is_echoed_or_minted(http: httpx.AsyncClient) -> None:
    echoed = await http.get("/healthz", headers={"X-Request-Id": "abc-42"})
    assert echoed.headers["x-request-id"] == "abc-42"
    minted = await http.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert (
        minted.headers["x-request-id"] != "bad id with spaces" and len(minted.headers["x-request-id"]) == 32
    )


async def test_a_dead_job_is_logged_with_its_enrollment(
    mongo_server: ManagedServer, redis_server: ManagedServer, caplog: pytest.LogCaptureFixture
) -> None:
    lms = StandInLms(default=Reply(status=400))
    settings = job_settings(mongo_server.url, redis_server.url, lms, job_workers=1)
    async with lms.serving(), instance(settings) as app, database(settings) as db:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-log")
        await approve(app, enrollment_id)
        await eventually(lambda: job_has_status(db, f"{enrollment_id}:provision_access", "DEAD"))
    dead = [r for r in caplog.records if r.name == "jobs.pool" and "is DEAD" in r.getMessage()]
    assert dead, caplog.text
    entries = [json.loads(JsonFormatter().format(record)) for record in dead]
    assert {entry["enrollment_id"] for entry in entries} == {enrollment_id}
    assert all(entry["job_id"].startswith(enrollment_id) for entry in entries)
