"""Development features fail closed (issue 15, item 1), over real HTTP and WebSocket.

A deployment that forgets ENROLLWIRE_ENV gets no demo sign-in, GraphiQL, introspection or sandbox;
a page on another site that reaches a loopback development server by DNS rebinding (its own name
in `Host`) is refused; development features with real secrets on a non-loopback address refuse
to start, naming the setting.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from sandbox.embedded import ManagedServer
from server.settings import Environment, Settings
from tests.servers import AUTH_SECRET, WEBHOOK_SECRET, RunningApp, serve, test_settings

ROOT = Path(__file__).resolve().parent.parent.parent
SIGN_IN = "/app/dev/sign-in"


@pytest.fixture
async def forgotten_env(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> AsyncIterator[RunningApp]:
    """Real secrets, ENROLLWIRE_ENV and ENROLLWIRE_SANDBOX unset."""
    async with serve(test_settings(mongo_server.url, redis_server.url, sandbox=None, job_workers=0)) as app:
        yield app


async def test_a_deployment_that_forgets_env_serves_no_development_feature(forgotten_env: RunningApp) -> None:
    assert not forgotten_env.settings.dev_features
    async with httpx.AsyncClient(base_url=forgotten_env.base_url, timeout=10) as http:
        minted = await http.post(SIGN_IN, json={"role": "admin"})
        assert minted.status_code == 404 and "token" not in minted.text
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in page.text.lower()
        schema = (await http.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})).json()
        assert schema["data"] is None and "introspection" in schema["errors"][0]["message"].lower()
        for path in ("/sandbox/lms", "/sandbox/notify", "/sandbox/checkout"):
            assert (await http.get(path)).status_code == 404, path


async def test_dns_rebinding_to_a_development_server_is_refused(running: RunningApp) -> None:
    assert running.settings.dev_features
    port = running.settings.port
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        for host in (f"attacker.example:{port}", "attacker.example", f"127.0.0.1.attacker.example:{port}"):
            minted = await http.post(SIGN_IN, json={"role": "admin"}, headers={"host": host})
            assert minted.status_code == 400, (host, minted.text)
            assert "token" not in minted.text
            query = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"host": host})
            assert query.status_code == 400
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            minted = await http.post(SIGN_IN, json={"role": "student"}, headers={"host": host})
            assert minted.status_code == 200 and minted.json()["token"], host
        # Liveness answers whatever the Host: probes address an instance by its IP.
        assert (await http.get("/healthz", headers={"host": "10.0.0.7:8000"})).status_code == 200

    # The browser resolved attacker.example to 127.0.0.1; its handshake still names attacker.example.
    sock = socket.create_connection(("127.0.0.1", port))
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://attacker.example:{port}/graphql",
            sock=sock,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            origin=None,
            proxy=None,
            open_timeout=10,
        ):
            pass
    assert refused.value.response.status_code == 400


async def _serve_exits(data_dir: Path, **env: str) -> tuple[int, str]:
    """`enrollwire serve` with exactly these settings: its exit code and everything it printed.
    A server that starts instead of refusing is stopped when the wait runs out."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ENROLLWIRE_")}
    environment["ENROLLWIRE_DATA_DIR"] = str(data_dir)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        env={**environment, **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode()


REAL = {"ENROLLWIRE_AUTH_SECRET": AUTH_SECRET, "ENROLLWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET}
PRODUCTION = {
    **REAL,
    "ENROLLWIRE_ENV": "production",
    "ENROLLWIRE_MONGODB_URL": "mongodb://127.0.0.1:1",
    "ENROLLWIRE_REDIS_URL": "redis://127.0.0.1:1",
    "ENROLLWIRE_TRUSTED_DOCUMENTS": "off",
}
REFUSED = {
    "sandbox on a public address": (
        {**REAL, "ENROLLWIRE_SANDBOX": "true", "ENROLLWIRE_HOST": "0.0.0.0"},
        "ENROLLWIRE_HOST",
    ),
    "development on a public URL": (
        {**REAL, "ENROLLWIRE_ENV": "development", "ENROLLWIRE_PUBLIC_URL": "https://school.example"},
        "ENROLLWIRE_PUBLIC_URL",
    ),
    "production with the sandbox": ({**PRODUCTION, "ENROLLWIRE_SANDBOX": "true"}, "ENROLLWIRE_SANDBOX"),
    "production without a public URL": (
        {**PRODUCTION, "ENROLLWIRE_HOST": "0.0.0.0"},
        "ENROLLWIRE_PUBLIC_URL",
    ),
}


@pytest.mark.parametrize(("env", "named"), REFUSED.values(), ids=REFUSED.keys())
async def test_unsafe_settings_refuse_to_start_naming_the_setting(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    code, output = await _serve_exits(tmp_path, **env)
    assert code == 2, output
    assert "refusing to start" in output and named in output, output
    assert "Traceback" not in output


def test_development_features_need_an_explicit_request_and_a_loopback_address() -> None:
    assert not Settings().dev_features  # nothing asked for
    assert Settings(sandbox=True).dev_features  # what `make run` sets
    assert Settings(env=Environment.DEVELOPMENT).dev_features
    assert Settings(env=Environment.DEVELOPMENT, host="::1").dev_features
    # Development secrets on a public address: no refusal (nothing real to leak), features off.
    public = Settings(sandbox=True, host="0.0.0.0")
    assert not public.dev_features and not public.sandbox_enabled and not public.graphiql_enabled
