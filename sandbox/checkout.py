"""A pretend payment gateway for development, served by the app itself.

`enroll(CARD)`'s redirectUrl opens `GET /sandbox/checkout?reference=...`; its buttons post
to `/sandbox/checkout/pay`, which sends a correctly signed webhook to our own
`/webhooks/payments` over HTTP, so a click takes the real path end to end. Mounted only
when `settings.sandbox_enabled`; the pages are plain HTML forms, no script.
"""

from __future__ import annotations

import json
import secrets
from enum import StrEnum
from html import escape
from urllib.parse import parse_qs, urlencode

import httpx2 as httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from api.limits import BodyTimedOut, BodyTooLarge, read_bounded
from api.state import runtime_of
from api.webhook_signature import HEADER, sign
from domain.enrollment import Enrollment
from domain.money import format_money
from domain.payment_events import PaymentEventType
from domain.services import Services

MAX_FORM_BYTES = 4096


class Choice(StrEnum):
    PAY = "pay"
    HALF = "half"
    DECLINE = "decline"


_LABELS = {Choice.PAY: "Pay", Choice.HALF: "Pay half", Choice.DECLINE: "Decline"}


# No script, no style, no frames: a page that moves (sandbox) money is never framed by another site.
SANDBOX_PAGE_POLICY = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": SANDBOX_PAGE_POLICY})


def outstanding(enrollment: Enrollment) -> int:
    return max(0, enrollment.amount_due.amount - enrollment.amount_paid.amount)


def sandbox_event(enrollment: Enrollment, reference: str, choice: Choice) -> dict[str, object]:
    remaining = outstanding(enrollment)
    amount = {Choice.PAY: remaining, Choice.HALF: max(1, remaining // 2), Choice.DECLINE: 0}[choice]
    kind = PaymentEventType.FAILED if choice is Choice.DECLINE else PaymentEventType.SUCCEEDED
    return {
        "id": "evt_sandbox_" + secrets.token_urlsafe(12),
        "type": kind.value,
        "data": {"reference": reference, "amount": amount, "currency": enrollment.amount_due.currency},
    }


class SandboxCheckout:
    """Sends its webhooks through the process's one outbound client (`Runtime.http`)."""

    def __init__(self, webhook_secret: str, webhook_url: str) -> None:
        self._secret = webhook_secret
        self._webhook_url = webhook_url

    def routes(self) -> list[Route]:
        return [
            Route("/sandbox/checkout", self.checkout, methods=["GET"]),
            Route("/sandbox/checkout/pay", self.pay, methods=["POST"]),
        ]

    async def _find(self, services: Services, reference: str) -> Enrollment | None:
        if not reference or len(reference) > 200:
            return None
        return await services.payments.by_reference(reference)

    async def checkout(self, request: Request) -> Response:
        services = runtime_of(request).services
        reference = request.query_params.get("reference", "")
        enrollment = await self._find(services, reference)
        if enrollment is None:
            return _page("Unknown payment", "<p>No enrollment has this payment reference.</p>", 404)
        course = await services.courses.get_course(enrollment.course_id)
        title = course.title if course is not None else enrollment.course_id
        buttons = "".join(
            f"<button type='submit' name='choice' value='{c.value}'>{_LABELS[c]}</button> " for c in Choice
        )
        body = (
            f"<p>Course: <strong>{escape(title)}</strong></p>"
            f"<p>Amount due: {format_money(enrollment.amount_due)}; "
            f"paid so far: {format_money(enrollment.amount_paid)}; "
            f"status: {enrollment.status.value}</p>"
            "<form method='post' action='/sandbox/checkout/pay'>"
            f"<input type='hidden' name='reference' value='{escape(reference, quote=True)}'>"
            f"{buttons}</form>"
        )
        return _page("Sandbox checkout", body)

    async def pay(self, request: Request) -> Response:
        try:
            form = parse_qs((await read_bounded(request.receive, MAX_FORM_BYTES)).decode("utf-8", "replace"))
        except BodyTooLarge:
            return _page("Bad request", "<p>The form is too large.</p>", 413)
        except BodyTimedOut:
            return _page("Request timeout", "<p>The form did not arrive in time.</p>", 408)
        reference = form.get("reference", [""])[0]
        choice = form.get("choice", [""])[0]
        if choice not in {c.value for c in Choice}:
            return _page("Bad request", "<p>Choose Pay, Pay half or Decline.</p>", 400)
        runtime = runtime_of(request)
        enrollment = await self._find(runtime.services, reference)
        if enrollment is None:
            return _page("Unknown payment", "<p>No enrollment has this payment reference.</p>", 404)
        payload = json.dumps(sandbox_event(enrollment, reference, Choice(choice))).encode()
        t = int(runtime.services.clock.now().timestamp())
        headers = {"Content-Type": "application/json", HEADER: sign(self._secret, payload, t)}
        try:
            answer = await runtime.http.post(self._webhook_url, content=payload, headers=headers)
        except httpx.HTTPError as error:
            return _page("Gateway error", f"<p>The webhook could not be sent: {escape(repr(error))}</p>", 502)
        back = "/sandbox/checkout?" + urlencode({"reference": reference})
        body = (
            f"<p>The webhook answered {answer.status_code}: <code>{escape(answer.text)}</code></p>"
            f"<p><a href='{escape(back, quote=True)}'>Back to the checkout</a></p>"
        )
        return _page("Payment sent", body)
