"""Unbounded input that used to reach storage (issue 15, item 6), over real sockets: malformed
course ids are refused before anything is subscribed or loaded, without echoing them; the sandbox
LMS and notify endpoints read a bounded body and show the calls (student e-mails) to admins only."""

from __future__ import annotations

import asyncio
import logging

import httpx2 as httpx
import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests import servers
from tests.realtime.wsclient import COURSE_CARD, LEGACY_WS, TRANSPORT_WS, signed_in
from tests.servers import RunningApp

HUGE_ID = "c" * 60_000


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_malformed_course_ids_subscribe_nothing_and_load_nothing(
    running: RunningApp, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    hub = running.app.runtime.hub
    channels = hub.stats().channels
    with caplog.at_level(logging.INFO):
        for token in (None, running.token("eve-ids")):
            async with signed_in(running.ws_url, token, protocol) as client:
                for n in range(60):  # more than the per-socket cap of 50
                    bad = f"{n}{HUGE_ID}" if n % 2 else f"../{n}\n"
                    op = await client.subscribe(COURSE_CARD, {"courseId": bad})
                    [error] = await client.next_errors(op)
                    assert error["extensions"]["code"] == "NOT_FOUND"
                    assert len(error["message"]) < 100, error["message"][:100]
                    assert hub.stats().channels == channels
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_malformed_course_id_over_http_is_null_without_a_lookup(running: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        query = "query($id: ID!) { courseCard(courseId: $id) { version } }"
        response = await http.post("/graphql", json={"query": query, "variables": {"id": HUGE_ID}})
        assert response.json() == {"data": {"courseCard": None}}


async def _declares_200_mb(running: RunningApp, path: str) -> int:
    """The status answered to a request announcing 200 MB, of which it sends 64 KiB."""
    reader, writer = await asyncio.open_connection("127.0.0.1", running.settings.port)
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{running.settings.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {200 << 20}\r\n\r\n"
        )
        writer.write(head.encode() + b" " * 65536)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/sandbox/lms", "/sandbox/notify"])
async def test_sandbox_endpoints_bound_bodies_and_protect_their_call_log(
    running: RunningApp, path: str
) -> None:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
        assert await _declares_200_mb(running, path) == 413
        streamed = await http.post(path, content=b"[" + b"0," * 20_000 + b"0]")
        assert streamed.status_code == 413
        assert (await http.get(path)).status_code == 401
        assert (await http.get(path, headers={"authorization": "Bearer nonsense"})).status_code == 401
        student = {"authorization": f"Bearer {running.token('eve-sb')}"}
        assert (await http.get(path, headers=student)).status_code == 403
        admin = {"authorization": f"Bearer {running.token('admin-sb', Role.ADMIN)}"}
        listed = await http.get(path, headers=admin)
        assert listed.status_code == 200 and listed.json()["received"] == 0


@pytest.mark.parametrize("path", ["/graphql", "/webhooks/payments"])
async def test_a_body_that_trickles_in_is_cut_with_408(
    mongo_server: ManagedServer, redis_server: ManagedServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that declares 100 bytes and sends one would hold its connection and buffer for
    ever (uvicorn has no read timeout): the body's deadline answers 408 and logs no error."""
    settings = servers.test_settings(mongo_server.url, redis_server.url, body_timeout_seconds=0.5)
    async with servers.serve(settings) as running:
        host, port = running.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n{"
        )
        with caplog.at_level(logging.INFO):
            writer.write(head.encode())
            await writer.drain()
            async with asyncio.timeout(20):
                status_line = await reader.readline()
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 408"), status_line
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
