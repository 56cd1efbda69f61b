"""A minimal graphql-transport-ws subscriber for the load generator."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


class Subscriber:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    @classmethod
    async def open(
        cls, url: str, token: str, query: str, variables: dict[str, Any] | None = None
    ) -> Subscriber:
        conn = await connect(url, subprotocols=["graphql-transport-ws"], max_size=2**20, compression=None)  # type: ignore[list-item]
        await conn.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await conn.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no ack: {ack}")
        await conn.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
            )
        )
        return cls(conn)

    async def run(self) -> None:
        async for raw in self.conn:
            message = json.loads(raw)
            if message.get("type") == "next":
                self.arrivals.append((time.perf_counter(), message["payload"]["data"]))
                self.arrived.set()
            elif message.get("type") == "ping":
                await self.conn.send(json.dumps({"type": "pong"}))

    async def close(self) -> None:
        await self.conn.close()
