"""Card payments through iK Pay, end to end over real HTTP: the app, the stand-in, MongoDB, Redis."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx2 as httpx

from domain.events import EventType
from sandbox.embedded import ManagedServer
from tests.api.card_support import (
    CALLBACK,
    RECORD,
    RETRY,
    callback_body,
    card_app,
    eventually,
    signed,
)
from tests.api.test_metrics import scrape
from tests.api.webhook_support import realtime_log
from tests.realtime.wsclient import ADMIN_EVENTS, COURSE_CARD, card_of, signed_in


async def test_enroll_pay_on_the_hosted_page_and_both_tabs_continue_the_course(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server) as card:
        running = card.running
        course = await card.course(price=49_900)
        student = "card-student"
        token = running.token(student)
        before = await scrape(card.http)
        async with (
            signed_in(running.ws_url, token) as tab1,
            signed_in(running.ws_url, token) as tab2,
            signed_in(running.ws_url, card.admin()) as console,
        ):
            ops = [await tab.subscribe(COURSE_CARD, {"courseId": course}) for tab in (tab1, tab2)]
            events = await console.subscribe(ADMIN_EVENTS)
            for tab, op in zip((tab1, tab2), ops, strict=True):
                assert (await card_of(tab, op))["buttonText"] == "Enroll Now"

            _, payload = await card.enroll(course, student)
            assert payload["errors"] == []
            enrollment = payload["enrollment"]
            paylink_id = enrollment["gatewayTransactionId"]
            assert enrollment["status"] == "PENDING_PAYMENT" and paylink_id in card.standin.paylinks
            assert payload["payment"]["redirectUrl"] == f"{card.standin_url}/pay/{paylink_id}"
            sent = card.standin.paylinks[paylink_id].request
            assert (sent["amount"], sent["externalTransactionID"]) == (
                49_900,
                payload["payment"]["reference"],
            )
            checkout = await running.app.runtime.collections.checkouts.find_one({"_id": paylink_id})
            assert checkout is not None
            assert (checkout["enrollmentId"], checkout["amount"]) == (enrollment["id"], 49_900)
            for tab, op in zip((tab1, tab2), ops, strict=True):
                assert (await card_of(tab, op))["buttonText"] == "Payment Processing"
            assert (await console.next_data(events))["adminEnrollmentEvents"]["type"] == "CREATED"

            # The student's browser: the hosted page, the Pay button, the redirect to our page.
            async with httpx.AsyncClient(timeout=30) as browser:
                page = await browser.get(payload["payment"]["redirectUrl"])
                assert page.status_code == 200 and "Pay" in page.text
                paid = await browser.post(f"{card.standin_url}/pay/{paylink_id}/pay")
                assert paid.status_code == 303
                back = paid.headers["location"]
                assert back == f"{running.base_url}/app/checkout/success?course={course}"
                landing = await browser.get(back)
                assert landing.status_code == 200 and "catalogue.js" in landing.text
            await card.standin.settled()
            assert [status for _, status in card.standin.delivered] == [200]

            for tab, op in zip((tab1, tab2), ops, strict=True):
                face = await card_of(tab, op)
                assert (face["buttonText"], face["hasAccess"]) == ("Continue Course", True)
            changed = (await console.next_data(events))["adminEnrollmentEvents"]
            assert (changed["type"], changed["enrollment"]["status"]) == ("STATUS_CHANGED", "APPROVED")

        doc = await card.doc(enrollment["id"])
        assert (doc["status"], doc["amountPaid"]) == ("APPROVED", 49_900)
        assert doc["webhookEventIds"] == [f"ikhokha:{paylink_id}:SUCCESS"]
        after = await scrape(card.http)
        for name, labels, delta in (
            ("enrollwire_gateway_requests_total", {"operation": "create_checkout", "outcome": "ok"}, 1),
            ("enrollwire_gateway_request_seconds_count", {"operation": "create_checkout"}, 1),
            ("enrollwire_payment_confirmation_seconds_count", {}, 1),
            ("enrollwire_webhook_deliveries_total", {"outcome": "processed"}, 1),
        ):
            key = (name, frozenset({"gateway": "ikhokha", **labels}.items()))
            if name.startswith("enrollwire_webhook"):
                key = (name, frozenset(labels.items()))
            assert after.get(key, 0) - before.get(key, 0) == delta, name


async def test_one_callback_100_times_in_parallel_applies_once(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server) as card:
        student, payload = await card.enroll(await card.course())
        paylink_id = payload["enrollment"]["gatewayTransactionId"]
        body = callback_body(paylink_id, payload["payment"]["reference"])
        async with realtime_log(card.running, student) as log:
            answers = await asyncio.gather(
                *(card.http.post(CALLBACK, content=body, headers=signed(body)) for _ in range(100))
            )
            published = await log.drain()
        assert {a.status_code for a in answers} == {200}
        assert Counter(a.json()["status"] for a in answers) == {"processed": 1, "duplicate": 99}
        doc = await card.doc(payload["enrollment"]["id"])
        assert (doc["status"], doc["amountPaid"], doc["version"]) == ("APPROVED", 10_000, 2)
        assert [(e.change.type, e.change.enrollment.status.value) for e in published] == [
            (EventType.STATUS_CHANGED, "APPROVED")
        ]


async def test_bad_callbacks_get_the_contracts_answers_and_change_nothing(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server) as card:
        _, payload = await card.enroll(await card.course())
        paylink_id, reference = payload["enrollment"]["gatewayTransactionId"], payload["payment"]["reference"]
        good = callback_body(paylink_id, reference)
        declined = callback_body(paylink_id, reference, "FAILURE")
        unknown = callback_body("nopaylink123", "pay_not_ours")
        cases = [
            (good, signed(good, secret="forged-secret-0123456789abcdef"), 401, "BAD_SIGNATURE"),
            # Stale: a real signature, of another body (the decline) replayed on a success.
            (good, {**signed(good), "IK-SIGN": signed(declined)["IK-SIGN"]}, 401, "BAD_SIGNATURE"),
            (good, signed(good, app_id="SOMEONE-ELSE"), 401, "BAD_SIGNATURE"),
            (good, {k: v for k, v in signed(good).items() if k != "IK-SIGN"}, 401, "BAD_SIGNATURE"),
            (unknown, signed(unknown), 404, "UNKNOWN_REFERENCE"),
            ("{not json", signed("{not json"), 400, "MALFORMED"),
            (
                '{"paylinkID":"x","status":"MAYBE"}',
                signed('{"paylinkID":"x","status":"MAYBE"}'),
                400,
                "MALFORMED",
            ),
            (good, {**signed(good), "Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
            ("x" * (65 * 1024), signed("x" * (65 * 1024)), 413, "PAYLOAD_TOO_LARGE"),
        ]
        before = await card.doc(payload["enrollment"]["id"])
        for body, headers, status, code in cases:
            answer = await card.http.post(CALLBACK, content=body, headers=headers)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), body[:60]
        assert await card.doc(payload["enrollment"]["id"]) == before


async def test_gateway_down_at_enroll_fails_the_payment_and_retry_works_once_it_is_back(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server) as card:
        card.standin.knobs.fail_status = 503
        student, payload = await card.enroll(await card.course())
        assert [e["code"] for e in payload["errors"]] == ["PAYMENT_GATEWAY_UNAVAILABLE"]
        enrollment_id = payload["enrollment"]["id"]
        assert payload["enrollment"]["status"] == "PAYMENT_FAILED" and payload["payment"] is None
        doc = await card.doc(enrollment_id)
        assert (doc["status"], doc["paymentFailureReason"], doc["amountPaid"]) == (
            "PAYMENT_FAILED",
            "gateway_unavailable",
            0,
        )
        assert card.standin.paylinks == {}

        card.standin.knobs.fail_status = None
        retried = (await card.gql(RETRY, {"id": enrollment_id}, card.running.token(student)))["data"][
            "retryPayment"
        ]
        assert retried["errors"] == [] and retried["enrollment"]["status"] == "PENDING_PAYMENT"
        paylink_id = retried["enrollment"]["gatewayTransactionId"]
        assert retried["payment"]["redirectUrl"].endswith(f"/pay/{paylink_id}")
        await card.standin.pay(paylink_id)
        assert (await card.doc(enrollment_id))["status"] == "APPROVED"


async def test_gateway_slower_than_the_timeout_at_enroll(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server, ikhokha_timeout_seconds=0.3) as card:
        card.standin.knobs.delay_seconds = 1.0
        _, payload = await card.enroll(await card.course())
        assert [e["code"] for e in payload["errors"]] == ["PAYMENT_GATEWAY_UNAVAILABLE"]
        assert payload["enrollment"]["status"] == "PAYMENT_FAILED"
        card.standin.knobs.delay_seconds = 0.0
        after = await scrape(card.http)
        key = (
            "enrollwire_gateway_requests_total",
            frozenset({"gateway": "ikhokha", "operation": "create_checkout", "outcome": "timeout"}.items()),
        )
        assert after[key] == 1


async def test_decline_then_retry_payment_then_pay(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server) as card:
        student, payload = await card.enroll(await card.course())
        enrollment_id = payload["enrollment"]["id"]
        first = payload["enrollment"]["gatewayTransactionId"]
        async with httpx.AsyncClient(timeout=30) as browser:
            declined = await browser.post(f"{card.standin_url}/pay/{first}/decline")
            assert declined.headers["location"].startswith(f"{card.running.base_url}/app/checkout/failure?")
        await card.standin.settled()
        assert (await card.doc(enrollment_id))["status"] == "PAYMENT_FAILED"

        retried = (await card.gql(RETRY, {"id": enrollment_id}, card.running.token(student)))["data"][
            "retryPayment"
        ]
        second = retried["enrollment"]["gatewayTransactionId"]
        assert retried["errors"] == [] and second != first
        await card.standin.pay(second)
        doc = await card.doc(enrollment_id)
        assert (doc["status"], doc["amountPaid"]) == ("APPROVED", 10_000)
        assert doc["webhookEventIds"] == [f"ikhokha:{first}:FAILURE", f"ikhokha:{second}:SUCCESS"]


async def test_record_payment_by_an_admin_applies_once(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    async with card_app(mongo_server, redis_server) as card:
        student, payload = await card.enroll(await card.course())
        enrollment_id = payload["enrollment"]["id"]
        variables = {
            "id": enrollment_id,
            "amount": 10_000,
            "reference": "bank-2026-001",
            "note": "matched by hand",
        }
        refused = await card.gql(RECORD, variables, card.running.token(student))
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        bad = await card.gql(RECORD, {**variables, "amount": 0}, card.admin())
        assert bad["data"]["recordPayment"]["errors"] == [{"code": "VALIDATION_FAILED", "field": "amount"}]
        unknown = await card.gql(RECORD, {**variables, "id": "nope"}, card.admin())
        assert unknown["data"]["recordPayment"]["errors"][0]["code"] == "ENROLLMENT_NOT_FOUND"
        assert (await card.doc(enrollment_id))["version"] == 1

        for _ in range(2):  # a resent mutation records nothing more
            recorded = (await card.gql(RECORD, variables, card.admin()))["data"]["recordPayment"]
            assert recorded["errors"] == []
            assert recorded["enrollment"]["status"] == "APPROVED"
            assert recorded["enrollment"]["amountPaid"]["amount"] == 10_000
        doc = await card.doc(enrollment_id)
        assert (doc["version"], doc["webhookEventIds"]) == (2, ["manual:bank-2026-001"])
        assert [d["outcome"] for d in doc["deliveries"]] == ["processed", "duplicate"]
        assert doc["deliveries"][0]["note"] == "admin-1: matched by hand"


async def test_a_lost_callback_is_reconciled_and_the_late_one_is_a_duplicate(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    fast = {"job_workers": 1, "job_poll_seconds": 0.1, "reconcile_after_seconds": 0.2}
    async with card_app(mongo_server, redis_server, **fast) as card:
        card.standin.knobs.hold_callbacks = True  # paid at iK Pay, the callback does not arrive
        _, payload = await card.enroll(await card.course())
        enrollment_id, paylink_id = payload["enrollment"]["id"], payload["enrollment"]["gatewayTransactionId"]
        await card.standin.pay(paylink_id)
        assert card.standin.delivered == []
        doc = await eventually(lambda: card.doc(enrollment_id), lambda d: d["status"] == "APPROVED")
        assert (doc["amountPaid"], doc["webhookEventIds"]) == (10_000, [f"ikhokha:{paylink_id}:SUCCESS"])
        # The approving entry (access changes from the provisioning job may follow it).
        [approval] = [
            h for h in doc["history"] if h["status"] == "APPROVED" and h["previousStatus"] != "APPROVED"
        ]
        assert (approval["status"], approval["action"], approval["actor"]) == (
            "APPROVED",
            "payment_reconciled",
            {"kind": "SYSTEM", "id": None},
        )
        jobs = card.running.app.runtime.collections.jobs
        job = await eventually(
            lambda: jobs.find_one({"enrollmentId": enrollment_id, "kind": "RECONCILE_PAYMENT"}),
            lambda j: j is not None and j["status"] == "SUCCEEDED",
        )
        assert job is not None

        await card.standin.release_callbacks()
        assert [status for _, status in card.standin.delivered] == [200]
        doc = await card.doc(enrollment_id)
        assert [d["outcome"] for d in doc["deliveries"]] == ["processed", "duplicate"]
        assert (doc["status"], doc["amountPaid"]) == ("APPROVED", 10_000)


async def test_an_unpaid_checkout_expires_at_its_ttl(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    fast = {
        "job_workers": 1,
        "job_poll_seconds": 0.1,
        "reconcile_after_seconds": 0.2,
        "checkout_ttl_seconds": 0.8,
    }
    async with card_app(mongo_server, redis_server, **fast) as card:
        _, payload = await card.enroll(await card.course())
        enrollment_id = payload["enrollment"]["id"]
        doc = await eventually(lambda: card.doc(enrollment_id), lambda d: d["status"] == "PAYMENT_FAILED")
        assert (doc["paymentFailureReason"], doc["amountPaid"]) == ("checkout_expired", 0)
        expired = doc["history"][-1]
        assert (expired["action"], expired["actor"], expired["reason"]) == (
            "checkout_expired",
            {"kind": "SYSTEM", "id": None},
            "checkout_expired",
        )
        audit = card.running.app.runtime.collections.audit
        assert await audit.count_documents({"enrollmentId": enrollment_id, "action": "checkout_expired"}) == 1
        paylink = card.standin.paylinks[payload["enrollment"]["gatewayTransactionId"]]
        assert paylink.status == "PENDING"  # asked about, never paid
        after = await scrape(card.http)
        key = (
            "enrollwire_gateway_requests_total",
            frozenset({"gateway": "ikhokha", "operation": "checkout_status", "outcome": "ok"}.items()),
        )
        assert after[key] >= 1
