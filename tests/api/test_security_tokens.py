"""JWT robustness (issue 15, item 5): validly signed tokens with claims of the wrong type, or
the wrong issuer or audience, or too long a life, are refused as UNAUTHENTICATED over HTTP and
with close 4403 over WebSocket; never a 500, never an error in the log."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import jwt
import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from server.settings import Environment, Settings
from tests import servers
from tests.realtime.wsclient import LEGACY_WS, TRANSPORT_WS, ws_connect
from tests.servers import AUTH_SECRET, WEBHOOK_SECRET, RunningApp, serve, test_settings

ISSUER = "https://id.school.example"
AUDIENCE = "enrollwire"
ME = "{ myEnrollments { id } }"


def signed(**claims: Any) -> str:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 600}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, AUTH_SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
async def bound(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    settings = test_settings(
        mongo_server.url, redis_server.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, job_workers=0
    )
    async with serve(settings) as app:
        yield app


@pytest.fixture(scope="module")
async def plain(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


async def _refused_everywhere(app: RunningApp, token: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(base_url=app.base_url, timeout=10) as http:
            response = await http.post(
                "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
            )
        assert response.status_code == 200, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", error
        for protocol in (TRANSPORT_WS, LEGACY_WS):
            async with ws_connect(app.ws_url, protocol) as client:
                await client.send(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
                if protocol == LEGACY_WS:
                    assert (await client.next_message(None))["type"] == "connection_error"
                else:
                    assert await client.close_code() == 4403
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


WRONG_TYPES = {
    "role a list": {"role": ["admin"]},
    "role an object": {"role": {"admin": True}},
    "exp a string": {"exp": str(int(time.time()) + 600)},
    "exp infinite": {"exp": float("inf")},
    "exp a boolean": {"exp": True},
    "iat a string": {"iat": "yesterday"},
    "sub a number": {"sub": 7},
    "email a list": {"email": ["a@example.com"]},
}


@pytest.mark.parametrize("claims", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
async def test_claims_of_the_wrong_type_are_unauthenticated_not_500(
    plain: RunningApp, bound: RunningApp, claims: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await _refused_everywhere(plain, signed(**claims), caplog)
    await _refused_everywhere(bound, signed(iss=ISSUER, aud=AUDIENCE, **claims), caplog)


BINDING = {
    "no issuer": {"aud": AUDIENCE},
    "another issuer": {"iss": "https://evil.example", "aud": AUDIENCE},
    "no audience": {"iss": ISSUER},
    "another audience": {"iss": ISSUER, "aud": "billing"},
}
LIFETIME = {
    "a month long": {"exp": int(time.time()) + 30 * 86400},
    "a month long without iat": {"iat": None, "exp": int(time.time()) + 30 * 86400},
    "a short life issued long ago": {"iat": int(time.time()) - 30 * 86400},
}


@pytest.mark.parametrize("claims", BINDING.values(), ids=BINDING.keys())
async def test_issuer_audience_and_lifetime_are_enforced(
    bound: RunningApp, claims: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await _refused_everywhere(bound, signed(**claims), caplog)


@pytest.mark.parametrize("claims", LIFETIME.values(), ids=LIFETIME.keys())
async def test_lifetime_is_capped(
    plain: RunningApp, claims: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await _refused_everywhere(plain, signed(**claims), caplog)


async def test_a_token_bound_to_issuer_and_audience_works(bound: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=bound.base_url, timeout=10) as http:
        for token in (signed(iss=ISSUER, aud=AUDIENCE, role="student"), bound.token("alice", Role.STUDENT)):
            response = await http.post(
                "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
            )
            assert response.json() == {"data": {"myEnrollments": []}}


PRODUCTION: dict[str, Any] = {
    "env": Environment.PRODUCTION,
    "mongodb_url": "mongodb://db",
    "redis_url": "redis://cache",
    **servers.PRODUCTION_PAYMENTS,
}


@pytest.mark.parametrize(
    ("auth", "webhook", "named"),
    [
        (AUTH_SECRET, AUTH_SECRET, "must differ"),
        ("password" * 4, WEBHOOK_SECRET, "ENROLLWIRE_AUTH_SECRET looks guessable"),
        (AUTH_SECRET, "a" * 40, "ENROLLWIRE_WEBHOOK_SECRET looks guessable"),
    ],
)
def test_production_refuses_equal_or_guessable_secrets(auth: str, webhook: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Settings(**PRODUCTION, auth_secret=auth, webhook_secret=webhook)
    Settings(**PRODUCTION, auth_secret=AUTH_SECRET, webhook_secret=WEBHOOK_SECRET)
