"""The internal listener: `/metrics` and `/readyz` on ENROLLWIRE_METRICS_HOST:ENROLLWIRE_METRICS_PORT,
apart from the public port, so the proxy never forwards them and only the scraper reaches them.

It runs inside the app's lifespan, beside the public server, and stops before the app's resources
close. Signals stay the public server's: this one never installs handlers of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def internal_listener(host: str, port: int, metrics: Endpoint, readyz: Endpoint) -> AsyncIterator[None]:
    app = Starlette(routes=[Route("/metrics", metrics), Route("/readyz", readyz)])
    config = uvicorn.Config(app, host=host, port=port, lifespan="off", log_config=None, server_header=False)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(), name="internal-listener")
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()  # could not bind: the app does not start
                raise RuntimeError(f"the internal listener on {host}:{port} stopped")
            await asyncio.sleep(0.01)
    log.info("metrics and readiness on the internal listener http://%s:%d", host, port)
    try:
        yield
    finally:
        server.should_exit = True
        await task
