"""The payment webhook's effects: exactly once, partial payments, order, currencies, coupon holds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from datetime import datetime, timedelta

import httpx2 as httpx

from domain.events import EventType
from domain.payment_events import PaymentEvent
from domain.payments import Outcome, apply_payment_event
from domain.viewer import Role
from store.payments import MAX_DELIVERIES, MAX_EVENT_IDS
from tests.api.webhook_support import (
    CREATE_COUPON,
    app_without_workers,  # noqa: F401  (overrides `running` in this module)
    deliver,
    enroll,
    enrollment_doc,
    event,
    realtime_log,
    unique,
)
from tests.servers import GraphQLClient, RunningApp


async def test_one_event_delivered_100_times_in_parallel_applies_once(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=10_000)
    payload = event(enrolled.reference, 10_000)
    async with realtime_log(running, enrolled.user) as log:
        responses = await asyncio.gather(*(deliver(http, payload) for _ in range(100)))
        published = await log.drain()
    assert {r.status_code for r in responses} == {200}
    statuses = Counter(r.json()["status"] for r in responses)
    assert statuses == {"processed": 1, "duplicate": 99}
    assert {r.json()["enrollmentId"] for r in responses} == {enrolled.id}
    doc = await enrollment_doc(running, enrolled.id)
    assert doc["version"] == 2
    assert doc["status"] == "APPROVED"
    assert doc["amountPaid"] == 10_000
    assert doc["webhookEventIds"] == [payload["id"]]
    assert Counter(d["outcome"] for d in doc["deliveries"]) == {"processed": 1, "duplicate": 99}
    assert [(e.change.type, e.change.enrollment.status.value) for e in published] == [
        (EventType.STATUS_CHANGED, "APPROVED")
    ]


async def test_100_concurrent_partial_payments_add_up_and_approve_once(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=10_000)
    async with realtime_log(running, enrolled.user) as log:
        responses = await asyncio.gather(*(deliver(http, event(enrolled.reference, 100)) for _ in range(100)))
        published = await log.drain()
    assert [r.json()["status"] for r in responses] == ["processed"] * 100
    doc = await enrollment_doc(running, enrolled.id)
    assert doc["amountPaid"] == 10_000
    assert doc["status"] == "APPROVED"
    assert doc["version"] == 101
    assert Counter(d["effect"] for d in doc["deliveries"]) == {"recorded": 99, "approved": 1}
    assert doc["pending"] == []  # the approval's follow-up work is done
    changes = Counter(e.change.type for e in published)
    assert changes == {EventType.PAYMENT_RECORDED: 99, EventType.STATUS_CHANGED: 1}
    assert sorted(e.change.enrollment.version for e in published) == list(range(2, 102))


async def test_success_then_failure_stays_approved(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    assert (await deliver(http, event(enrolled.reference, 5_000))).json()["status"] == "processed"
    late = await deliver(http, event(enrolled.reference, 0, type="payment.failed"))
    assert late.json() == {"status": "ignored", "enrollmentId": enrolled.id, "reason": "not_pending_payment"}
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["version"], doc["amountPaid"]) == ("APPROVED", 2, 5_000)


async def test_failure_then_success_ends_approved(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    failed = await deliver(http, event(enrolled.reference, 0, type="payment.failed"))
    assert failed.json() == {"status": "processed", "enrollmentId": enrolled.id}
    assert (await enrollment_doc(running, enrolled.id))["status"] == "PAYMENT_FAILED"
    assert (await deliver(http, event(enrolled.reference, 5_000))).json()["status"] == "processed"
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["previousStatus"], doc["version"]) == ("APPROVED", "PAYMENT_FAILED", 3)
    assert doc["access"]["status"] == "PENDING"


async def test_eft_payment_is_recorded_and_waits_for_an_admin(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000, method="EFT")
    async with realtime_log(running, enrolled.user) as log:
        answer = await deliver(http, event(enrolled.reference, 5_000))
        published = await log.drain()
    assert answer.json() == {"status": "processed", "enrollmentId": enrolled.id}
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["amountPaid"], doc["version"]) == ("AWAITING_APPROVAL", 5_000, 2)
    assert [e.change.type for e in published] == [EventType.PAYMENT_RECORDED]


async def test_currency_mismatch_is_recorded_without_money(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    payload = event(enrolled.reference, 5_000, currency="USD")
    answer = await deliver(http, payload)
    assert answer.json() == {"status": "ignored", "enrollmentId": enrolled.id, "reason": "currency_mismatch"}
    assert (await deliver(http, payload)).json()["status"] == "duplicate"
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["amountPaid"], doc["version"]) == ("PENDING_PAYMENT", 0, 1)
    assert doc["webhookEventIds"] == [payload["id"]]
    assert [d["outcome"] for d in doc["deliveries"]] == ["ignored:currency_mismatch", "duplicate"]


async def test_overpayment_and_payment_after_approval_are_recorded(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    assert (await deliver(http, event(enrolled.reference, 7_000))).json()["status"] == "processed"
    assert (await deliver(http, event(enrolled.reference, 1_000))).json()["status"] == "processed"
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["amountPaid"], doc["amountDue"], doc["version"]) == (
        "APPROVED",
        8_000,
        5_000,
        3,
    )
    assert [d["effect"] for d in doc["deliveries"]] == ["approved", "recorded"]


async def test_unknown_type_and_zero_amount_are_ignored(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    unknown = await deliver(http, event(enrolled.reference, 100, type="payment.captured"))
    assert unknown.json() == {"status": "ignored", "enrollmentId": enrolled.id, "reason": "unknown_type"}
    zero = await deliver(http, event(enrolled.reference, 0))
    assert zero.json() == {"status": "ignored", "enrollmentId": enrolled.id, "reason": "zero_amount"}
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["amountPaid"], doc["version"]) == ("PENDING_PAYMENT", 0, 1)


async def test_an_enrollment_full_of_event_ids_refuses_new_ones_but_still_answers_duplicates(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    ids = [f"evt-old-{i}" for i in range(MAX_EVENT_IDS)]
    enrollments = running.app.runtime.collections.enrollments
    await enrollments.update_one({"_id": enrolled.id}, {"$set": {"webhookEventIds": ids}})
    before = await enrollment_doc(running, enrolled.id)
    refused = await deliver(http, event(enrolled.reference, 5_000))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "EVENT_LIMIT"
    assert await enrollment_doc(running, enrolled.id) == before
    again = await deliver(http, event(enrolled.reference, 5_000, event_id=ids[7]))
    assert again.json() == {"status": "duplicate", "enrollmentId": enrolled.id}


async def test_the_delivery_log_keeps_the_latest_entries(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    payload = event(enrolled.reference, 1_000)
    await deliver(http, payload)
    old = (await enrollment_doc(running, enrolled.id))["deliveries"][0]
    filler = [{**old, "eventId": f"evt-filler-{i}"} for i in range(MAX_DELIVERIES)]
    enrollments = running.app.runtime.collections.enrollments
    await enrollments.update_one({"_id": enrolled.id}, {"$set": {"deliveries": filler}})
    assert (await deliver(http, payload)).json()["status"] == "duplicate"
    deliveries = (await enrollment_doc(running, enrolled.id))["deliveries"]
    assert len(deliveries) == MAX_DELIVERIES
    assert (deliveries[0]["eventId"], deliveries[-1]["eventId"]) == ("evt-filler-1", payload["id"])


RETRY = """
mutation($id: ID!) { retryPayment(enrollmentId: $id) { payment { reference } errors { code } } }
"""


async def test_old_reference_still_resolves_after_retry_payment(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    await deliver(http, event(enrolled.reference, 0, type="payment.failed"))
    retried = await gql(RETRY, {"id": enrolled.id}, running.token(enrolled.user))
    new_reference = retried["data"]["retryPayment"]["payment"]["reference"]
    assert new_reference != enrolled.reference
    assert (await deliver(http, event(enrolled.reference, 2_000))).json()["status"] == "processed"
    assert (await deliver(http, event(new_reference, 3_000))).json()["status"] == "processed"
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["amountPaid"]) == ("APPROVED", 5_000)


async def _coupon(gql: GraphQLClient, running: RunningApp) -> str:
    code = unique("HALF").upper()
    created = await gql(
        CREATE_COUPON,
        {"input": {"code": code, "percentOff": 50, "maxRedemptions": 5}},
        running.token("admin", Role.ADMIN),
    )
    assert created["data"]["createCoupon"]["errors"] == [], created
    return code


async def test_payment_within_the_hold_redeems_the_coupon(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    code = await _coupon(gql, running)
    enrolled = await enroll(gql, running, price=10_000, coupon=code)
    assert enrolled.amount_due == 5_000
    assert (await deliver(http, event(enrolled.reference, 5_000))).json()["status"] == "processed"
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["couponState"], doc["pending"]) == ("APPROVED", "REDEEMED", [])
    coupon = await running.app.runtime.collections.coupons.find_one({"_id": code})
    assert coupon is not None
    assert (coupon["redeemed"], coupon["holds"]) == (1, [])


@dataclasses.dataclass(frozen=True)
class Later:
    at: datetime

    def now(self) -> datetime:
        return self.at


async def test_payment_after_the_hold_ran_out_loses_the_discount_first(
    gql: GraphQLClient, running: RunningApp
) -> None:
    code = await _coupon(gql, running)
    enrolled = await enroll(gql, running, price=10_000, coupon=code)
    services = running.app.runtime.services
    # A clock past the hold, for this call only: the app's sweeper still sees the hold as live.
    later = dataclasses.replace(services, clock=Later(services.clock.now() + timedelta(hours=1)))
    async with realtime_log(running, enrolled.user) as log:
        outcome = await apply_payment_event(
            later.payments,
            later.changes,
            PaymentEvent(unique("evt"), "payment.succeeded", enrolled.reference, 5_000, "ZAR"),
        )
        published = await log.drain()
    assert outcome.outcome is Outcome.PROCESSED
    doc = await enrollment_doc(running, enrolled.id)
    assert (doc["status"], doc["couponState"], doc["amountDue"], doc["amountPaid"]) == (
        "PENDING_PAYMENT",
        "LAPSED",
        10_000,
        5_000,
    )
    assert doc["version"] == 3
    assert [e.change.type for e in published] == [EventType.STATUS_CHANGED, EventType.PAYMENT_RECORDED]


DELIVERIES = """
query($id: ID!) { enrollment(id: $id) { webhookDeliveries { eventId type outcome amount receivedAt } } }
"""


async def test_admins_see_every_delivery(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    payload = event(enrolled.reference, 1_000)
    await deliver(http, payload)
    await deliver(http, payload)
    seen = await gql(DELIVERIES, {"id": enrolled.id}, running.token("admin", Role.ADMIN))
    rows = seen["data"]["enrollment"]["webhookDeliveries"]
    assert [(r["eventId"], r["outcome"], r["amount"]) for r in rows] == [
        (payload["id"], "processed", 1_000),
        (payload["id"], "duplicate", 1_000),
    ]
    denied = await gql(DELIVERIES, {"id": enrolled.id}, running.token(enrolled.user))
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
