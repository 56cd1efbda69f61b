"""The iK Pay adapter of the payment-gateway port: paylinks, their status, signed callbacks.

Endpoints as iKhokha's samples call them: `POST /public-api/v1/api/payment` creates a paylink,
`GET /public-api/v1/api/getStatus/{paylinkID}` reports it; both signed (`signing.py`).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx2 as httpx

from domain.gateway import (
    CallbackRejected,
    Checkout,
    CheckoutRequest,
    CheckoutState,
    CheckoutStatus,
    GatewayCallback,
    GatewayUnavailable,
)
from integrations.ikhokha import signing

PAYMENT_PATH = "/public-api/v1/api/payment"
STATUS_PATH = "/public-api/v1/api/getStatus/"
CALLBACK_PATH = "/webhooks/ikhokha"
SUCCESS_CODE = "00"
MAX_ID_LENGTH = 128
_PAID = frozenset({"PAID", "SUCCESS"})
_FAILED = frozenset({"FAILURE", "FAILED", "DECLINED", "CANCELLED", "EXPIRED"})
_CALLBACK_STATES = {"SUCCESS": CheckoutState.PAID, "FAILURE": CheckoutState.FAILED}

# (operation, outcome, seconds): the metrics adapter counts and times every call.
RequestObserver = Callable[[str, str, float], None]


@dataclass(frozen=True)
class IkhokhaConfig:
    api_url: str
    app_id: str
    app_secret: str = field(repr=False)
    public_url: str
    mode: str = "test"
    entity_id: str | None = None
    timeout_seconds: float = 10.0


def return_url(public_url: str, course_id: str, outcome: str) -> str:
    """Our page that shows the live card of the course the student just paid for."""
    return f"{public_url.rstrip('/')}/app/checkout/{outcome}?{urlencode({'course': course_id})}"


class IkhokhaGateway:
    name = "ikhokha"

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: IkhokhaConfig,
        observe: RequestObserver | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._observe = observe or (lambda operation, outcome, seconds: None)

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        public = self._config.public_url.rstrip("/")
        document: dict[str, Any] = {}
        if self._config.entity_id:
            document["entityID"] = self._config.entity_id
        document |= {
            "externalEntityID": request.user_id,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "requesterUrl": public,
            "mode": self._config.mode,
            "externalTransactionID": request.reference,
            "description": request.description,
            "urls": {
                "callbackUrl": public + CALLBACK_PATH,
                "successPageUrl": return_url(public, request.course_id, "success"),
                "failurePageUrl": return_url(public, request.course_id, "failure"),
                "cancelUrl": return_url(public, request.course_id, "cancel"),
            },
        }
        answer = await self._call("create_checkout", "POST", PAYMENT_PATH, signing.body_text(document))
        paylink_id, paylink_url = answer.get("paylinkID"), answer.get("paylinkUrl")
        if not _is_id(paylink_id) or not isinstance(paylink_url, str) or not paylink_url.startswith("http"):
            raise GatewayUnavailable("bad_response", "an 00 answer without paylinkID and paylinkUrl")
        assert isinstance(paylink_id, str)
        return Checkout(transaction_id=paylink_id, redirect_url=paylink_url)

    async def checkout_status(self, transaction_id: str) -> CheckoutStatus:
        answer = await self._call("checkout_status", "GET", STATUS_PATH + quote(transaction_id, safe=""), "")
        state = _state(str(answer.get("status", "")).upper())
        reference = answer.get("externalTransactionID")
        return CheckoutStatus(state, transaction_id, reference if isinstance(reference, str) else None)

    def parse_callback(self, path: str, headers: Mapping[str, str], body: bytes) -> GatewayCallback:
        app_id = headers.get(signing.APP_ID_HEADER.lower(), "")
        candidate = headers.get(signing.SIGN_HEADER.lower(), "")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected("MALFORMED", "the body is not UTF-8") from None
        right_app = hmac.compare_digest(app_id.strip().encode(), self._config.app_id.encode())
        if not (right_app and self._signed(path, text, candidate)):
            raise CallbackRejected("BAD_SIGNATURE", "IK-APPID or IK-SIGN does not match")
        try:
            document = json.loads(text)
        except ValueError:
            raise CallbackRejected("MALFORMED", "the body is not JSON") from None
        if not isinstance(document, dict):
            raise CallbackRejected("MALFORMED", "the body is not a JSON object")
        paylink_id, status = document.get("paylinkID"), document.get("status")
        reference = document.get("externalTransactionID")
        if not _is_id(paylink_id) or status not in _CALLBACK_STATES:
            raise CallbackRejected("MALFORMED", "paylinkID and status SUCCESS or FAILURE are required")
        if reference is not None and not _is_id(reference):
            raise CallbackRejected("MALFORMED", "externalTransactionID must be a short string")
        assert isinstance(paylink_id, str) and isinstance(status, str)
        return GatewayCallback(
            event_id=f"ikhokha:{paylink_id}:{status}",
            transaction_id=paylink_id,
            reference=reference,
            state=_CALLBACK_STATES[status],
        )

    def _signed(self, path: str, text: str, candidate: str) -> bool:
        secret = self._config.app_secret
        if signing.matches(secret, path, text, candidate):
            return True
        # Community clients read iKhokha's documentation as signing the callback without its
        # `text` field, re-serialized; accept that form too (it is still keyed by our secret).
        try:
            document = json.loads(text)
        except ValueError:
            return False
        if not isinstance(document, dict) or "text" not in document:
            return False
        document.pop("text")
        return signing.matches(secret, path, signing.body_text(document), candidate)

    async def _call(self, operation: str, method: str, path: str, body: str) -> dict[str, Any]:
        config = self._config
        headers = {
            signing.APP_ID_HEADER: config.app_id,
            signing.SIGN_HEADER: signing.sign(config.app_secret, path, body),
            "Accept": "application/json",
        }
        if body:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        outcome = "ok"
        try:
            response = await self._client.request(
                method,
                config.api_url.rstrip("/") + path,
                content=body.encode() if body else None,
                headers=headers,
                timeout=config.timeout_seconds,
            )
            answer = _answer(response)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            raise GatewayUnavailable(outcome, f"no answer within {config.timeout_seconds} s") from exc
        except httpx.TransportError as exc:
            outcome = "unreachable"
            raise GatewayUnavailable(outcome, type(exc).__name__) from exc
        except GatewayUnavailable as exc:
            outcome = exc.outcome
            raise
        finally:
            self._observe(operation, outcome, time.perf_counter() - started)
        return answer


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        raise GatewayUnavailable("http_5xx", f"HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise GatewayUnavailable("bad_response", f"HTTP {response.status_code} without a JSON object")
    code = answer.get("responseCode")
    if response.status_code >= 400 or (code is not None and code != SUCCESS_CODE):
        raise GatewayUnavailable("refused", f"HTTP {response.status_code}, responseCode {code!r}")
    return answer


def _state(status: str) -> CheckoutState:
    if status in _PAID:
        return CheckoutState.PAID
    return CheckoutState.FAILED if status in _FAILED else CheckoutState.OPEN


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()
