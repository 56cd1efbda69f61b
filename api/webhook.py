"""`POST /webhooks/payments`: content type -> bounded read -> signature -> parse -> one use case call.

Every step rejects a client's mistake with `Rejected`; one table maps its code to a status,
so nothing a gateway sends can become a 500 (a gateway retries a 500 for days). The steps
run in the contract's order: 415, 413, 401, 400, 404.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.limits import BodyTimedOut, BodyTooLarge, declared_length, read_bounded
from api.state import runtime_of
from api.webhook_signature import HEADER, SignatureError, verify
from domain.payment_events import PaymentEvent
from domain.payments import Outcome, PaymentOutcome, apply_payment_event
from domain.services import Services

MAX_BODY_BYTES = 64 * 1024
MAX_ID_LENGTH = 200
MAX_TYPE_LENGTH = 100
# Ten billion in major units: far above any course price, far below int64 after a thousand events.
MAX_AMOUNT = 10**12
_CURRENCY = re.compile(r"[A-Z]{3}")


class Rejection(StrEnum):
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    MALFORMED = "MALFORMED"
    UNKNOWN_REFERENCE = "UNKNOWN_REFERENCE"
    EVENT_LIMIT = "EVENT_LIMIT"
    RETRY_LATER = "RETRY_LATER"


STATUS: dict[Rejection, int] = {
    Rejection.UNSUPPORTED_MEDIA_TYPE: 415,
    Rejection.PAYLOAD_TOO_LARGE: 413,
    Rejection.REQUEST_TIMEOUT: 408,
    Rejection.BAD_SIGNATURE: 401,
    Rejection.MALFORMED: 400,
    Rejection.UNKNOWN_REFERENCE: 404,
    # Not in the contract's table: both keep the gateway retrying rather than dropping money.
    Rejection.EVENT_LIMIT: 409,
    Rejection.RETRY_LATER: 503,
}


class Rejected(Exception):
    def __init__(self, code: Rejection, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Endpoint = Callable[[Request], Awaitable[Response]]
# Counts a refused signature; the seconds to wait when this client sent too many (api.rate_limit_edge).
SignatureLimit = Callable[[Request], Awaitable[float | None]]


async def _unlimited(request: Request) -> float | None:
    return None


def delivery_endpoint(
    process: Callable[[Request], Awaitable[PaymentOutcome]],
    count: Callable[[str], None],
    limit_bad_signature: SignatureLimit = _unlimited,
) -> Endpoint:
    """One delivery of a gateway's: `process` reads and applies it; a Rejected becomes its status
    from the one table. `count` hears every delivery's outcome: the answer's status, or the
    rejection's code. A bad signature once too often from one IP is a 429 instead of a 401; the
    signature is still checked first, so a valid delivery is never limited."""

    async def endpoint(request: Request) -> Response:
        try:
            answer = answer_for(await process(request))
        except Rejected as rejected:
            wait = await limit_bad_signature(request) if rejected.code is Rejection.BAD_SIGNATURE else None
            if wait is not None:
                count("rate_limited")
                return rate_limited(wait)
            count(rejected.code.value.lower())
            body = {"error": {"code": rejected.code.value, "message": rejected.message}}
            return JSONResponse(body, status_code=STATUS[rejected.code])
        except Exception:
            count("error")
            raise
        count(answer["status"])
        return JSONResponse(answer)

    return endpoint


def rate_limited(seconds: float) -> Response:
    wait = max(1, math.ceil(seconds))
    error = {"code": "RATE_LIMITED", "message": f"too many bad signatures: retry after {wait} s"}
    return JSONResponse(
        {"error": error | {"retryAfter": wait}}, status_code=429, headers={"Retry-After": str(wait)}
    )


def webhook_endpoint(
    secrets: Sequence[str],
    count: Callable[[str], None] = lambda outcome: None,
    limit_bad_signature: SignatureLimit = _unlimited,
) -> Endpoint:
    async def process(request: Request) -> PaymentOutcome:
        return await _process(request, runtime_of(request).services, secrets)

    return delivery_endpoint(process, count, limit_bad_signature)


async def _process(request: Request, services: Services, secrets: Sequence[str]) -> PaymentOutcome:
    require_json(request.headers.get("content-type"))
    body = await read_body(request)
    try:
        verify(request.headers.get(HEADER), body, secrets, services.clock.now().timestamp())
    except SignatureError as error:
        raise Rejected(Rejection.BAD_SIGNATURE, str(error)) from None
    return await apply_payment_event(services.payments, services.changes, parse_event(body))


def require_json(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise Rejected(Rejection.UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")


async def read_body(request: Request) -> bytes:
    """At most MAX_BODY_BYTES, counted while reading: Content-Length is only a hint."""
    too_large = Rejected(Rejection.PAYLOAD_TOO_LARGE, f"the body must be at most {MAX_BODY_BYTES} bytes")
    length = declared_length(request.scope)
    if length is not None and length > MAX_BODY_BYTES:
        raise too_large
    try:
        return await read_bounded(
            request.receive, MAX_BODY_BYTES, runtime_of(request).settings.body_timeout_seconds
        )
    except BodyTooLarge:
        raise too_large from None
    except BodyTimedOut:
        raise Rejected(Rejection.REQUEST_TIMEOUT, "the body did not arrive in time") from None


def parse_event(body: bytes) -> PaymentEvent:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise _malformed("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise _malformed("the body must be a JSON object")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise _malformed("data must be an object")
    amount = data.get("amount")
    # bool is an int in Python, and `true` is not an amount.
    if type(amount) is not int or not 0 <= amount <= MAX_AMOUNT:
        raise _malformed(f"data.amount must be an integer from 0 to {MAX_AMOUNT} (minor units)")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise _malformed("data.currency must be a three-letter upper-case code")
    return PaymentEvent(
        id=_text(doc, "id", MAX_ID_LENGTH),
        type=_text(doc, "type", MAX_TYPE_LENGTH),
        reference=_text(data, "reference", MAX_ID_LENGTH, "data."),
        amount=amount,
        currency=currency,
    )


def _text(doc: dict[str, Any], key: str, limit: int, prefix: str = "") -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _malformed(f"{prefix}{key} must be a string of 1-{limit} characters")
    return value


def _malformed(message: str) -> Rejected:
    return Rejected(Rejection.MALFORMED, message)


def answer_for(outcome: PaymentOutcome) -> dict[str, str]:
    if outcome.outcome is Outcome.UNKNOWN_REFERENCE:
        raise Rejected(Rejection.UNKNOWN_REFERENCE, "no enrollment has this payment reference")
    if outcome.outcome is Outcome.EVENT_LIMIT:
        raise Rejected(Rejection.EVENT_LIMIT, "this enrollment accepts no more payment events")
    if outcome.outcome is Outcome.RETRY_LATER:
        raise Rejected(Rejection.RETRY_LATER, "the enrollment is busy; retry later")
    answer = {"status": outcome.outcome.value, "enrollmentId": outcome.enrollment_id or ""}
    if outcome.reason is not None:
        answer["reason"] = outcome.reason
    return answer
