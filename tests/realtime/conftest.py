"""Fixtures for the hub tests: hubs that are always stopped, a Redis of one's own to kill,
and a TCP proxy that can black-hole a connection without closing it.

`redis_server` is the suite's session-wide server from tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from realtime.hub import Hub
from sandbox.embedded import ManagedServer, start_redis
from tests.proxy import HoldingProxy

HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[ManagedServer]:
    """A Redis only this test talks to, so it may kill and restart it."""
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
async def hubs() -> AsyncIterator[HubFactory]:
    """Start hubs (one per simulated process); all are stopped after the test."""
    started: list[Hub] = []

    async def start(url: str, **options: Any) -> Hub:
        hub = Hub(url, **options)
        started.append(hub)
        await hub.start()
        return hub

    yield start
    for hub in started:
        await hub.stop()


@pytest.fixture
async def plain_redis(redis_server: ManagedServer) -> AsyncIterator[Redis]:
    """A plain client beside the hubs, to see what Redis itself thinks."""
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def channel_prefix() -> str:
    """Channel prefix unique to the test, so shared Redis state never leaks between tests."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def black_hole(redis_server: ManagedServer) -> AsyncIterator[HoldingProxy]:
    proxy = HoldingProxy(redis_server.port)
    await proxy.start()
    yield proxy
    await proxy.close()
