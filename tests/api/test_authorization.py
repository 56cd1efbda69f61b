"""Every Query and Mutation field x {anonymous, owner, another student, admin}, as the contract says.

Each cell gets a fresh setup with arguments that would succeed for an allowed caller, so a
refusal can only come from authorization. A refused mutation must leave the database as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from domain.enrollment import Action
from domain.ports import TransitionExtras
from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.servers import AUTH_SECRET, GraphQLClient, RunningApp, serve, test_settings

DATA, UNAUTH, FORBID = "data", "UNAUTHENTICATED", "FORBIDDEN"
ROLES = ("anonymous", "owner", "other", "admin")


@dataclass
class Cell:
    """What one (field, role) attempt is run with."""

    gql: GraphQLClient
    running: RunningApp
    owner: str
    course: str

    @property
    def admin_token(self) -> str:
        return self.running.token("admin-setup", Role.ADMIN)

    async def make_course(self) -> None:
        body = await self.gql(
            "mutation($i: CreateCourseInput!) { createCourse(input: $i) { errors { code } } }",
            {"i": {"id": self.course, "title": "T", "price": 1000}},
            self.admin_token,
        )
        assert body["data"]["createCourse"]["errors"] == []

    async def enrollment(self, method: str = "EFT") -> str:
        await self.make_course()
        body = await self.gql(
            "mutation($i: EnrollInput!) { enroll(input: $i) { enrollment { id } errors { code } } }",
            {"i": {"courseId": self.course, "paymentMethod": method}},
            self.running.token(self.owner),
        )
        assert body["data"]["enroll"]["errors"] == []
        enrollment_id: str = body["data"]["enroll"]["enrollment"]["id"]
        return enrollment_id

    async def failed_payment(self) -> str:
        enrollment_id = await self.enrollment("CARD")
        store = self.running.app.runtime.services.enrollments
        failed = await store.apply_transition(
            enrollment_id, Action.FAIL_PAYMENT, TransitionExtras(), now=datetime.now(UTC)
        )
        assert failed is not None
        return enrollment_id

    async def coupon(self) -> str:
        code = self.course.upper()
        body = await self.gql(
            "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { errors { code } } }",
            {"i": {"code": code, "percentOff": 10, "maxRedemptions": 1}},
            self.admin_token,
        )
        assert body["data"]["createCoupon"]["errors"] == []
        return code


Setup = Callable[[Cell], Awaitable[dict[str, Any]]]


async def nothing(cell: Cell) -> dict[str, Any]:
    return {}


async def a_course(cell: Cell) -> dict[str, Any]:
    await cell.make_course()
    return {"id": cell.course}


async def an_enrollment(cell: Cell) -> dict[str, Any]:
    return {"id": await cell.enrollment()}


async def a_failed_payment(cell: Cell) -> dict[str, Any]:
    return {"id": await cell.failed_payment()}


async def a_coupon(cell: Cell) -> dict[str, Any]:
    return {"code": await cell.coupon()}


async def an_enroll_input(cell: Cell) -> dict[str, Any]:
    await cell.make_course()
    return {"i": {"courseId": cell.course, "paymentMethod": "EFT"}}


async def a_new_course(cell: Cell) -> dict[str, Any]:
    return {"i": {"id": cell.course, "title": "New", "price": 100}}


async def a_new_coupon(cell: Cell) -> dict[str, Any]:
    return {"i": {"code": cell.course, "amountOff": 100, "maxRedemptions": 3}}


async def a_course_change(cell: Cell) -> dict[str, Any]:
    await cell.make_course()
    return {"id": cell.course, "i": {"price": 2000}}


async def unknown_job(cell: Cell) -> dict[str, Any]:
    # No DEAD job exists here: an admin gets the JOB_NOT_FOUND payload, the others an auth error.
    return {"id": "no-such-job"}


@dataclass(frozen=True)
class Field:
    name: str
    document: str
    setup: Setup
    expect: tuple[str, str, str, str]  # per ROLES
    mutation: bool = False
    payload_errors: tuple[str, ...] = ()  # admin's expected domain codes, when not []


ADMIN_ONLY = (UNAUTH, FORBID, FORBID, DATA)
OWNER_ONLY = (UNAUTH, DATA, FORBID, FORBID)
SIGNED_IN = (UNAUTH, DATA, DATA, DATA)
PUBLIC = (DATA, DATA, DATA, DATA)
PAGE = "{ totalCount edges { cursor } }"
EP = "{ enrollment { id } errors { code } }"

ENROLL = f"mutation($i: EnrollInput!) {{ enroll(input: $i) {EP} }}"
BULK = (
    "mutation($id: ID!) { bulkApproveEnrollments(enrollmentIds: [$id]) { approved { id } errors { code } } }"
)
BULK_REJECT = (
    'mutation($id: ID!) { bulkRejectEnrollments(enrollmentIds: [$id], reason: "full") '
    "{ rejected { id } errors { code } } }"
)
REJECT = f'mutation($id: ID!) {{ rejectEnrollment(enrollmentId: $id, reason: "full") {EP} }}'
COURSE = "mutation($i: CreateCourseInput!) { createCourse(input: $i) { course { id } errors { code } } }"
COUPON = "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { code } errors { code } } }"
UPDATE_COURSE = (
    "mutation($id: ID!, $i: UpdateCourseInput!) "
    "{ updateCourse(id: $id, input: $i) { course { id } errors { code } } }"
)
DISABLE_COUPON = "mutation($code: String!) { disableCoupon(code: $code) { coupon { code } errors { code } } }"
RETRY_JOB = "mutation($id: ID!) { retryJob(id: $id) { job { id } errors { code } } }"


def on_enrollment(field: str) -> str:
    return f"mutation($id: ID!) {{ {field}(enrollmentId: $id) {EP} }}"


# fmt: off
FIELDS = [
    Field("courseCards", "{ courseCards { buttonText } }", a_course, PUBLIC),
    Field("courseCard", "query($id: ID!) { courseCard(courseId: $id) { buttonText } }", a_course, PUBLIC),
    Field("myEnrollments", "{ myEnrollments { id } }", nothing, SIGNED_IN),
    Field("enrollment", "query($id: ID!) { enrollment(id: $id) { id } }", an_enrollment,
          (UNAUTH, DATA, FORBID, DATA)),
    Field("enrollments", f"{{ enrollments {PAGE} }}", an_enrollment, ADMIN_ONLY),
    Field("pendingEnrollments", f"{{ pendingEnrollments {PAGE} }}", an_enrollment, ADMIN_ONLY),
    Field("coupon", "query($code: String!) { coupon(code: $code) { code } }", a_coupon, ADMIN_ONLY),
    Field("jobs", "{ jobs { totalCount } }", nothing, ADMIN_ONLY),
    Field("jobStats", "{ jobStats { pending } }", nothing, ADMIN_ONLY),
    Field("enroll", ENROLL, an_enroll_input, SIGNED_IN, True),
    Field("retryPayment", on_enrollment("retryPayment"), a_failed_payment, OWNER_ONLY, True),
    Field("cancelEnrollment", on_enrollment("cancelEnrollment"), an_enrollment, OWNER_ONLY, True),
    Field("approveEnrollment", on_enrollment("approveEnrollment"), an_enrollment, ADMIN_ONLY, True),
    Field("rejectEnrollment", REJECT, an_enrollment, ADMIN_ONLY, True),
    Field("bulkApproveEnrollments", BULK, an_enrollment, ADMIN_ONLY, True),
    Field("bulkRejectEnrollments", BULK_REJECT, an_enrollment, ADMIN_ONLY, True),
    Field("createCourse", COURSE, a_new_course, ADMIN_ONLY, True),
    Field("createCoupon", COUPON, a_new_coupon, ADMIN_ONLY, True),
    Field("retryJob", RETRY_JOB, unknown_job, ADMIN_ONLY, True, ("JOB_NOT_FOUND",)),
    Field("coupons", f"{{ coupons {PAGE} }}", nothing, ADMIN_ONLY),
    Field("dashboard", "{ dashboard { pendingApprovals } }", nothing, ADMIN_ONLY),
    Field("updateCourse", UPDATE_COURSE, a_course_change, ADMIN_ONLY, True),
    Field("disableCoupon", DISABLE_COUPON, a_coupon, ADMIN_ONLY, True),
]
# fmt: on


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """No job workers: a setup's notice sent meanwhile would change the snapshots compared below."""
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


async def snapshot(running: RunningApp) -> dict[str, list[dict[str, Any]]]:
    db = running.app.runtime.collections.db
    return {
        name: [doc async for doc in db[name].find({}).sort("_id", 1)]
        for name in sorted(await db.list_collection_names())
    }


def token_for(cell: Cell, role: str) -> str | None:
    if role == "anonymous":
        return None
    if role == "admin":
        return cell.running.token(f"admin-{uuid.uuid4().hex[:6]}", Role.ADMIN)
    return cell.running.token(cell.owner if role == "owner" else f"other-{cell.owner}")


def outcome(body: dict[str, Any], field: Field) -> tuple[str, tuple[str, ...]]:
    if body.get("errors"):
        codes = {e.get("extensions", {}).get("code") for e in body["errors"]}
        assert len(codes) == 1, body
        assert not (body.get("data") or {}).get(field.name), body
        return str(codes.pop()), ()
    value = body["data"][field.name]
    assert value is not None, body
    errors = tuple(e["code"] for e in value.get("errors", ())) if isinstance(value, dict) else ()
    return DATA, errors


def test_the_matrix_covers_every_contract_field() -> None:
    from tests.api.test_schema_file import CONTRACT_MUTATION, CONTRACT_QUERY

    assert {f.name for f in FIELDS} == set(CONTRACT_QUERY) | set(CONTRACT_MUTATION)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
async def test_field_by_role(field: Field, gql: GraphQLClient, running: RunningApp) -> None:
    seen: dict[str, str] = {}
    for role in ROLES:
        cell = Cell(gql, running, owner=f"owner-{role}", course=f"{field.name}-{role}".lower())
        variables = await field.setup(cell)
        before = await snapshot(running) if field.mutation else None
        body = await gql(field.document, variables, token_for(cell, role))
        seen[role], domain_errors = outcome(body, field)
        if seen[role] == DATA:
            assert domain_errors == (field.payload_errors if role == "admin" else ()), (role, body)
        elif before is not None:
            assert await snapshot(running) == before, f"{field.name} refused for {role} but wrote"
    assert tuple(seen[r] for r in ROLES) == field.expect, seen


BAD_TOKENS = {
    "expired": jwt.encode({"sub": "s", "role": "student", "exp": 1}, AUTH_SECRET, algorithm="HS256"),
    "wrong secret": jwt.encode(
        {"sub": "s", "role": "admin", "exp": 4102444800}, "another-secret-" * 3, algorithm="HS256"
    ),
    "unknown role": jwt.encode(
        {"sub": "s", "role": "teacher", "exp": 4102444800}, AUTH_SECRET, algorithm="HS256"
    ),
    "no exp": jwt.encode({"sub": "s", "role": "admin"}, AUTH_SECRET, algorithm="HS256"),
    "no sub": jwt.encode({"role": "admin", "exp": 4102444800}, AUTH_SECRET, algorithm="HS256"),
    "garbage": "not-a-jwt",
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=list(BAD_TOKENS))
async def test_a_bad_token_fails_the_whole_request(
    token: str, gql: GraphQLClient, running: RunningApp
) -> None:
    before = await snapshot(running)
    public = await gql("{ courseCards { buttonText } }", token=token)
    assert public["data"] is None
    assert [e["extensions"]["code"] for e in public["errors"]] == [UNAUTH]
    create = 'mutation { createCourse(input: {id: "x", title: "X", price: 1}) { errors { code } } }'
    refused = await gql(create, token=token)
    assert [e["extensions"]["code"] for e in refused["errors"]] == [UNAUTH]
    assert await snapshot(running) == before


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
async def test_a_malformed_authorization_header_is_not_anonymous(
    header: str, gql: GraphQLClient, running: RunningApp
) -> None:
    response = await gql.http.post(
        "/graphql", json={"query": "{ courseCards { buttonText } }"}, headers={"Authorization": header}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [UNAUTH]
