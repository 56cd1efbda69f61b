"""The operators' metrics over real HTTP: enrollment outcomes by method, the EFT approval wait, the
oldest pending job per kind. A known flow is scraped before and after; each moves by exactly its
share, and nothing else in these families moves.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.api.test_metrics import Samples, key, scrape
from tests.api.webhook_support import encode, event, signed_headers
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

FAMILIES = ("enrollwire_enrollments_total", "enrollwire_approval_wait_seconds_count")
SETUP = "mutation($c: CreateCourseInput!) { createCourse(input: $c) { errors { code } } }"
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status } payment { reference } errors { code } }
}
"""
DECIDE = {
    "approve": "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }",
    "reject": 'mutation($id: ID!) { rejectEnrollment(enrollmentId: $id, reason: "no") { errors { code } } }',
    "cancel": "mutation($id: ID!) { cancelEnrollment(enrollmentId: $id) { errors { code } } }",
}


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """No job workers: the jobs an approval enqueues stay PENDING, so their age shows."""
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


def moved(before: Samples, after: Samples) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        k: after.get(k, 0.0) - before.get(k, 0.0)
        for k in before.keys() | after.keys()
        if k[0] in FAMILIES and after.get(k, 0.0) != before.get(k, 0.0)
    }


async def enroll(gql: GraphQLClient, running: RunningApp, user: str, method: str) -> dict[str, Any]:
    variables = {"input": {"courseId": "outcomes", "paymentMethod": method}}
    payload: dict[str, Any] = (await gql(ENROLL, variables, running.token(user)))["data"]["enroll"]
    assert payload["errors"] == [], payload
    return payload


async def act(gql: GraphQLClient, action: str, enrollment: dict[str, Any], token: str) -> None:
    body = await gql(DECIDE[action], {"id": enrollment["enrollment"]["id"]}, token)
    assert next(iter(body["data"].values()))["errors"] == [], body


async def pay(http: httpx.AsyncClient, enrollment: dict[str, Any], kind: str) -> None:
    payload = encode(event(enrollment["payment"]["reference"], 1500, type=kind))
    answer = await http.post("/webhooks/payments", content=payload, headers=signed_headers(payload))
    assert answer.status_code == 200 and answer.json()["status"] == "processed", answer.text


async def test_outcomes_and_waits_move_by_exactly_their_share(
    running: RunningApp, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    admin = running.token("admin-outcomes", Role.ADMIN)
    made = await gql(SETUP, {"c": {"id": "outcomes", "title": "Outcomes", "price": 1500}}, admin)
    assert made["data"]["createCourse"]["errors"] == []
    before = await scrape(http)
    assert before[key("enrollwire_jobs_oldest_pending_seconds", kind="provision_access")] == 0
    started = time.monotonic()

    approved, rejected, cancelled = [await enroll(gql, running, f"eft-{n}", "EFT") for n in range(3)]
    await act(gql, "approve", approved, admin)
    await act(gql, "reject", rejected, admin)
    await act(gql, "cancel", cancelled, running.token("eft-2"))
    failed, paid = [await enroll(gql, running, f"card-{n}", "CARD") for n in range(2)]
    await pay(http, failed, "payment.failed")
    await pay(http, paid, "payment.succeeded")

    after = await scrape(http)
    elapsed = time.monotonic() - started
    outcomes = "enrollwire_enrollments_total"
    assert moved(before, after) == {
        key(outcomes, method="eft", outcome="created"): 3,
        key(outcomes, method="eft", outcome="approved"): 1,
        key(outcomes, method="eft", outcome="rejected"): 1,
        key(outcomes, method="eft", outcome="cancelled"): 1,
        key(outcomes, method="card", outcome="created"): 2,
        key(outcomes, method="card", outcome="payment_failed"): 1,
        key(outcomes, method="card", outcome="approved"): 1,
        # The two admin decisions on EFT enrollments; the card's approval waited for no admin.
        key("enrollwire_approval_wait_seconds_count"): 2,
    }
    waited = key("enrollwire_approval_wait_seconds_sum")
    assert 0 <= after[waited] - before.get(waited, 0.0) <= 2 * elapsed
    # Two approvals enqueued their jobs; no worker runs them. The card checkouts' reconciliations
    # are pending as well.
    for kind in ("provision_access", "notify_student", "reconcile_payment"):
        age = after[key("enrollwire_jobs_oldest_pending_seconds", kind=kind)]
        assert 0 < age <= elapsed, (kind, age)
