"""3. httpx vs httpx2, GET against a local keep-alive server."""

from __future__ import annotations

import asyncio
import contextlib
from importlib.metadata import version
from typing import Any

from measuring import HTTP_CONCURRENCY, Op, compare, optional

# --- 3. httpx vs httpx2 ----------------------------------------------------------------------

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class KeepAliveOk(asyncio.Protocol):
    """Answers every request head with 200 "ok": as cheap as a server gets, so the client shows."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(RESPONSE)


async def serve_http(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(KeepAliveOk, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def http_table(url: str) -> list[str]:
    stack = contextlib.AsyncExitStack()
    ops: dict[str, Op] = {}
    for module in ("httpx", "httpx2"):
        client = await stack.enter_async_context(optional(module).AsyncClient(base_url=url))

        async def get(_: int, client: Any = client) -> None:
            (await client.get("/")).raise_for_status()

        ops[f"{module} {version(module)}"] = get
    async with stack:
        results = await compare(ops, HTTP_CONCURRENCY)
    rows = ["| client | concurrency | requests/s | client CPU µs/request |", "|---|--:|--:|--:|"]
    for name, (rate, cpu) in results.items():
        rows.append(f"| {name} | {HTTP_CONCURRENCY} | {rate:,.0f} | {cpu:,.0f} |")
    return rows
