"""What the lifespan opened, as every request and WebSocket sees it (Starlette's lifespan state)."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from server.runtime import Runtime

RUNTIME = "runtime"


def runtime_of(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.state.runtime
    return runtime
