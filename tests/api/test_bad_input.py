"""A client's mistake gets a clear error, never a 500, and the database stays exactly as it was."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

EP = "{ enrollment { id } errors { code field } }"
ENROLL = f"mutation($i: EnrollInput!) {{ enroll(input: $i) {EP} }}"
COURSE = (
    "mutation($i: CreateCourseInput!) { createCourse(input: $i) { course { id } errors { code field } } }"
)
COUPON = (
    "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { coupon { code } errors { code field } } }"
)
BULK = """
mutation($ids: [ID!]!) { bulkApproveEnrollments(enrollmentIds: $ids) { approved { id } errors { code } } }
"""
REJECT = f"mutation($id: ID!, $r: String!) {{ rejectEnrollment(enrollmentId: $id, reason: $r) {EP} }}"
UNKNOWN = "0123456789abcdef01234567"
APPROVE = f"mutation($id: ID!) {{ approveEnrollment(enrollmentId: $id) {EP} }}"


async def snapshot(running: RunningApp) -> dict[str, list[dict[str, Any]]]:
    db = running.app.runtime.collections.db
    return {
        name: [doc async for doc in db[name].find({}).sort("_id", 1)]
        for name in sorted(await db.list_collection_names())
    }


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """No job workers: a notice sent meanwhile (an EFT enrollment's) would change what is compared."""
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


@pytest.fixture
async def world(gql: GraphQLClient, running: RunningApp) -> AsyncIterator[dict[str, str]]:
    """A course, a coupon and three enrollments awaiting approval; then: nothing may change."""
    admin = running.token("admin", Role.ADMIN)
    assert (await gql(COURSE, {"i": {"id": "c1", "title": "C1", "price": 1000}}, admin))["data"]
    assert (await gql(COUPON, {"i": {"code": "TEN", "percentOff": 10, "maxRedemptions": 5}}, admin))["data"]
    ids = []
    for student in ("s1", "s2", "s3"):
        body = await gql(ENROLL, {"i": {"courseId": "c1", "paymentMethod": "EFT"}}, running.token(student))
        ids.append(body["data"]["enroll"]["enrollment"]["id"])
    before = await snapshot(running)
    yield {
        "admin": admin,
        "student": running.token("s1"),
        "pending": ids[0],
        **{f"e{i}": e for i, e in enumerate(ids)},
    }
    assert await snapshot(running) == before, "a refused request wrote to the database"


def payload_codes(body: dict[str, Any], field: str) -> list[tuple[str, str | None]]:
    assert "errors" not in body, body
    return [(e["code"], e.get("field")) for e in body["data"][field]["errors"]]


def graphql_error(body: dict[str, Any]) -> str:
    assert body.get("data") is None, body
    messages: list[str] = [e["message"] for e in body["errors"]]
    assert messages and all(messages), body
    return messages[0]


PAYLOAD_CASES = [
    ("unknown course", ENROLL, {"i": {"courseId": "nope", "paymentMethod": "CARD"}}, "student", "enroll",
     [("COURSE_NOT_FOUND", "courseId")]),
    ("unknown coupon", ENROLL, {"i": {"courseId": "c1", "paymentMethod": "CARD", "couponCode": "NOPE"}},
     "other", "enroll", [("COUPON_NOT_FOUND", "couponCode")]),
    ("approve unknown", APPROVE, {"id": UNKNOWN}, "admin", "approveEnrollment",
     [("ENROLLMENT_NOT_FOUND", "enrollmentId")]),
    ("cancel unknown", f"mutation($id: ID!) {{ cancelEnrollment(enrollmentId: $id) {EP} }}", {"id": UNKNOWN},
     "student", "cancelEnrollment", [("ENROLLMENT_NOT_FOUND", "enrollmentId")]),
    ("retry unknown", f"mutation($id: ID!) {{ retryPayment(enrollmentId: $id) {EP} }}", {"id": UNKNOWN},
     "student", "retryPayment", [("ENROLLMENT_NOT_FOUND", "enrollmentId")]),
    ("negative price", COURSE, {"i": {"id": "c2", "title": "C2", "price": -1}}, "admin", "createCourse",
     [("VALIDATION_FAILED", "price")]),
    ("blank title", COURSE, {"i": {"id": "c2", "title": "  ", "price": 1}}, "admin", "createCourse",
     [("VALIDATION_FAILED", "title")]),
    ("duplicate course", COURSE, {"i": {"id": "c1", "title": "C1", "price": 1}}, "admin", "createCourse",
     [("VALIDATION_FAILED", "id")]),
    ("percentOff 0", COUPON, {"i": {"code": "Z", "percentOff": 0, "maxRedemptions": 1}}, "admin",
     "createCoupon", [("VALIDATION_FAILED", "percentOff")]),
    ("percentOff 101", COUPON, {"i": {"code": "Z", "percentOff": 101, "maxRedemptions": 1}}, "admin",
     "createCoupon", [("VALIDATION_FAILED", "percentOff")]),
    ("both discounts", COUPON, {"i": {"code": "Z", "percentOff": 5, "amountOff": 5, "maxRedemptions": 1}},
     "admin", "createCoupon", [("VALIDATION_FAILED", "percentOff")]),
    ("maxRedemptions 0", COUPON, {"i": {"code": "Z", "percentOff": 5, "maxRedemptions": 0}}, "admin",
     "createCoupon", [("VALIDATION_FAILED", "maxRedemptions")]),
    ("duplicate coupon", COUPON, {"i": {"code": "ten", "percentOff": 5, "maxRedemptions": 1}}, "admin",
     "createCoupon", [("VALIDATION_FAILED", "code")]),
    ("already enrolled", ENROLL, {"i": {"courseId": "c1", "paymentMethod": "CARD"}}, "student", "enroll",
     [("ALREADY_ENROLLED", None)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "variables", "who", "field", "expected"),
    [case[1:] for case in PAYLOAD_CASES],
    ids=[case[0] for case in PAYLOAD_CASES],
)
async def test_domain_mistakes_come_back_in_the_payload(
    world: dict[str, str],
    gql: GraphQLClient,
    running: RunningApp,
    document: str,
    variables: dict[str, Any],
    who: str,
    field: str,
    expected: list[tuple[str, str | None]],
) -> None:
    token = world[who] if who in world else running.token("newcomer")
    assert payload_codes(await gql(document, variables, token), field) == expected


async def test_101_ids_in_bulk_approve_nothing(world: dict[str, str], gql: GraphQLClient) -> None:
    ids = [world["e0"], world["e1"], world["e2"], *(f"{UNKNOWN[:-3]}{i:03d}" for i in range(98))]
    body = await gql(BULK, {"ids": ids}, world["admin"])
    assert body["data"]["bulkApproveEnrollments"] == {
        "approved": [],
        "errors": [{"code": "VALIDATION_FAILED"}],
    }


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
async def test_rejection_needs_a_reason(world: dict[str, str], gql: GraphQLClient, reason: str) -> None:
    body = await gql(REJECT, {"id": world["pending"], "r": reason}, world["admin"])
    assert payload_codes(body, "rejectEnrollment") == [("VALIDATION_FAILED", "reason")]


GRAPHQL_CASES = [
    ("invalid enum", ENROLL, {"i": {"courseId": "c1", "paymentMethod": "BITCOIN"}}),
    ("invalid status filter", "query($s: EnrollmentStatus) { enrollments(status: $s) { totalCount } }",
     {"s": "LOST"}),
    ("string for Int", COURSE, {"i": {"id": "c2", "title": "C2", "price": "ten"}}),
    ("float for Int", COURSE, {"i": {"id": "c2", "title": "C2", "price": 9.99}}),
    ("missing required", COURSE, {"i": {"id": "c2", "price": 5}}),
    ("list for ID", APPROVE, {"id": ["a"]}),
    ("unknown field", "{ courseCards { price { bitcoin } } }", {}),
    ("syntax error", "{ courseCards { ", {}),
    ("bad cursor", "{ enrollments(after: \"!!not-a-cursor\") { totalCount } }", {}),
    ("huge page", "{ enrollments(first: 100000000000) { totalCount } }", {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "variables"), [c[1:] for c in GRAPHQL_CASES], ids=[c[0] for c in GRAPHQL_CASES]
)
async def test_malformed_operations_are_graphql_errors(
    world: dict[str, str], gql: GraphQLClient, document: str, variables: dict[str, Any]
) -> None:
    assert graphql_error(await gql(document, variables, world["admin"]))


async def test_an_oversized_body_is_refused_before_parsing(
    world: dict[str, str], http: httpx.AsyncClient
) -> None:
    padding = "#" + "x" * (1024 * 1024) + "\n"
    body = json.dumps({"query": padding + "{ courseCards { buttonText } }"})
    response = await http.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {world['admin']}"},
    )
    assert response.status_code == 413


async def test_a_huge_document_under_the_body_limit_is_a_graphql_error(
    world: dict[str, str], gql: GraphQLClient
) -> None:
    query = "{ " + " ".join(f"a{i}: courseCards {{ buttonText }}" for i in range(20_000)) + " }"
    assert 500_000 < len(query) < 1024 * 1024
    assert graphql_error(await gql(query, None, world["admin"]))


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[]", b'{"query": 5}', b'{"variables": {}}', b"\xff\xfe"],
    ids=["malformed", "array", "query not string", "no query", "not utf-8"],
)
async def test_malformed_json_is_a_client_error(
    world: dict[str, str], http: httpx.AsyncClient, content: bytes
) -> None:
    response = await http.post("/graphql", content=content, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.text


async def test_a_1_mib_query_string_is_refused_without_a_500(
    world: dict[str, str], running: RunningApp
) -> None:
    # httpx refuses such URLs itself, so the request goes over a raw socket.
    document = "{ courseCards { buttonText } }" + " " * (1024 * 1024)
    target = "/graphql?" + urlencode({"query": document})
    host, port = "127.0.0.1", running.settings.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
        writer.write(request.encode() + b"Connection: close\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(30):
            status_line = await reader.readline()
            rest = await reader.read()
    finally:
        writer.close()
    # uvicorn refuses the request line itself; a GraphQL error would do as well. Never a 500.
    status = int(status_line.split()[1])
    assert 400 <= status < 500 or (status == 200 and b'"errors"' in rest), status_line
