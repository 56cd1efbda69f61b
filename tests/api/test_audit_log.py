"""Who did what: every admin mutation and every gateway action writes exactly one audit entry
with the right actor; a refused action writes none; the log is admin-only, newest first, paged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest

from domain.viewer import Role
from tests.api.webhook_support import (
    Enrolled,
    app_without_workers,  # noqa: F401  (overrides `running` in this module)
    deliver,
    enroll,
    event,
    unique,
)
from tests.servers import GraphQLClient, RunningApp

APPROVE = "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }"
REJECT = (
    "mutation($id: ID!, $r: String!) { rejectEnrollment(enrollmentId: $id, reason: $r) { errors { code } } }"
)
BULK = "mutation($ids: [ID!]!) { bulkApproveEnrollments(enrollmentIds: $ids) { errors { code } } }"
REVOKE = """mutation($id: ID!, $r: String!) {
  revokeEnrollment(enrollmentId: $id, reason: $r) { errors { code } } }"""
BULK_REJECT = """mutation($ids: [ID!]!) {
  bulkRejectEnrollments(enrollmentIds: $ids, reason: "no seats") { errors { code } } }"""
UPDATE_COURSE = """mutation($id: ID!, $in: UpdateCourseInput!) {
  updateCourse(id: $id, input: $in) { errors { code } } }"""
DISABLE_COUPON = "mutation($code: String!) { disableCoupon(code: $code) { errors { code } } }"
CANCEL = "mutation($id: ID!) { cancelEnrollment(enrollmentId: $id) { errors { code } } }"
RETRY = "mutation($id: ID!) { retryPayment(enrollmentId: $id) { errors { code } } }"
RECORD = """mutation($id: ID!, $ref: String!) {
  recordPayment(enrollmentId: $id, amount: 100, reference: $ref) { errors { code } } }"""
COUPON = "mutation($in: CreateCouponInput!) { createCoupon(input: $in) { errors { code } } }"
COURSE = "mutation($in: CreateCourseInput!) { createCourse(input: $in) { errors { code } } }"
LOG = """query($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id at actor { kind id } action enrollmentId targetId detail } }
    pageInfo { hasNextPage endCursor } totalCount } }"""
HISTORY = """query($id: ID!) { enrollment(id: $id) {
  status approvedAt rejectedAt decidedBy approvedBy userEmail
  history { version status previousStatus actor { kind id } action reason } } }"""


@dataclass
class World:
    http: httpx.AsyncClient
    gql: GraphQLClient
    running: RunningApp
    admin: str = "admin-7"

    async def as_admin(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = await self.gql(query, variables, self.running.token(self.admin, Role.ADMIN))
        assert "errors" not in body, body
        [payload] = body["data"].values()
        assert isinstance(payload, dict)
        return payload

    async def as_student(self, enrolled: Enrolled, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = await self.gql(query, variables, self.running.token(enrolled.user))
        assert "errors" not in body, body
        [payload] = body["data"].values()
        assert isinstance(payload, dict)
        return payload

    async def entries(self) -> list[dict[str, Any]]:
        cursor = self.running.app.runtime.collections.audit.find({}).sort("_id", 1)
        return [doc async for doc in cursor]


async def _approve(w: World, e: Enrolled) -> None:
    assert (await w.as_admin(APPROVE, {"id": e.id}))["errors"] == []


async def _reject(w: World, e: Enrolled) -> None:
    assert (await w.as_admin(REJECT, {"id": e.id, "r": "no seats"}))["errors"] == []


async def _bulk(w: World, e: Enrolled) -> None:
    assert (await w.as_admin(BULK, {"ids": [e.id]}))["errors"] == []


async def _record(w: World, e: Enrolled) -> None:
    assert (await w.as_admin(RECORD, {"id": e.id, "ref": unique("bank")}))["errors"] == []


async def _cancel(w: World, e: Enrolled) -> None:
    assert (await w.as_student(e, CANCEL, {"id": e.id}))["errors"] == []


async def _paid(w: World, e: Enrolled) -> None:
    assert (await deliver(w.http, event(e.reference, e.amount_due))).status_code == 200


async def _failed(w: World, e: Enrolled) -> None:
    assert (await deliver(w.http, event(e.reference, 0, type="payment.failed"))).status_code == 200


async def _retry(w: World, e: Enrolled) -> None:
    await _failed(w, e)
    before = len(await w.entries())
    assert (await w.as_student(e, RETRY, {"id": e.id}))["errors"] == []
    assert len(await w.entries()) == before + 1


async def _revoke(w: World, e: Enrolled) -> None:
    await _approve(w, e)
    assert (await w.as_admin(REVOKE, {"id": e.id, "r": "chargeback by phone"}))["errors"] == []


async def _refunded(w: World, e: Enrolled) -> None:
    await _paid(w, e)
    assert (await deliver(w.http, event(e.reference, 1, type="payment.refunded"))).status_code == 200


async def _disputed(w: World, e: Enrolled) -> None:
    await _paid(w, e)
    assert (await deliver(w.http, event(e.reference, 0, type="payment.disputed"))).status_code == 200


async def _bulk_reject(w: World, e: Enrolled) -> None:
    assert (await w.as_admin(BULK_REJECT, {"ids": [e.id]}))["errors"] == []


async def _update_course(w: World, e: Enrolled) -> None:
    doc = await w.running.app.runtime.collections.enrollments.find_one({"_id": e.id})
    assert doc is not None
    assert (await w.as_admin(UPDATE_COURSE, {"id": doc["courseId"], "in": {"price": 777}}))["errors"] == []


async def _disable_coupon(w: World, e: Enrolled) -> None:
    code = unique("OFF").upper().replace("-", "")
    variables = {"in": {"code": code, "percentOff": 10, "maxRedemptions": 3}}
    assert (await w.as_admin(COUPON, variables))["errors"] == []
    assert (await w.as_admin(DISABLE_COUPON, {"code": code}))["errors"] == []


async def _coupon(w: World, e: Enrolled) -> None:
    variables = {"in": {"code": unique("C").upper().replace("-", ""), "percentOff": 10, "maxRedemptions": 3}}
    assert (await w.as_admin(COUPON, variables))["errors"] == []


async def _course(w: World, e: Enrolled) -> None:
    assert (await w.as_admin(COURSE, {"in": {"id": unique("course"), "title": "T", "price": 100}}))[
        "errors"
    ] == []


ADMIN, STUDENT, GATEWAY = "ADMIN", "STUDENT", "GATEWAY"

# (action, how, payment method of the enrollment it acts on, the actor's kind, whose id)
CASES: list[tuple[str, Callable[[World, Enrolled], Awaitable[None]], str, str, str]] = [
    ("approveEnrollment", _approve, "EFT", ADMIN, "admin"),
    ("rejectEnrollment", _reject, "EFT", ADMIN, "admin"),
    ("bulkApproveEnrollments", _bulk, "EFT", ADMIN, "admin"),
    ("recordPayment", _record, "CARD", ADMIN, "admin"),
    ("createCoupon", _coupon, "EFT", ADMIN, "admin"),
    ("createCourse", _course, "EFT", ADMIN, "admin"),
    ("cancelEnrollment", _cancel, "EFT", STUDENT, "student"),
    ("retryPayment", _retry, "CARD", STUDENT, "student"),
    ("payment.succeeded", _paid, "CARD", GATEWAY, "webhook"),
    ("payment.failed", _failed, "CARD", GATEWAY, "webhook"),
    ("revokeEnrollment", _revoke, "EFT", ADMIN, "admin"),
    ("payment.refunded", _refunded, "CARD", GATEWAY, "webhook"),
    ("payment.disputed", _disputed, "CARD", GATEWAY, "webhook"),
    ("bulkRejectEnrollments", _bulk_reject, "EFT", ADMIN, "admin"),
    ("updateCourse", _update_course, "EFT", ADMIN, "admin"),
    ("disableCoupon", _disable_coupon, "EFT", ADMIN, "admin"),
]


@pytest.mark.parametrize(("action", "how", "method", "kind", "who"), CASES, ids=[c[0] for c in CASES])
async def test_each_action_writes_exactly_one_entry_with_its_actor(
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    running: RunningApp,
    action: str,
    how: Callable[[World, Enrolled], Awaitable[None]],
    method: str,
    kind: str,
    who: str,
) -> None:
    w = World(http, gql, running)
    enrolled = await enroll(gql, running, method=method)
    before = {doc["_id"] for doc in await w.entries()}
    await how(w, enrolled)
    new = [doc for doc in await w.entries() if doc["_id"] not in before and doc["action"] == action]
    assert len(new) == 1, new
    expected_id = {"admin": w.admin, "student": enrolled.user, "webhook": "webhook"}[who]
    assert new[0]["actor"] == {"kind": kind, "id": expected_id}
    if new[0]["enrollmentId"] is not None:
        assert new[0]["enrollmentId"] == enrolled.id


async def test_enroll_writes_one_entry_and_refused_actions_write_none(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    w = World(http, gql, running)
    enrolled = await enroll(gql, running, method="EFT")
    [created] = [doc for doc in await w.entries() if doc["enrollmentId"] == enrolled.id]
    assert (created["action"], created["actor"]) == ("enroll", {"kind": STUDENT, "id": enrolled.user})
    await _approve(w, enrolled)
    count = len(await w.entries())
    codes = [
        (await w.as_admin(APPROVE, {"id": enrolled.id}))["errors"],
        (await w.as_admin(REJECT, {"id": enrolled.id, "r": "late"}))["errors"],
        (await w.as_admin(REJECT, {"id": enrolled.id, "r": "  "}))["errors"],
        (await w.as_student(enrolled, CANCEL, {"id": enrolled.id}))["errors"],
    ]
    assert [c[0]["code"] for c in codes] == [
        "INVALID_TRANSITION",
        "INVALID_TRANSITION",
        "VALIDATION_FAILED",
        "INVALID_TRANSITION",
    ]
    assert len(await w.entries()) == count


async def test_twenty_admins_approving_at_once_make_one_approval_and_one_entry(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    w = World(http, gql, running)
    enrolled = await enroll(gql, running, method="EFT")
    results = await asyncio.gather(
        *(gql(APPROVE, {"id": enrolled.id}, running.token(f"admin-{i}", Role.ADMIN)) for i in range(20))
    )
    errors = [r["data"]["approveEnrollment"]["errors"] for r in results]
    assert sum(1 for e in errors if e == []) == 1
    approvals = [
        d
        for d in await w.entries()
        if d["enrollmentId"] == enrolled.id and d["action"] == "approveEnrollment"
    ]
    assert len(approvals) == 1
    doc = await running.app.runtime.collections.enrollments.find_one({"_id": enrolled.id})
    assert doc is not None
    assert [h["action"] for h in doc["history"]] == ["enroll", "approveEnrollment"]
    assert doc["history"][1]["actor"] == approvals[0]["actor"]


async def test_history_shows_actors_and_hides_admin_ids_from_the_owner(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    w = World(http, gql, running)
    enrolled = await enroll(gql, running, method="EFT")
    await _reject(w, enrolled)
    as_admin = (await gql(HISTORY, {"id": enrolled.id}, running.token(w.admin, Role.ADMIN)))["data"][
        "enrollment"
    ]
    as_owner = (await gql(HISTORY, {"id": enrolled.id}, running.token(enrolled.user)))["data"]["enrollment"]
    assert as_admin["decidedBy"] == w.admin and as_owner["decidedBy"] is None
    assert as_admin["rejectedAt"] is not None and as_admin["approvedAt"] is None
    rejected = {
        "version": 2,
        "status": "REJECTED",
        "previousStatus": "AWAITING_APPROVAL",
        "action": "rejectEnrollment",
        "reason": "no seats",
    }
    assert as_admin["history"][1] == {**rejected, "actor": {"kind": ADMIN, "id": w.admin}}
    assert as_owner["history"][1] == {**rejected, "actor": {"kind": ADMIN, "id": None}}
    assert as_owner["history"][0]["actor"] == {"kind": STUDENT, "id": enrolled.user}
    other = await gql(HISTORY, {"id": enrolled.id}, running.token("someone-else"))
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_log_is_admin_only_newest_first_filtered_and_paged(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    w = World(http, gql, running)
    ids = [(await enroll(gql, running, method="EFT")).id for _ in range(3)]
    for enrollment_id in ids:
        assert (await w.as_admin(APPROVE, {"id": enrollment_id}))["errors"] == []
    student = await gql(LOG, {}, running.token("student-1"))
    assert student["data"] is None and student["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    walked: list[dict[str, Any]] = []
    after = None
    while True:
        page = await w.as_admin(LOG, {"filter": {"action": "approveEnrollment"}, "first": 2, "after": after})
        assert page["totalCount"] == 3
        walked += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [n["enrollmentId"] for n in walked] == ids[::-1]
    assert [n["at"] for n in walked] == sorted((n["at"] for n in walked), reverse=True)

    one = await w.as_admin(LOG, {"filter": {"enrollmentId": ids[0]}})
    assert [e["node"]["action"] for e in one["edges"]] == ["approveEnrollment", "enroll"]
    mine = await w.as_admin(LOG, {"filter": {"actorId": w.admin}})
    assert mine["totalCount"] >= 3 and all(e["node"]["actor"]["id"] == w.admin for e in mine["edges"])
    newest = walked[0]["at"]
    window = await w.as_admin(LOG, {"filter": {"action": "approveEnrollment", "from": newest}})
    assert [e["node"]["enrollmentId"] for e in window["edges"]] == [ids[-1]]
    before = await w.as_admin(LOG, {"filter": {"action": "approveEnrollment", "to": newest}})
    assert [e["node"]["enrollmentId"] for e in before["edges"]] == ids[-2::-1]
    bad = await gql(LOG, {"after": "%%%"}, running.token(w.admin, Role.ADMIN))
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
