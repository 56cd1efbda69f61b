"""Refunds, chargebacks and revocation: access goes away once, on the LMS too, and live in every tab."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.api.webhook_support import Enrolled, deliver, enroll, enrollment_doc, event, unique
from tests.jobs.job_flows import eventually, job_settings
from tests.jobs.stand_in_lms import Reply, StandInLms
from tests.realtime.wsclient import COURSE_CARD, card_of, signed_in
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

PRICE = 5_000
REVOKE = """mutation($id: ID!, $reason: String!) {
  revokeEnrollment(enrollmentId: $id, reason: $reason) {
    enrollment { status revokedAt decidedBy access { status } } errors { code field } } }"""
APPROVE = "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }"
ENROLL = """mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status } errors { code } } }"""


@dataclass
class School:
    running: RunningApp
    http: httpx.AsyncClient
    gql: GraphQLClient
    lms: StandInLms | None = None

    @property
    def admin(self) -> str:
        return self.running.token("admin-9", Role.ADMIN)

    async def paid_in_full(self, method: str = "CARD") -> Enrolled:
        enrolled = await enroll(self.gql, self.running, price=PRICE, method=method)
        if method == "CARD":
            assert (await self.deliver("payment.succeeded", enrolled, PRICE))["status"] == "processed"
        else:
            assert (await self.gql(APPROVE, {"id": enrolled.id}, self.admin))["data"]["approveEnrollment"][
                "errors"
            ] == []
        assert (await enrollment_doc(self.running, enrolled.id))["status"] == "APPROVED"
        return enrolled

    async def deliver(
        self, kind: str, enrolled: Enrolled, amount: int, event_id: str | None = None
    ) -> dict[str, Any]:
        response = await deliver(self.http, event(enrolled.reference, amount, type=kind, event_id=event_id))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def audit(self, enrollment_id: str, action: str) -> list[dict[str, Any]]:
        audit = self.running.app.runtime.collections.audit
        return [doc async for doc in audit.find({"enrollmentId": enrollment_id, "action": action})]

    async def job(self, enrollment_id: str, kind: str) -> dict[str, Any] | None:
        jobs = self.running.app.runtime.collections.jobs
        doc: dict[str, Any] | None = await jobs.find_one({"enrollmentId": enrollment_id, "kind": kind})
        return doc


@contextlib.asynccontextmanager
async def school(
    mongo_server: ManagedServer, redis_server: ManagedServer, lms: StandInLms | None = None
) -> AsyncIterator[School]:
    if lms is None:
        settings = test_settings(mongo_server.url, redis_server.url, job_workers=0)
    else:
        settings = job_settings(mongo_server.url, redis_server.url, lms)
    async with serve(settings) as running, httpx.AsyncClient(base_url=running.base_url, timeout=60) as http:
        yield School(running, http, GraphQLClient(http, running), lms)


async def access_is(s: School, enrollment_id: str, status: str) -> bool:
    return bool((await enrollment_doc(s.running, enrollment_id))["access"]["status"] == status)


async def test_a_partial_refund_revokes_on_the_lms_and_both_tabs_show_enroll_now(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms()
    async with lms.serving(), school(mongo_server, redis_server, lms) as s:
        enrolled = await s.paid_in_full()
        await eventually(lambda: access_is(s, enrolled.id, "PROVISIONED"))
        course = (await enrollment_doc(s.running, enrolled.id))["courseId"]
        token = s.running.token(enrolled.user)
        async with signed_in(s.running.ws_url, token) as tab1, signed_in(s.running.ws_url, token) as tab2:
            ops = [await tab.subscribe(COURSE_CARD, {"courseId": course}) for tab in (tab1, tab2)]
            shown = [await card_of(tab, op) for tab, op in zip((tab1, tab2), ops, strict=True)]
            assert {c["buttonText"] for c in shown} == {"Continue Course"}

            answer = await s.deliver("payment.refunded", enrolled, 1_000)
            assert answer == {"status": "processed", "enrollmentId": enrolled.id}
            for tab, op in zip((tab1, tab2), ops, strict=True):
                face = await card_of(tab, op)
                assert (face["buttonText"], face["hasAccess"]) == ("Enroll Now", False)
                assert face["version"] > shown[0]["version"]
            await eventually(lambda: access_is(s, enrolled.id, "REVOKED"))

            # A revoked student may enroll again; the card's version keeps growing.
            again = await s.gql(ENROLL, {"input": {"courseId": course, "paymentMethod": "EFT"}}, token)
            assert again["data"]["enroll"]["errors"] == [], again
            for tab, op in zip((tab1, tab2), ops, strict=True):
                face = await card_of(tab, op)
                while face["buttonText"] != "Pending Approval":  # the revocation's access change first
                    face = await card_of(tab, op)
                assert face["version"] > shown[0]["version"] + 1

        doc = await enrollment_doc(s.running, enrolled.id)
        assert (doc["status"], doc["amountPaid"]) == ("REVOKED", PRICE - 1_000)
        revoked = [
            h for h in doc["history"] if h["status"] == "REVOKED" and h["previousStatus"] == "APPROVED"
        ]
        assert [(h["actor"], h["action"], h["reason"]) for h in revoked] == [
            ({"kind": "GATEWAY", "id": "webhook"}, "payment.refunded", "refunded")
        ]
        assert doc["history"][-1]["action"] == "access_revoked"
        calls = [(c.path, c.body["kind"]) for c in lms.calls if c.path == "/lms"]
        assert calls == [("/lms", "PROVISION_ACCESS"), ("/lms", "REVOKE_ACCESS")]
        revoke_call = next(c for c in lms.calls if c.body["kind"] == "REVOKE_ACCESS")
        assert (
            revoke_call.key == f"{enrolled.id}:revoke_access" and revoke_call.body["userId"] == enrolled.user
        )


async def test_the_same_refund_100_times_in_parallel_applies_once(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with school(mongo_server, redis_server) as s:
        enrolled = await s.paid_in_full()
        refund_id = unique("refund")
        answers = await asyncio.gather(
            *(s.deliver("payment.refunded", enrolled, 1_000, event_id=refund_id) for _ in range(100))
        )
        assert sorted(a["status"] for a in answers) == ["duplicate"] * 99 + ["processed"]
        doc = await enrollment_doc(s.running, enrolled.id)
        assert (doc["status"], doc["amountPaid"]) == ("REVOKED", PRICE - 1_000)
        assert [h["action"] for h in doc["history"]].count("payment.refunded") == 1
        assert len(await s.audit(enrolled.id, "payment.refunded")) == 1
        assert (await s.job(enrolled.id, "REVOKE_ACCESS")) is not None
        # A second, different refund is money going back again, recorded; the status stays.
        second = await s.deliver("payment.refunded", enrolled, 500)
        assert second["status"] == "processed"
        doc = await enrollment_doc(s.running, enrolled.id)
        assert (doc["status"], doc["amountPaid"]) == ("REVOKED", PRICE - 1_500)


async def test_a_small_refund_that_still_covers_the_price_keeps_access(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with school(mongo_server, redis_server) as s:
        enrolled = await enroll(s.gql, s.running, price=PRICE)
        assert (await s.deliver("payment.succeeded", enrolled, PRICE + 700))["status"] == "processed"
        assert (await s.deliver("payment.refunded", enrolled, 700))["status"] == "processed"
        doc = await enrollment_doc(s.running, enrolled.id)
        assert (doc["status"], doc["amountPaid"]) == ("APPROVED", PRICE)


async def test_a_dispute_revokes_at_once_and_keeps_the_money_on_the_books(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with school(mongo_server, redis_server) as s:
        enrolled = await s.paid_in_full()
        assert (await s.deliver("payment.disputed", enrolled, PRICE))["status"] == "processed"
        doc = await enrollment_doc(s.running, enrolled.id)
        assert (doc["status"], doc["amountPaid"]) == ("REVOKED", PRICE)
        assert (doc["history"][-1]["action"], doc["history"][-1]["reason"]) == (
            "payment.disputed",
            "disputed",
        )
        again = await s.deliver("payment.disputed", enrolled, PRICE)
        assert again == {"status": "ignored", "enrollmentId": enrolled.id, "reason": "not_approved"}
        assert len(await s.audit(enrolled.id, "payment.disputed")) == 1


async def test_a_refund_for_an_eft_enrollment_never_approved_is_recorded_and_changes_no_status(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with school(mongo_server, redis_server) as s:
        enrolled = await enroll(s.gql, s.running, price=PRICE, method="EFT")
        assert (await s.deliver("payment.succeeded", enrolled, 2_000))["status"] == "processed"
        assert (await s.deliver("payment.refunded", enrolled, 2_000))["status"] == "processed"
        # More than was ever paid: recorded, and the books never go below zero.
        assert (await s.deliver("payment.refunded", enrolled, 300))["status"] == "processed"
        doc = await enrollment_doc(s.running, enrolled.id)
        assert (doc["status"], doc["amountPaid"]) == ("AWAITING_APPROVAL", 0)
        assert [d["effect"] for d in doc["deliveries"]] == ["recorded", "refunded", "refunded"]
        assert (await s.job(enrolled.id, "REVOKE_ACCESS")) is None
        # The student hears of the payment, not of the money going back as if it were one.
        notices = s.running.app.runtime.collections.jobs.find(
            {"enrollmentId": enrolled.id, "kind": "NOTIFY_STUDENT"}
        )
        assert sorted([n["template"] async for n in notices]) == ["enrollment_received", "payment_received"]


async def test_revoke_enrollment_is_an_admins_with_a_reason_and_only_after_approval(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with school(mongo_server, redis_server) as s:
        waiting = await enroll(s.gql, s.running, price=PRICE, method="EFT")
        approved = await s.paid_in_full(method="EFT")
        student = await s.gql(REVOKE, {"id": approved.id, "reason": "x"}, s.running.token(approved.user))
        assert student["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        anonymous = await s.gql(REVOKE, {"id": approved.id, "reason": "x"}, None)
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        refused = [
            (await s.gql(REVOKE, {"id": approved.id, "reason": "  "}, s.admin))["data"]["revokeEnrollment"],
            (await s.gql(REVOKE, {"id": waiting.id, "reason": "fraud"}, s.admin))["data"]["revokeEnrollment"],
            (await s.gql(REVOKE, {"id": "nope", "reason": "fraud"}, s.admin))["data"]["revokeEnrollment"],
        ]
        assert [r["errors"][0]["code"] for r in refused] == [
            "VALIDATION_FAILED",
            "INVALID_TRANSITION",
            "ENROLLMENT_NOT_FOUND",
        ]
        assert await s.audit(approved.id, "revokeEnrollment") == []
        assert (await enrollment_doc(s.running, approved.id))["status"] == "APPROVED"

        done = (await s.gql(REVOKE, {"id": approved.id, "reason": "fraud"}, s.admin))["data"][
            "revokeEnrollment"
        ]
        assert done["errors"] == []
        assert (done["enrollment"]["status"], done["enrollment"]["decidedBy"]) == ("REVOKED", "admin-9")
        assert done["enrollment"]["revokedAt"] is not None
        [entry] = await s.audit(approved.id, "revokeEnrollment")
        assert entry["actor"] == {"kind": "ADMIN", "id": "admin-9"}
        jobs = s.running.app.runtime.collections.jobs
        told = await jobs.find_one({"enrollmentId": approved.id, "template": "revoked"})
        assert told is not None and told["data"]["reason"] == "fraud"
        assert (await s.job(approved.id, "REVOKE_ACCESS")) is not None
        twice = (await s.gql(REVOKE, {"id": approved.id, "reason": "fraud"}, s.admin))["data"]
        assert twice["revokeEnrollment"]["errors"][0]["code"] == "INVALID_TRANSITION"


async def test_a_revocation_waits_for_the_provisioning_call_in_flight(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # The grant is slow to answer: the revocation must reach the LMS only after it, never before.
    lms = StandInLms(script=[Reply(delay=2.0)])
    async with lms.serving(), school(mongo_server, redis_server, lms) as s:
        enrolled = await s.paid_in_full(method="EFT")
        provision, revoke = f"{enrolled.id}:provision_access", f"{enrolled.id}:revoke_access"
        await lms.wait_for(lambda: ("start", provision) in lms.timeline)
        done = await s.gql(REVOKE, {"id": enrolled.id, "reason": "paid by mistake"}, s.admin)
        assert done["data"]["revokeEnrollment"]["errors"] == []
        await eventually(lambda: access_is(s, enrolled.id, "REVOKED"))
        mine = [entry for entry in lms.timeline if entry[1] in (provision, revoke)]
        assert mine == [("start", provision), ("end", provision), ("start", revoke), ("end", revoke)]
        doc = await enrollment_doc(s.running, enrolled.id)
        # The grant's success came after the revocation: it is never shown as access.
        assert [h["action"] for h in doc["history"]].count("access_provisioned") == 0
