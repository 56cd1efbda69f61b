"""What the lifespan opened, as every request and WebSocket reaches it: through the app that owns it."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from server.runtime import Runtime


def runtime_of(connection: HTTPConnection) -> Runtime:
    # The app, not the lifespan state: a request driven straight into the ASGI app (no server
    # copying the state into its scope) finds the runtime all the same.
    runtime: Runtime = connection.app.runtime
    return runtime
