"""Fixtures for the hub tests: hubs that are always stopped, a Redis of one's own to kill,
and a TCP proxy that can black-hole a connection without closing it.

`redis_server` is the suite's session-wide server from tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from api.embedded import HOST, ManagedServer, start_redis
from realtime.hub import Hub

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


class BlackHoleProxy:
    """Forwards TCP both ways until `block()`; then holds every byte, sockets left open."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def block(self) -> None:
        self._flowing.clear()

    def unblock(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for writer in self._writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self._upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pump(reader, upstream_writer),
            self._pump(upstream_reader, writer),
        )

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()


@pytest.fixture
async def black_hole(redis_server: ManagedServer) -> AsyncIterator[BlackHoleProxy]:
    proxy = BlackHoleProxy(redis_server.port)
    await proxy.start()
    yield proxy
    await proxy.close()
