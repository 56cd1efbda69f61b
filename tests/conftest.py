from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from sandbox.embedded import ManagedServer, start_mongo, start_redis
from tests.cli_server import CliServer, cli_server
from tests.servers import GraphQLClient, RunningApp, serve, test_settings


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    server = start_mongo(Path(tmp_path_factory.mktemp("mongo")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    server = start_redis(Path(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """A fresh app on its own database, served by real uvicorn."""
    async with serve(test_settings(mongo_server.url, redis_server.url)) as app:
        yield app


@pytest.fixture
async def http(running: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30, limits=limits) as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient, running: RunningApp) -> GraphQLClient:
    return GraphQLClient(http, running)


@pytest.fixture(scope="session")
async def production(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CliServer]:
    """`enrollwire serve` in the production profile, in its own process; tests use their own ids."""
    log = tmp_path_factory.mktemp("production") / "server.log"
    async with cli_server(mongo_server.url, redis_server.url, log) as server:
        yield server
