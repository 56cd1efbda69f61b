"""Many real requests at once; the invariants are then checked in the database itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

SETUP = """
mutation($course: CreateCourseInput!, $coupon: CreateCouponInput!) {
  createCourse(input: $course) { errors { code } }
  createCoupon(input: $coupon) { errors { code } }
}
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id version couponCode amountDue { amount } } errors { code } }
}
"""
APPROVE = """
mutation($id: ID!) {
  approveEnrollment(enrollmentId: $id) { enrollment { version approvedBy } errors { code } }
}
"""


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """No job workers: only the requests under test write the documents these tests count
    (a provisioning job mirroring access onto an approved enrollment bumps its version too)."""
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


async def setup(gql: GraphQLClient, running: RunningApp, max_redemptions: int = 5) -> None:
    variables = {
        "course": {"id": "c1", "title": "C1", "price": 1000},
        "coupon": {"code": "FIVE", "percentOff": 50, "maxRedemptions": max_redemptions},
    }
    body = await gql(SETUP, variables, running.token("admin", Role.ADMIN))
    assert body["data"] == {"createCourse": {"errors": []}, "createCoupon": {"errors": []}}


async def enroll(gql: GraphQLClient, token: str, method: str = "CARD", coupon: str | None = None) -> Any:
    variables = {"input": {"courseId": "c1", "paymentMethod": method, "couponCode": coupon}}
    body = await gql(ENROLL, variables, token)
    assert "errors" not in body, body
    return body["data"]["enroll"]


async def test_200_students_race_for_a_5_use_coupon(gql: GraphQLClient, running: RunningApp) -> None:
    await setup(gql, running)
    tokens = [running.token(f"student-{i}") for i in range(200)]
    payloads = await asyncio.gather(*(enroll(gql, t, coupon="FIVE") for t in tokens))

    winners = [p for p in payloads if not p["errors"]]
    codes = Counter(e["code"] for p in payloads for e in p["errors"])
    assert len(winners) == 5
    assert all(p["enrollment"]["couponCode"] == "FIVE" for p in winners)
    assert all(p["enrollment"]["amountDue"] == {"amount": 500} for p in winners)
    assert codes == Counter({"COUPON_EXHAUSTED": 195})

    collections = running.app.runtime.collections
    coupon = await collections.coupons.find_one({"_id": "FIVE"})
    assert coupon is not None
    now = datetime.now(UTC)
    live = [h for h in coupon["holds"] if h["expiresAt"] is None or h["expiresAt"] > now]
    assert coupon["redeemed"] + len(live) <= 5
    assert len(coupon["holds"]) == 5
    # A refused coupon writes nothing: no enrollment exists for the 195.
    assert await collections.enrollments.count_documents({}) == 5


async def test_one_student_enrolling_20_times_at_once_gets_one_enrollment(
    gql: GraphQLClient, running: RunningApp
) -> None:
    await setup(gql, running)
    token = running.token("eager")
    payloads = await asyncio.gather(*(enroll(gql, token, "EFT") for _ in range(20)))

    docs = [d async for d in running.app.runtime.collections.enrollments.find({})]
    assert len(docs) == 1
    the_one = docs[0]["_id"]
    assert sum(1 for p in payloads if not p["errors"]) == 1
    refused = [p for p in payloads if p["errors"]]
    assert len(refused) == 19
    assert all(p["errors"] == [{"code": "ALREADY_ENROLLED"}] for p in refused)
    assert {p["enrollment"]["id"] for p in payloads} == {the_one}


async def test_20_admins_approving_at_once_approve_once(gql: GraphQLClient, running: RunningApp) -> None:
    await setup(gql, running)
    created = await enroll(gql, running.token("student"), "EFT")
    enrollment_id, version = created["enrollment"]["id"], created["enrollment"]["version"]
    admins = [running.token(f"admin-{i}", Role.ADMIN) for i in range(20)]

    bodies = await asyncio.gather(*(gql(APPROVE, {"id": enrollment_id}, t) for t in admins))
    payloads = [b["data"]["approveEnrollment"] for b in bodies]
    approved = [p for p in payloads if not p["errors"]]
    assert len(approved) == 1
    assert approved[0]["enrollment"]["version"] == version + 1
    assert Counter(e["code"] for p in payloads for e in p["errors"]) == Counter({"INVALID_TRANSITION": 19})

    doc = await running.app.runtime.collections.enrollments.find_one({"_id": enrollment_id})
    assert doc is not None
    assert (doc["status"], doc["version"]) == ("APPROVED", version + 1)
    assert doc["approvedBy"] == approved[0]["enrollment"]["approvedBy"]
