"""Smaller leaks (issue 15, item 7), over real HTTP: a student never reads `access.lastError` (it
names the learning platform's host) or `approvedBy` (admin ids); every response carries nosniff and
a Referrer-Policy; the pages allow connections to their own origin only; the sandbox checkout page
has a CSP and cannot be framed."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx

from domain.viewer import Role
from sandbox.embedded import ManagedServer, free_port
from tests import servers
from tests.jobs.job_flows import approve, awaiting_approval, create_course, eventually, instance
from tests.servers import RunningApp

SEEN = "query($id: ID!) { enrollment(id: $id) { approvedBy access { status lastError } } }"


async def test_students_do_not_see_last_error_or_approved_by(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/lms"
    settings = servers.test_settings(
        mongo_server.url,
        redis_server.url,
        lms_url=unreachable,
        job_backoff_base_seconds=0.05,
        job_backoff_cap_seconds=0.2,
        job_poll_seconds=0.2,
    )
    async with instance(settings) as app:
        await create_course(app)
        enrollment_id = await awaiting_approval(app, "stu-leak")
        await approve(app, enrollment_id)
        student = app.running.token("stu-leak", email="stu-leak@example.com")

        async def seen_by(token: str) -> dict[str, Any]:
            enrollment: dict[str, Any] = (await app.gql(SEEN, {"id": enrollment_id}, token))["data"][
                "enrollment"
            ]
            return enrollment

        async def failed_once() -> bool:
            return (await seen_by(app.admin))["access"]["lastError"] is not None

        await eventually(failed_once)
        admin_view = await seen_by(app.admin)
        assert admin_view["approvedBy"] == "admin-1"
        assert admin_view["access"]["lastError"]
        assert await seen_by(student) == {
            "approvedBy": None,
            "access": {"status": "PENDING", "lastError": None},
        }


async def test_security_headers_on_every_response(running: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        responses = [
            await http.get("/healthz"),
            await http.post("/graphql", json={"query": "{ __typename }"}),
            await http.get("/app/"),
            await http.get("/app/static/catalogue.js"),
            await http.get("/nowhere"),
            await http.post("/webhooks/payments", content=b"x"),
            await http.get("/sandbox/checkout", params={"reference": "pay_nobody"}),
        ]
        for response in responses:
            assert response.headers["x-content-type-options"] == "nosniff", response.url
            assert response.headers["referrer-policy"] == "no-referrer", response.url
        page_policy = responses[2].headers["content-security-policy"]
        assert "connect-src 'self';" in page_policy and "ws:" not in page_policy
        checkout_policy = responses[-1].headers["content-security-policy"]
        assert "frame-ancestors 'none'" in checkout_policy and "default-src 'none'" in checkout_policy
        admin = {"authorization": f"Bearer {running.token('admin-h', Role.ADMIN)}"}
        assert (await http.get("/sandbox/lms", headers=admin)).headers["x-content-type-options"] == "nosniff"


async def test_enrollment_ids_cannot_be_counted_or_timed(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    """ObjectIds carry their second and a counter: a student holding her own id could walk its
    neighbours, and FORBIDDEN (someone's) versus null (nobody's) told her which exist. Twenty ids
    minted within a second shared their first eight hex digits; random ones share none."""
    async with instance(servers.test_settings(mongo_server.url, redis_server.url)) as app:
        await create_course(app)
        ids = [await awaiting_approval(app, f"stu-id-{n}") for n in range(20)]
        assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
        assert len({i[:8] for i in ids}) == len(ids), ids
        # Someone else's enrollment is still FORBIDDEN, as the contract says.
        other = await app.gql(SEEN, {"id": ids[1]}, app.running.token("stu-id-0"))
        assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
