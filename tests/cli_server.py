"""`enrollwire serve` in a child process: the production entry point, uvicorn options and all.

A server in its own process also keeps answering (or visibly not) while a test's client waits,
which an in-process server blocked by a runaway request could not show.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from api.auth import issue_token
from domain.viewer import Role
from sandbox.embedded import free_port
from tests.servers import AUTH_SECRET, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class CliServer:
    base_url: str
    ws_url: str
    mongodb_db: str
    process: subprocess.Popen[bytes]
    log: Path  # everything the server printed: JSON lines in production

    def token(self, sub: str, role: Role = Role.STUDENT, ttl: int = 3600) -> str:
        return issue_token(AUTH_SECRET, sub, role, ttl, None)


@contextlib.asynccontextmanager
async def cli_server(mongodb_url: str, redis_url: str, log: Path, **env: str) -> AsyncIterator[CliServer]:
    """`python -m server.cli serve` in the production profile unless `env` says otherwise."""
    port = free_port()
    database = f"t_{uuid.uuid4().hex[:12]}"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENROLLWIRE_")},
        "ENROLLWIRE_ENV": "production",
        "ENROLLWIRE_HOST": "127.0.0.1",
        "ENROLLWIRE_PORT": str(port),
        "ENROLLWIRE_MONGODB_URL": mongodb_url,
        "ENROLLWIRE_MONGODB_DB": database,
        "ENROLLWIRE_REDIS_URL": redis_url,
        "ENROLLWIRE_AUTH_SECRET": AUTH_SECRET,
        "ENROLLWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ENROLLWIRE_JOB_WORKERS": "0",
        "ENROLLWIRE_LOG_LEVEL": "WARNING",
        "ENROLLWIRE_RATE_LIMITS": "off",  # the tests sharing this server send more than a client may
        # Production takes cards through iK Pay and refuses to start without its credentials
        # and an https public URL; nothing here calls the gateway.
        "ENROLLWIRE_PUBLIC_URL": "https://school.example",
        # The tests reach it directly, not through a proxy passing the public Host.
        "ENROLLWIRE_ALLOWED_HOSTS": "127.0.0.1",
        "ENROLLWIRE_IKHOKHA_APP_ID": "test-app-id",
        "ENROLLWIRE_IKHOKHA_APP_SECRET": "test-app-secret-0123456789abcdef",
        # Production names its documents policy; the tests send documents of their own.
        "ENROLLWIRE_TRUSTED_DOCUMENTS": "off",
        **env,
    }
    base = f"http://127.0.0.1:{port}"
    process = _spawn(environment, log)
    try:
        await _until_healthy(base, process, log)
        yield CliServer(base, base.replace("http://", "ws://") + "/graphql", database, process, log)
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)


def _spawn(environment: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


async def _until_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as client, asyncio.timeout(60):
        while True:
            if process.poll() is not None:
                output = await asyncio.to_thread(log.read_text)
                raise RuntimeError(f"enrollwire serve exited {process.returncode}:\n{output}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
