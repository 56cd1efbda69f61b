"""Bulk approve and bulk reject: per-id errors beside the decided ones, one audit entry per
enrollment, and every decision pushed to every open admin console."""

from __future__ import annotations

from typing import Any

from domain.viewer import Role
from tests.realtime.wsclient import ADMIN_EVENTS, create_course, enroll_eft, signed_in, until
from tests.servers import GraphQLClient, RunningApp

BULK_REJECT = """
mutation($ids: [ID!]!, $reason: String!) {
  bulkRejectEnrollments(enrollmentIds: $ids, reason: $reason) {
    rejected { id status rejectionReason } errors { code field message }
  }
}
"""
BULK_APPROVE = """
mutation($ids: [ID!]!) {
  bulkApproveEnrollments(enrollmentIds: $ids) { approved { id status } errors { code field } }
}
"""


async def enrolled(gql: GraphQLClient, running: RunningApp, course: str, count: int) -> list[str]:
    await create_course(gql, running, course)
    return [(await enroll_eft(gql, running.token(f"stu-{course}-{n}"), course))["id"] for n in range(count)]


async def test_bulk_reject_decides_each_id_and_says_why_for_the_others(
    gql: GraphQLClient, running: RunningApp
) -> None:
    ids = await enrolled(gql, running, "bulk-reject", 3)
    admin = running.token("admin-bulk", Role.ADMIN)
    assert not (await gql(BULK_APPROVE, {"ids": ids[2:]}, admin))["data"]["bulkApproveEnrollments"]["errors"]

    body = await gql(
        BULK_REJECT, {"ids": [ids[0], ids[1], ids[0], ids[2], "nope"], "reason": " full "}, admin
    )
    payload: dict[str, Any] = body["data"]["bulkRejectEnrollments"]
    assert [(e["id"], e["status"], e["rejectionReason"]) for e in payload["rejected"]] == [
        (ids[0], "REJECTED", "full"),
        (ids[1], "REJECTED", "full"),
    ]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("INVALID_TRANSITION", ids[2]),
        ("ENROLLMENT_NOT_FOUND", "nope"),
    ]
    audit = running.app.runtime.collections.audit
    entries = [doc async for doc in audit.find({"action": "bulkRejectEnrollments"})]
    assert sorted(doc["enrollmentId"] for doc in entries) == sorted(ids[:2])
    assert {doc["actor"]["id"] for doc in entries} == {"admin-bulk"}


async def test_a_blank_reason_or_too_many_ids_refuses_the_batch(
    gql: GraphQLClient, running: RunningApp
) -> None:
    ids = await enrolled(gql, running, "bulk-refused", 1)
    admin = running.token("admin-bulk", Role.ADMIN)
    for variables in (
        {"ids": ids, "reason": "  "},
        {"ids": ids * 50 + [f"x{n}" for n in range(60)], "reason": "r"},
    ):
        payload = (await gql(BULK_REJECT, variables, admin))["data"]["bulkRejectEnrollments"]
        assert payload["rejected"] == [] and [e["code"] for e in payload["errors"]] == ["VALIDATION_FAILED"]
    doc = await running.app.runtime.collections.enrollments.find_one({"_id": ids[0]})
    assert doc is not None and doc["status"] == "AWAITING_APPROVAL"


async def test_bulk_decisions_reach_every_admin_console(gql: GraphQLClient, running: RunningApp) -> None:
    ids = await enrolled(gql, running, "bulk-live", 4)
    admin = running.token("admin-bulk", Role.ADMIN)
    async with signed_in(running.ws_url, admin) as a, signed_in(running.ws_url, admin) as b:
        consoles = [(a, await a.subscribe(ADMIN_EVENTS)), (b, await b.subscribe(ADMIN_EVENTS))]
        await until(lambda: running.app.runtime.hub.stats().subscribers >= 1)
        await until(lambda: sum(len(f.members) for f in running.app.runtime.feeds._feeds.values()) == 2)
        await gql(BULK_APPROVE, {"ids": ids[:2]}, admin)
        await gql(BULK_REJECT, {"ids": ids[2:], "reason": "course full"}, admin)
        for console, op in consoles:
            seen: dict[str, str] = {}
            while len(seen) < 4:  # provisioning's own events for the approved ones may come between
                event = (await console.next_data(op))["adminEnrollmentEvents"]["enrollment"]
                seen.setdefault(event["id"], event["status"])
            assert seen == {ids[0]: "APPROVED", ids[1]: "APPROVED", ids[2]: "REJECTED", ids[3]: "REJECTED"}
