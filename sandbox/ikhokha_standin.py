"""A stand-in for iKhokha's iK Pay API: a real HTTP server for tests and for trying card payments
locally, checking on every request what iK Pay checks.

It verifies `IK-APPID` and `IK-SIGN` exactly as iKhokha's samples compute them (refusing a bad
one with 401), creates paylinks, serves a hosted payment page with Pay / Decline / Cancel,
posts signed callbacks to the paylink's `callbackUrl`, and answers the status endpoint.
`Knobs` make it behave like a real gateway on a bad day: slow, 5xx, a non-00 code, callbacks
dropped, sent twice, late, or held and released out of order.

`prefix` serves it under a path (the development sandbox mounts it at `/sandbox/ikpay`): the
signature still covers the API path alone, as iK Pay's does. `client` sends the callbacks; it
may be given later (`use_client`), when it belongs to a process that opens it at startup.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from domain.money import Money, major_units
from integrations.ikhokha import signing
from integrations.ikhokha.gateway import PAYMENT_PATH, STATUS_PATH

MAX_BODY_BYTES = 64 * 1024
REQUIRED_URLS = ("callbackUrl", "successPageUrl", "failurePageUrl")


@dataclass
class Knobs:
    delay_seconds: float = 0.0  # before answering the API (past the client's timeout: a timeout)
    fail_status: int | None = None  # answer the API with this HTTP status (a 5xx outage)
    response_code: str = "00"  # a non-00 code refuses the paylink
    drop_callbacks: bool = False  # the gateway paid but the callback never arrives
    duplicate_callbacks: int = 1  # how many times each callback is sent
    callback_delay_seconds: float = 0.0  # a late callback
    hold_callbacks: bool = False  # queue them until release_callbacks() (out of order)


@dataclass
class Paylink:
    id: str
    request: dict[str, Any]
    status: str = "PENDING"  # PENDING -> PAID | FAILED
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass
class Callback:
    url: str
    body: str


class IkPayStandIn:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        client: httpx.AsyncClient | None,
        base_url: str,
        prefix: str = "",
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self._client = client
        self.base_url = base_url.rstrip("/")  # where browsers reach the hosted page (with the prefix)
        self.prefix = prefix.rstrip("/")
        self.knobs = Knobs()
        self.paylinks: dict[str, Paylink] = {}
        self.refused: list[str] = []  # why each refused API call was refused
        self.held: list[Callback] = []
        self.delivered: list[tuple[Callback, int | None]] = []  # (callback, our server's status)
        self._tasks: set[asyncio.Task[None]] = set()

    def use_client(self, client: httpx.AsyncClient) -> None:
        self._client = client

    def routes(self) -> list[BaseRoute]:
        prefix = self.prefix
        return [
            Route(prefix + PAYMENT_PATH, self._create, methods=["POST"]),
            Route(prefix + STATUS_PATH + "{paylink_id}", self._status, methods=["GET"]),
            Route(prefix + "/pay/{paylink_id}", self._page, methods=["GET"]),
            Route(prefix + "/pay/{paylink_id}/{choice}", self._choose, methods=["POST"]),
        ]

    async def release_callbacks(self, *, reverse: bool = False) -> None:
        """Sends what `hold_callbacks` queued, in order or reversed; waits for every answer."""
        held, self.held = self.held, []
        for callback in reversed(held) if reverse else held:
            await self._deliver(callback)

    async def settled(self) -> None:
        """Waits until every callback in flight has been answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def pay(self, paylink_id: str, status: str = "PAID") -> None:
        """What pressing Pay (or Decline) on the hosted page does, without a browser."""
        self._settle(self.paylinks[paylink_id], status)
        await self.settled()

    # The API, signed both ways.

    async def _create(self, request: Request) -> Response:
        body = await _bounded(request)
        if (refusal := self._refuse(request, body)) is not None:
            return refusal
        if (outage := await self._misbehave()) is not None:
            return outage
        try:
            document = json.loads(body)
            urls = document["urls"]
            valid = (
                isinstance(document["amount"], int)
                and document["amount"] > 0
                and isinstance(document["currency"], str)
                and all(isinstance(urls.get(k), str) for k in REQUIRED_URLS)
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            return JSONResponse({"responseCode": "30", "message": "invalid request"}, status_code=400)
        if self.knobs.response_code != "00":
            return JSONResponse(
                {"responseCode": self.knobs.response_code, "message": "declined by the stand-in"}
            )
        paylink = Paylink(id=secrets.token_hex(8), request=document)
        self.paylinks[paylink.id] = paylink
        return JSONResponse(
            {
                "responseCode": "00",
                "message": "",
                "paylinkUrl": f"{self.base_url}/pay/{paylink.id}",
                "paylinkID": paylink.id,
                "externalTransactionID": document.get("externalTransactionID"),
            }
        )

    async def _status(self, request: Request) -> Response:
        if (refusal := self._refuse(request, "")) is not None:
            return refusal
        if (outage := await self._misbehave()) is not None:
            return outage
        paylink = self.paylinks.get(request.path_params["paylink_id"])
        if paylink is None:
            return JSONResponse({"responseCode": "404", "message": "paylink not found"}, status_code=404)
        return JSONResponse(
            {
                "paylinkID": paylink.id,
                "status": paylink.status,
                "createdAt": paylink.created_at,
                "amount": paylink.request["amount"],
                "description": paylink.request.get("description", ""),
                "externalTransactionID": paylink.request.get("externalTransactionID"),
            }
        )

    def _refuse(self, request: Request, body: str) -> Response | None:
        app_id = request.headers.get(signing.APP_ID_HEADER, "")
        candidate = request.headers.get(signing.SIGN_HEADER, "")
        if app_id != self.app_id:
            reason = "unknown IK-APPID"
        elif not signing.matches(self._secret, request.url.path.removeprefix(self.prefix), body, candidate):
            reason = "IK-SIGN does not match"
        else:
            return None
        self.refused.append(reason)
        return JSONResponse({"responseCode": "401", "message": reason}, status_code=401)

    async def _misbehave(self) -> Response | None:
        if self.knobs.delay_seconds:
            await asyncio.sleep(self.knobs.delay_seconds)
        if self.knobs.fail_status is not None:
            return JSONResponse({"message": "stand-in outage"}, status_code=self.knobs.fail_status)
        return None

    # The hosted payment page.

    async def _page(self, request: Request) -> Response:
        paylink = self.paylinks.get(request.path_params["paylink_id"])
        if paylink is None:
            return HTMLResponse("<h1>Unknown paylink</h1>", status_code=404)
        currency = paylink.request["currency"]
        shown = f"{currency} {major_units(Money(paylink.request['amount'], currency))}"
        title = html.escape(str(paylink.request.get("description", "")))
        buttons = "".join(
            f'<form method="post" action="{self.prefix}/pay/{paylink.id}/{choice}">'
            f"<button>{label}</button></form>"
            for choice, label in (("pay", "Pay"), ("decline", "Decline"), ("cancel", "Cancel"))
        )
        page = (
            "<!doctype html><title>iK Pay stand-in</title><h1>iK Pay (stand-in)</h1>"
            f"<p>{title}</p><p>{html.escape(shown)}</p>{buttons}"
        )
        return HTMLResponse(
            page, headers={"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"}
        )

    async def _choose(self, request: Request) -> Response:
        paylink = self.paylinks.get(request.path_params["paylink_id"])
        choice = request.path_params["choice"]
        if paylink is None or choice not in ("pay", "decline", "cancel"):
            return HTMLResponse("<h1>Unknown paylink</h1>", status_code=404)
        urls = paylink.request["urls"]
        if choice == "cancel":
            return RedirectResponse(urls.get("cancelUrl") or urls["failurePageUrl"], status_code=303)
        self._settle(paylink, "PAID" if choice == "pay" else "FAILED")
        return RedirectResponse(
            urls["successPageUrl" if choice == "pay" else "failurePageUrl"], status_code=303
        )

    # Callbacks.

    def _settle(self, paylink: Paylink, status: str) -> None:
        paylink.status = status
        document = {
            "paylinkID": paylink.id,
            "status": "SUCCESS" if status == "PAID" else "FAILURE",
            "externalTransactionID": paylink.request.get("externalTransactionID"),
            "responseCode": "00" if status == "PAID" else "51",
        }
        callback = Callback(paylink.request["urls"]["callbackUrl"], signing.body_text(document))
        if self.knobs.drop_callbacks:
            return
        if self.knobs.hold_callbacks:
            self.held.append(callback)
            return
        task = asyncio.create_task(self._deliver(callback, delay=self.knobs.callback_delay_seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, callback: Callback, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        client = self._client
        if client is None:
            raise RuntimeError("the stand-in has no HTTP client to send callbacks with")
        headers = {
            "ik-appid": self.app_id,
            "ik-sign": signing.sign(self._secret, callback.url, callback.body),
            "Content-Type": "application/json",
        }
        for _ in range(self.knobs.duplicate_callbacks):
            status: int | None = None
            with contextlib.suppress(httpx.HTTPError):
                response = await client.post(callback.url, content=callback.body.encode(), headers=headers)
                status = response.status_code
            self.delivered.append((callback, status))


async def _bounded(request: Request) -> str:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            break
    return body[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
