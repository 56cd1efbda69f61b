"""The iK Pay adapter against the stand-in, over real HTTP: signing both ways, paylinks, status,
callbacks, and every way the gateway can fail at checkout."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2 as httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.gateway import (
    CallbackRejected,
    CheckoutRequest,
    CheckoutState,
    GatewayCallback,
    GatewayUnavailable,
)
from domain.money import Money
from integrations.ikhokha import signing
from integrations.ikhokha.gateway import CALLBACK_PATH, IkhokhaConfig, IkhokhaGateway
from sandbox.embedded import free_port
from sandbox.ikhokha_standin import IkPayStandIn

APP_ID = "IKSTANDINAPP"
SECRET = "stand-in-app-secret-0123456789abcdef"

# Computed independently: the escaped payload typed out by hand and piped through
# `openssl dgst -sha256 -hmac secret` (the vector iKhokha's Node escaping also gives).
KNOWN_BODY = (
    '{"entityID":"E1","amount":10000,"currency":"ZAR","requesterUrl":"https://example.com/requester",'
    '"mode":"live","description":"Bob\'s \\"best\\" C:\\\\shop","externalTransactionID":"T1",'
    '"urls":{"callbackUrl":"https://example.com/cb","successPageUrl":"https://example.com/s",'
    '"failurePageUrl":"https://example.com/f","cancelUrl":"https://example.com/c"}}'
)
KNOWN_SIGN = "75defae8820aee36c478fed457b40e69d49410891151ef27d4f92172efe36594"
KNOWN_GET_SIGN = "bbcbaecf89e91dff6c52a9937e6063c1c3611c345387520725631c48030656f4"


def test_signature_known_answer() -> None:
    assert (
        signing.sign("secret", "https://api.ikhokha.com/public-api/v1/api/payment", KNOWN_BODY) == KNOWN_SIGN
    )
    assert signing.sign("secret", "/public-api/v1/api/getStatus/abc123") == KNOWN_GET_SIGN
    # The query string is not signed; NUL is escaped as \0.
    assert signing.sign("secret", "/public-api/v1/api/getStatus/abc123?x=1") == KNOWN_GET_SIGN
    assert signing.escape("a\0b'\"\\") == "a\\0b\\'\\\"\\\\"
    assert signing.matches("secret", "/public-api/v1/api/getStatus/abc123", "", KNOWN_GET_SIGN.upper())
    assert not signing.matches("secret", "/public-api/v1/api/getStatus/abc123", "", KNOWN_GET_SIGN[:-1])


@dataclass
class Rig:
    standin: IkPayStandIn
    gateway: IkhokhaGateway
    base: str
    client: httpx.AsyncClient
    received: list[GatewayCallback | str] = field(default_factory=list)

    def request(self, reference: str = "EW-REF-1", amount: int = 49900) -> CheckoutRequest:
        return CheckoutRequest(reference, Money(amount, "ZAR"), "student-1", "python-101", "Python 101")

    def gateway_with(self, **changes: str | float) -> IkhokhaGateway:
        return IkhokhaGateway(self.client, dataclasses.replace(config(self.base), **changes))  # type: ignore[arg-type]


def config(base: str) -> IkhokhaConfig:
    return IkhokhaConfig(api_url=base, app_id=APP_ID, app_secret=SECRET, public_url=base, timeout_seconds=5)


@contextlib.asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    """One real server: the stand-in's API and hosted page, and our callback route."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as client:
        standin = IkPayStandIn(APP_ID, SECRET, client, base)
        setup = Rig(standin, IkhokhaGateway(client, config(base)), base, client)

        async def callback(request: Request) -> Response:
            try:
                parsed = setup.gateway.parse_callback(request.url.path, request.headers, await request.body())
            except CallbackRejected as exc:
                setup.received.append(exc.code)
                return JSONResponse(
                    {"error": exc.code}, status_code=401 if exc.code == "BAD_SIGNATURE" else 400
                )
            setup.received.append(parsed)
            return JSONResponse({"status": "processed"})

        app = Starlette(routes=[*standin.routes(), Route(CALLBACK_PATH, callback, methods=["POST"])])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            yield setup
        finally:
            await standin.settled()
            server.should_exit = True
            await task


async def test_paylink_pay_callback_and_status() -> None:
    async with rig() as r:
        checkout = await r.gateway.create_checkout(r.request())
        assert checkout.redirect_url == f"{r.base}/pay/{checkout.transaction_id}"
        paylink = r.standin.paylinks[checkout.transaction_id]
        assert paylink.request["amount"] == 49900 and paylink.request["externalTransactionID"] == "EW-REF-1"
        assert paylink.request["urls"]["callbackUrl"] == r.base + CALLBACK_PATH
        assert paylink.request["urls"]["successPageUrl"] == f"{r.base}/app/checkout/success?course=python-101"
        assert (await r.gateway.checkout_status(checkout.transaction_id)).state is CheckoutState.OPEN

        async with httpx.AsyncClient(base_url=r.base) as browser:
            page = await browser.get(f"/pay/{checkout.transaction_id}")
            assert page.status_code == 200 and "Python 101" in page.text and "ZAR 499.00" in page.text
            paid = await browser.post(f"/pay/{checkout.transaction_id}/pay")
            assert paid.status_code == 303 and paid.headers["location"].endswith(
                "/app/checkout/success?course=python-101"
            )
        await r.standin.settled()
        assert r.received == [
            GatewayCallback(
                f"ikhokha:{checkout.transaction_id}:SUCCESS",
                checkout.transaction_id,
                "EW-REF-1",
                CheckoutState.PAID,
            )
        ]
        status = await r.gateway.checkout_status(checkout.transaction_id)
        assert (status.state, status.reference) == (CheckoutState.PAID, "EW-REF-1")
        assert r.standin.refused == []


async def test_decline_duplicates_and_out_of_order_callbacks() -> None:
    async with rig() as r:
        first = await r.gateway.create_checkout(r.request("EW-REF-A"))
        second = await r.gateway.create_checkout(r.request("EW-REF-B"))
        r.standin.knobs.duplicate_callbacks = 2
        await r.standin.pay(first.transaction_id, "FAILED")
        assert [c.state for c in r.received if isinstance(c, GatewayCallback)] == [CheckoutState.FAILED] * 2
        assert len({c.event_id for c in r.received if isinstance(c, GatewayCallback)}) == 1

        r.received.clear()
        r.standin.knobs.duplicate_callbacks, r.standin.knobs.hold_callbacks = 1, True
        await r.standin.pay(first.transaction_id, "PAID")
        await r.standin.pay(second.transaction_id, "PAID")
        assert r.received == []
        await r.standin.release_callbacks(reverse=True)
        assert [c.transaction_id for c in r.received if isinstance(c, GatewayCallback)] == [
            second.transaction_id,
            first.transaction_id,
        ]


@pytest.mark.parametrize(
    ("knob", "value", "outcome"),
    [("fail_status", 503, "http_5xx"), ("response_code", "51", "refused"), ("delay_seconds", 1.0, "timeout")],
)
async def test_gateway_failures_at_checkout(knob: str, value: object, outcome: str) -> None:
    async with rig() as r:
        setattr(r.standin.knobs, knob, value)
        gateway = r.gateway_with(timeout_seconds=0.3)
        with pytest.raises(GatewayUnavailable) as failure:
            await gateway.create_checkout(r.request())
        assert failure.value.outcome == outcome
        assert r.standin.paylinks == {}


async def test_unreachable_gateway() -> None:
    async with rig() as r:
        gateway = r.gateway_with(api_url=f"http://127.0.0.1:{free_port()}")
        with pytest.raises(GatewayUnavailable) as failure:
            await gateway.create_checkout(r.request())
        assert failure.value.outcome == "unreachable"


async def test_the_stand_in_refuses_what_ikhokha_refuses() -> None:
    async with rig() as r:
        for changes, reason in (
            ({"app_secret": "wrong-secret"}, "IK-SIGN does not match"),
            ({"app_id": "OTHER"}, "unknown IK-APPID"),
        ):
            with pytest.raises(GatewayUnavailable) as failure:
                await r.gateway_with(**changes).create_checkout(r.request())
            assert failure.value.outcome == "refused"
            assert r.standin.refused[-1] == reason
        assert r.standin.paylinks == {}


async def parse(headers: dict[str, str], body: str) -> GatewayCallback:
    async with httpx.AsyncClient() as client:
        gateway = IkhokhaGateway(client, config("https://school.example"))
        return gateway.parse_callback(CALLBACK_PATH, headers, body.encode())


def signed(body: str, secret: str = SECRET, app_id: str = APP_ID) -> dict[str, str]:
    return {"ik-appid": app_id, "ik-sign": signing.sign(secret, CALLBACK_PATH, body)}


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (
            '{"paylinkID":"p1","status":"SUCCESS"}',
            signed('{"paylinkID":"p1","status":"SUCCESS"}', "forged"),
            "BAD_SIGNATURE",
        ),
        (
            '{"paylinkID":"p1","status":"SUCCESS"}',
            signed('{"paylinkID":"p1","status":"SUCCESS"}', app_id="X"),
            "BAD_SIGNATURE",
        ),
        ('{"paylinkID":"p1","status":"SUCCESS"}', {"ik-appid": APP_ID}, "BAD_SIGNATURE"),
        (
            '{"paylinkID":"p1","status":"SUCCESS"}',
            signed('{"paylinkID":"p2","status":"SUCCESS"}'),
            "BAD_SIGNATURE",
        ),
        ("{not json", signed("{not json"), "MALFORMED"),
        ('["p1"]', signed('["p1"]'), "MALFORMED"),
        ('{"paylinkID":"p1","status":"MAYBE"}', signed('{"paylinkID":"p1","status":"MAYBE"}'), "MALFORMED"),
        ('{"paylinkID":7,"status":"SUCCESS"}', signed('{"paylinkID":7,"status":"SUCCESS"}'), "MALFORMED"),
    ],
)
async def test_callback_rejections(body: str, headers: dict[str, str], code: str) -> None:
    with pytest.raises(CallbackRejected) as rejected:
        await parse(headers, body)
    assert rejected.value.code == code


async def test_callback_signed_without_its_text_field_is_accepted() -> None:
    canonical = '{"paylinkID":"p1","status":"FAILURE","externalTransactionID":"R1","responseCode":"51"}'
    sent = canonical[:-1] + ',"text":"Insufficient funds"}'
    parsed = await parse(signed(canonical), sent)
    assert (parsed.event_id, parsed.state, parsed.reference) == (
        "ikhokha:p1:FAILURE",
        CheckoutState.FAILED,
        "R1",
    )
