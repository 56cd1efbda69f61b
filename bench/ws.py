"""A minimal graphql-transport-ws subscriber for the load generator."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"  # each socket executes its own subscription: the comparison row


class Subscriber:
    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    @classmethod
    async def open(
        cls,
        url: str,
        token: str,
        query: str,
        variables: dict[str, Any] | None = None,
        protocol: str = TRANSPORT_WS,
    ) -> Subscriber:
        conn = await connect(url, subprotocols=[Subprotocol(protocol)], max_size=2**20, compression=None)
        await conn.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await conn.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no ack: {ack}")
        subscriber = cls(conn)
        if query:
            await subscriber.subscribe(query, variables, protocol)
        return subscriber

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, protocol: str = TRANSPORT_WS
    ) -> None:
        start = "subscribe" if protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.conn.send(json.dumps({"id": "1", "type": start, "payload": payload}))

    async def run(self) -> None:
        async for raw in self.conn:
            message = json.loads(raw)
            if message.get("type") in ("next", "data"):
                self.arrivals.append((time.perf_counter(), message["payload"]["data"]))
                self.arrived.set()
            elif message.get("type") == "ping":
                await self.conn.send(json.dumps({"type": "pong"}))

    async def close(self) -> None:
        await self.conn.close()
