"""Node scripts in tools/graphql-clients/ (real npm clients, installed by `npm ci` from the lock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parent.parent.parent / "tools" / "graphql-clients"


async def run_node(script: str, *args: str) -> tuple[int, str]:
    """Runs a script without blocking the loop (the server under test may share it)."""
    if not (CLIENTS / "node_modules").is_dir():
        pytest.fail(f"{CLIENTS}/node_modules is missing: `make install` runs npm ci there")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(CLIENTS / script),
        *args,
        cwd=CLIENTS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()
