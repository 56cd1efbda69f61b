"""The sandbox checkout: enroll(CARD) -> redirectUrl -> a button -> a signed webhook to our own route."""

from __future__ import annotations

import asyncio
import re

import httpx2 as httpx

from domain.events import EventType
from sandbox.embedded import ManagedServer
from tests import servers
from tests.api.webhook_support import create_course, enroll, enrollment_doc, realtime_log
from tests.realtime.wsclient import COURSE_CARD, signed_in
from tests.servers import GraphQLClient, RunningApp, serve


async def _press(http: httpx.AsyncClient, checkout_page: str, choice: str) -> httpx.Response:
    reference = re.search(r"name='reference' value='([^']+)'", checkout_page)
    assert reference is not None, checkout_page
    return await http.post("/sandbox/checkout/pay", data={"reference": reference.group(1), "choice": choice})


async def test_pay_on_the_checkout_page_approves_the_enrollment(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=12_900)
    assert enrolled.redirect_url is not None
    page = await http.get(enrolled.redirect_url)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "129.00 ZAR" in page.text
    assert all(f">{label}</button>" in page.text for label in ("Pay", "Pay half", "Decline"))
    async with realtime_log(running, enrolled.user) as log:
        paid = await _press(http, page.text, "pay")
        published = await log.drain()
    assert paid.status_code == 200
    assert "answered 200" in paid.text and "processed" in paid.text
    assert (await enrollment_doc(running, enrolled.id))["status"] == "APPROVED"
    approval = published[0].change
    assert (approval.type, approval.enrollment.status.value) == (EventType.STATUS_CHANGED, "APPROVED")


async def test_an_open_course_card_shows_continue_course_after_pay(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    course = await create_course(gql, running, 5_000)
    enrolled = await enroll(gql, running, course_id=course)
    assert enrolled.redirect_url is not None
    async with signed_in(running.ws_url, running.token(enrolled.user)) as ws:
        op = await ws.subscribe(COURSE_CARD, {"courseId": course})
        first = (await ws.next_data(op))["courseCard"]
        assert (first["buttonText"], first["action"]) == ("Payment Processing", "SHOW_PENDING")
        page = (await http.get(enrolled.redirect_url)).text
        assert (await _press(http, page, "pay")).status_code == 200
        async with asyncio.timeout(10):
            card = first
            while card["buttonText"] != "Continue Course":
                card = (await ws.next_data(op))["courseCard"]
    assert (card["action"], card["hasAccess"], card["enrollment"]["status"]) == (
        "CONTINUE_COURSE",
        True,
        "APPROVED",
    )


async def test_pay_half_then_pay_approves_and_decline_fails(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    halves = await enroll(gql, running, price=1_001)
    assert halves.redirect_url is not None
    for choice, status, paid in (("half", "PENDING_PAYMENT", 500), ("pay", "APPROVED", 1_001)):
        page = (await http.get(halves.redirect_url)).text
        assert (await _press(http, page, choice)).status_code == 200
        doc = await enrollment_doc(running, halves.id)
        assert (doc["status"], doc["amountPaid"]) == (status, paid)

    declined = await enroll(gql, running, price=5_000)
    assert declined.redirect_url is not None
    page = (await http.get(declined.redirect_url)).text
    assert (await _press(http, page, "decline")).status_code == 200
    assert (await enrollment_doc(running, declined.id))["status"] == "PAYMENT_FAILED"


async def test_unknown_reference_and_bad_choice(http: httpx.AsyncClient, running: RunningApp) -> None:
    assert (await http.get("/sandbox/checkout", params={"reference": "pay_nobody"})).status_code == 404
    bad = await http.post("/sandbox/checkout/pay", data={"reference": "pay_nobody", "choice": "steal"})
    assert bad.status_code == 400


async def test_the_sandbox_is_off_unless_enabled(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = servers.test_settings(mongo_server.url, redis_server.url, sandbox=False, job_workers=0)
    async with (
        serve(settings) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=10) as client,
    ):
        assert (await client.get("/sandbox/checkout", params={"reference": "x"})).status_code == 404
        assert (await client.post("/sandbox/checkout/pay", data={"choice": "pay"})).status_code == 404
