"""Whatever a client sends wrong gets the contract's code, never a 500, and writes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from starlette.types import Message

from api.webhook import MAX_BODY_BYTES
from tests.api.webhook_support import (
    URL,
    Enrolled,
    app_without_workers,  # noqa: F401  (overrides `running` in this module)
    encode,
    enroll,
    event,
    signed_headers,
    snapshot,
)
from tests.servers import GraphQLClient, RunningApp

OVERSIZED = MAX_BODY_BYTES + 1024


@pytest.fixture
async def enrolled(gql: GraphQLClient, running: RunningApp) -> Enrolled:
    return await enroll(gql, running, price=5_000)


async def _post_signed(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post(URL, content=body, headers=signed_headers(body))


def _valid(reference: str) -> dict[str, Any]:
    return event(reference, 5_000)


def _without(doc: dict[str, Any], path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    target = copy
    for key in parents:
        target = target[key]
    del target[last]
    return copy


def _with(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    target = copy
    for key in parents:
        target = target[key]
    target[last] = value
    return copy


MALFORMED_BODIES: list[tuple[str, Any]] = [
    ("not json", b"{not json"),
    ("empty", b""),
    ("invalid utf-8", b'{"id": "\xff\xfe"}'),
    ("a list", b"[1, 2]"),
    ("deeply nested", b"[" * 30_000 + b"]" * 30_000),
    ("huge number", b'{"id": "e", "data": {"amount": 1' + b"0" * 5000 + b"}}"),
    *((f"missing {p}", ("without", p)) for p in ["id", "type", "data", "data.reference", "data.amount"]),
    ("missing data.currency", ("without", "data.currency")),
    ("id not a string", ("with", "id", 12)),
    ("empty id", ("with", "id", "")),
    ("id too long", ("with", "id", "e" * 201)),
    ("type not a string", ("with", "type", ["payment.succeeded"])),
    ("data a list", ("with", "data", [])),
    ("reference not a string", ("with", "data.reference", None)),
    ("amount a string", ("with", "data.amount", "5000")),
    ("amount a bool", ("with", "data.amount", True)),
    ("amount a float", ("with", "data.amount", 50.5)),
    ("amount negative", ("with", "data.amount", -1)),
    ("amount too large", ("with", "data.amount", 10**13)),
    ("currency lower case", ("with", "data.currency", "zar")),
    ("currency too long", ("with", "data.currency", "ZARR")),
]


@pytest.mark.parametrize(("case", "change"), MALFORMED_BODIES, ids=[c for c, _ in MALFORMED_BODIES])
async def test_malformed_bodies_are_400(
    case: str, change: Any, http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    if isinstance(change, bytes):
        body = change
    elif change[0] == "without":
        body = encode(_without(_valid(enrolled.reference), change[1]))
    else:
        body = encode(_with(_valid(enrolled.reference), change[1], change[2]))
    before = await snapshot(running)
    answer = await _post_signed(http, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "MALFORMED"
    assert await snapshot(running) == before


async def test_an_unknown_reference_is_404(
    http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    before = await snapshot(running)
    answer = await _post_signed(http, encode(event("pay_nobody", 5_000)))
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "UNKNOWN_REFERENCE"
    assert await snapshot(running) == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"])
async def test_other_content_types_are_415(
    content_type: str | None, http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    body = encode(_valid(enrolled.reference))
    headers = signed_headers(body)
    del headers["Content-Type"]
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = await snapshot(running)
    answer = await http.post(URL, content=body, headers=headers)
    assert answer.status_code == 415
    assert await snapshot(running) == before


async def test_json_with_a_charset_is_accepted(
    http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    body = encode(_valid(enrolled.reference))
    headers = {**signed_headers(body), "Content-Type": "Application/JSON; charset=utf-8"}
    assert (await http.post(URL, content=body, headers=headers)).json()["status"] == "processed"


def _oversized(reference: str) -> bytes:
    doc = _valid(reference)
    doc["padding"] = "x" * OVERSIZED
    return encode(doc)


async def test_a_body_over_64_kib_is_413(
    http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    before = await snapshot(running)
    answer = await _post_signed(http, _oversized(enrolled.reference))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await snapshot(running) == before


async def test_a_chunked_body_over_64_kib_is_413(
    http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    body = _oversized(enrolled.reference)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    before = await snapshot(running)
    answer = await http.post(URL, content=chunks(), headers=signed_headers(body))
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 413
    assert await snapshot(running) == before


async def test_a_body_longer_than_its_content_length_is_read_no_further(
    running: RunningApp, enrolled: Enrolled
) -> None:
    """Over a socket: the server frames the body by Content-Length, the rest is not ours."""
    body = _oversized(enrolled.reference)
    headers = signed_headers(body)
    before = await snapshot(running)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.settings.port)
    try:
        head = (
            f"POST {URL} HTTP/1.1\r\nHost: test\r\nContent-Type: {headers['Content-Type']}\r\n"
            f"Enrollwire-Signature: {headers['Enrollwire-Signature']}\r\nContent-Length: 100\r\n\r\n"
        )
        writer.write(head.encode() + body)
        async with asyncio.timeout(10):
            await writer.drain()
            status_line = await reader.readline()
    finally:
        writer.close()
    # Either our 401 (the first 100 bytes are not what was signed) or uvicorn's 400 for the
    # rest, parsed as a next request, comes first; never a 413 after buffering, never a 5xx.
    assert status_line.split()[1] in {b"400", b"401"}
    assert await snapshot(running) == before


async def test_the_limit_is_counted_while_reading_whatever_content_length_says(
    running: RunningApp, enrolled: Enrolled
) -> None:
    """The app itself, below the server: a small Content-Length, then more than 64 KiB of body."""
    body = _oversized(enrolled.reference)
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    received = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        received += 1
        more = received < len(chunks)
        return {"type": "http.request", "body": chunks[received - 1], "more_body": more}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in signed_headers(body).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        # Every HTTP/1.1 request names its Host; the app refuses one that names none.
        "headers": [
            *headers,
            (b"host", f"127.0.0.1:{running.settings.port}".encode()),
            (b"content-length", b"100"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", running.settings.port),
        "state": {},
    }
    before = await snapshot(running)
    await running.app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert received == MAX_BODY_BYTES // 4096 + 1  # it stopped at the first chunk past the limit
    assert await snapshot(running) == before


async def test_checks_run_in_the_contracts_order(
    http: httpx.AsyncClient, running: RunningApp, enrolled: Enrolled
) -> None:
    unsigned = {"Content-Type": "application/json"}
    bad_json = b"{nope"
    big = _oversized(enrolled.reference)
    assert (await http.post(URL, content=big, headers={"Content-Type": "text/plain"})).status_code == 415
    assert (await http.post(URL, content=big, headers=unsigned)).status_code == 413
    assert (await http.post(URL, content=bad_json, headers=unsigned)).status_code == 401
    assert (
        await _post_signed(http, encode(_without(event("pay_nobody", 1), "data.currency")))
    ).status_code == 400
    assert (await _post_signed(http, encode(event("pay_nobody", 1)))).status_code == 404
