"""Real servers for the suite: one SecantusDB and one Redis per session, one app per test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import uvicorn

from api.app import App, create_app
from api.auth import issue_token
from domain.viewer import Role
from sandbox.embedded import free_port
from server.settings import Environment, Settings
from server.websocket_protocol import UVICORN_WEBSOCKET_OPTIONS

AUTH_SECRET = "test-auth-secret-0123456789abcdef0123456789"
WEBHOOK_SECRET = "test-webhook-secret-0123456789abcdef012345"


PRODUCTION_PAYMENTS: dict[str, Any] = {
    "sandbox": None,
    "public_url": "https://school.example",
    # The tests reach the server directly, not through a proxy passing the public Host.
    "allowed_hosts": ["127.0.0.1"],
    "ikhokha_app_id": "test-app-id",
    "ikhokha_app_secret": "test-app-secret-0123456789abcdef",
    # Production names its documents policy; these tests send documents of their own.
    "trusted_documents": "off",
}


def test_settings(mongodb_url: str, redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mongodb_url": mongodb_url,
        "redis_url": redis_url,
        "mongodb_db": f"t_{uuid.uuid4().hex[:12]}",
        "auth_secret": AUTH_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "port": free_port(),
        "sandbox": True,
        # Tests of other things send more than a client may: the limits' own tests turn them on.
        "rate_limits": "off",
    }
    values.update(overrides)
    if str(values.get("env")) == Environment.PRODUCTION:
        # Production refuses the sandbox, and takes cards through iK Pay only.
        if "sandbox" not in overrides:
            values["sandbox"] = None
        values |= {k: v for k, v in PRODUCTION_PAYMENTS.items() if k not in overrides}
    return Settings(**values)


# Not a test, whatever its name says (pytest would collect it where it is imported).
test_settings.__test__ = False  # type: ignore[attr-defined]


@dataclass
class RunningApp:
    app: App
    settings: Settings
    base_url: str
    ws_url: str

    def token(self, sub: str, role: Role = Role.STUDENT, ttl: int = 3600, email: str | None = None) -> str:
        return issue_token(self.settings.token_policy, sub, role, ttl, email)


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[RunningApp]:
    """A real uvicorn server on a free loopback port, in this event loop."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        **UVICORN_WEBSOCKET_OPTIONS,
        lifespan="on",
        proxy_headers=False,  # as `enrollwire serve`: api.client_ip decides whose address it is
        # Longer than the test clients' keep-alive (httpx: 5 s): at 5 s each, a request sent on a
        # connection the server is closing that instant fails with ReadError under load.
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                try:
                    task.result()
                except SystemExit as exit:  # uvicorn's way to fail a startup: not this test run's
                    raise RuntimeError(f"uvicorn did not start on port {settings.port}") from exit
            await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        yield RunningApp(app, settings, base, base.replace("http://", "ws://") + "/graphql")
    finally:
        server.should_exit = True
        await task


class GraphQLClient:
    """POSTs GraphQL over real HTTP; returns the decoded JSON response."""

    def __init__(self, http: httpx.AsyncClient, running: RunningApp) -> None:
        self.http = http
        self.running = running

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body
