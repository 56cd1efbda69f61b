"""The server CPU the named stack itself costs per enroll-shaped request, beside nothing else.

Issue 21 asks for server CPU per enroll at or below the Node peer's. This measures how much of
that budget uvicorn + Starlette + Strawberry take before any of enrollwire's work: `server.py`
answers the peer load generator's `mutations` scenario (concurrency 32, 20 s, the side-by-side
bench's size) with constants, in three modes, ROUNDS runs each. Needs the peer's load generator
installed as `BENCH_PEER=1 make bench` leaves it (`~/.cache/enrollwire-bench`):

    .venv/bin/python docs/research/stack_floor
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.harness import AUTH_SECRET, WEBHOOK_SECRET
from bench.peer import SCENARIO_ARGS, prepare
from sandbox.embedded import free_port

ROUNDS = 2
MODES = ("bare", "cached", "strawberry")
SERVER = Path(__file__).resolve().parent / "server.py"


def one_run(loadgen: list[str], mode: str) -> tuple[float, float]:
    """Server CPU ms per request and requests per second of one 20 s run."""
    port = free_port()
    server = subprocess.Popen([sys.executable, str(SERVER), mode, str(port), AUTH_SECRET])
    try:
        time.sleep(2)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [*loadgen, "mutations", "--url", f"http://127.0.0.1:{port}", "--auth-secret"]
            command += [AUTH_SECRET, "--webhook-secret", WEBHOOK_SECRET, "--pid", f"server={server.pid}"]
            command += [*SCENARIO_ARGS["mutations"], "--out", out.name]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            result = json.loads(Path(out.name).read_text().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(10)
    if result["errors"] or not result["ok"]:
        raise SystemExit(f"{mode}: {result['errors']} errors, e.g. {result['error_sample']}")
    return result["cpu"]["cpu_s"]["server"] / result["ok"] * 1000, result["req_per_s"]


def main() -> None:
    peer = prepare()
    loadgen = [str(peer.python), str(peer.loadgen)]
    print("| stack | server CPU per request (ms) | requests/s |\n| --- | --- | --- |")
    for mode in MODES:
        runs = [one_run(loadgen, mode) for _ in range(ROUNDS)]
        cpu = " / ".join(f"{ms:.2f}" for ms, _ in runs)
        rate = " / ".join(f"{rate:.0f}" for _, rate in runs)
        print(f"| {mode} | {cpu} | {rate} |")


if __name__ == "__main__":
    main()
