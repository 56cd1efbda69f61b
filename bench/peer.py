"""`BENCH_PEER=1 make bench`: enrollwire and the Node peer side by side, in one run.

The peer (`peer-node/`, graphql-ws + ioredis + the mongodb driver) and its load generator
(`loadgen.py`) are not part of this repository: they are read from `../shared/peer-bench`
beside the checkout, or from `BENCH_PEER_DIR`. The peer is copied to a cache directory
(`BENCH_PEER_CACHE`, default `~/.cache/enrollwire-bench`) where `npm ci` installs it, and the
generator runs in a virtualenv there with its own pinned requirements, so nothing of either
lands in this tree.

Each scenario runs once against each server, alternating, on the same SecantusDB and Redis,
each time on a fresh database, a freshly started server and a freshly started store process;
the generator meters the server's and the store's CPU over its measured window (`--pid`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import AUTH_SECRET, WEBHOOK_SECRET, cache_hit_rates, start_server, stop_server, wait_ready
from sandbox.embedded import ManagedServer, free_port

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PEER_DIR = REPO.parent / "shared" / "peer-bench"
# loadgen scenario -> its arguments: the sizes the figures were taken at.
SCENARIO_ARGS = {
    # The generator gives up after 600 s by default; on a shared machine 2,000 deliveries and
    # their 1,800 card enrollments took longer than that.
    "webhook": ["-w", "2000", "-c", "32", "--duplicates", "0.1", "--timeout", "1800"],
    "mutations": ["-c", "32", "-d", "20"],
    "tabs": ["--students", "200", "--tabs", "2"],
}


class PeerMissing(SystemExit):
    pass


def peer_dir() -> Path:
    path = Path(os.environ.get("BENCH_PEER_DIR") or DEFAULT_PEER_DIR)
    for needed in ("loadgen.py", "requirements.txt", "peer-node/package.json", "peer-node/package-lock.json"):
        if not (path / needed).is_file():
            raise PeerMissing(
                f"BENCH_PEER=1: the Node peer is not at {path} ({needed} missing). Put peer-bench "
                f"at {DEFAULT_PEER_DIR} or name its folder in BENCH_PEER_DIR."
            )
    return path


def _run(command: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@dataclass(frozen=True)
class Peer:
    source: Path  # peer-bench as given
    node_app: Path  # the installed copy of peer-node/
    python: Path  # the generator's interpreter

    @property
    def loadgen(self) -> Path:
        return self.source / "loadgen.py"


def prepare() -> Peer:
    """The peer installed in the cache (again only when its lock or requirements change)."""
    source = peer_dir()
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise PeerMissing("BENCH_PEER=1 needs node (>= 20.19) and npm on PATH")
    cache = Path(os.environ.get("BENCH_PEER_CACHE") or Path.home() / ".cache" / "enrollwire-bench")
    lock = (source / "peer-node" / "package-lock.json").read_bytes()
    app = cache / f"peer-node-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (app / "node_modules").is_dir():
        shutil.rmtree(app, ignore_errors=True)
        shutil.copytree(source / "peer-node", app, ignore=shutil.ignore_patterns("node_modules"))
        _run(["npm", "ci", "--no-audit", "--no-fund", "--cache", str(cache / "npm")], cwd=app)
    requirements = (source / "requirements.txt").read_bytes()
    venv = cache / f"loadgen-{hashlib.sha256(requirements).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(python), "-m", "pip", "install", "--quiet", "-r", str(source / "requirements.txt")])
        (venv / ".installed").touch()
    return Peer(source, app, python)


def start_peer(
    peer: Peer, mongo: ManagedServer, redis: ManagedServer, db: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "MONGODB_URL": mongo.url,
        "MONGODB_DB": db,
        "REDIS_URL": redis.url,
        "AUTH_SECRET": AUTH_SECRET,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    server = subprocess.Popen(["node", "server.js"], cwd=peer.node_app, env=env, stdout=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


def run_loadgen(
    peer: Peer, scenario: str, base: str, server_pid: int, store_pid: int, label: str
) -> dict[str, Any]:
    command = [
        str(peer.python),
        str(peer.loadgen),
        scenario,
        "--url",
        base,
        "--auth-secret",
        AUTH_SECRET,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--pid",
        f"server={server_pid}",
        "--pid",
        f"store={store_pid}",
        "--label",
        label,
        *SCENARIO_ARGS[scenario],
        # BENCH_PEER_ARGS="-w 200 -d 5 --students 20": smaller runs (later options win)
        *os.environ.get("BENCH_PEER_ARGS", "").split(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"scenario": scenario, "label": label, "error": (done.stderr or done.stdout)[-2000:]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def baseline() -> Path | None:
    """BENCH_BASELINE=DIR: also serve that checkout's code (e.g. `git archive main | tar -x -C DIR`)
    with this venv, as a third column: before and after in the same run."""
    named = os.environ.get("BENCH_BASELINE")
    if not named:
        return None
    path = Path(named).resolve()
    if not (path / "server" / "cli.py").is_file():
        raise SystemExit(f"BENCH_BASELINE={named}: no enrollwire checkout there (server/cli.py missing)")
    return path


def side_by_side(mongo: ManagedServer, redis: ManagedServer, scenarios: list[str]) -> list[dict[str, Any]]:
    """Each scenario against enrollwire, the baseline if named, then the peer: fresh database,
    server process and store process each.

    The store is restarted before every run: SecantusDB keeps a record of every retryable write
    for 30 minutes and walks them all on each write, so a store shared across runs charged each
    run for the writes of the runs before it. Measured on 2026-12-06 at the issue's sizes (README,
    Benchmarks): the peer's store CPU per webhook delivery was 54.1 ms on a store of its own and
    78.9 ms on the store its two enrollwire runs had used.
    """
    peer = prepare()
    before = baseline()
    results: list[dict[str, Any]] = []
    targets = ("enrollwire", "baseline", "peer") if before is not None else ("enrollwire", "peer")
    for scenario in scenarios:
        for target in targets:
            mongo.restart()
            assert mongo.pid is not None
            db = f"side_{scenario}_{target}_{int(time.time())}"
            if target == "peer":
                server, base = start_peer(peer, mongo, redis, db)
            else:
                server, base = start_server(mongo, redis, db, source=before if target == "baseline" else None)
            try:
                asyncio.run(wait_ready(base))
                result = run_loadgen(peer, scenario, base, server.pid, mongo.pid, target)
                if target == "enrollwire":  # the baseline may predate the cache counters
                    result["cache_hit_rates"] = asyncio.run(cache_hit_rates(base))
                results.append(result)
            finally:
                stop_server(server)
    return results


def _per_request_ms(result: dict[str, Any], process: str, count_key: str) -> float | None:
    used = (result.get("cpu") or {}).get("cpu_s", {}).get(process)
    count = result.get(count_key)
    return None if used is None or not count else 1000 * used / count


def _p99(result: dict[str, Any]) -> float | None:
    value: float | None = (result.get("approve_to_tab_ms") or {}).get("p99")
    return value


def _rate(result: dict[str, Any]) -> float | None:
    value: float | None = result.get("req_per_s")
    return value


def _server(count: str) -> Any:
    return lambda r: _per_request_ms(r, "server", count)


def _store(count: str) -> Any:
    return lambda r: _per_request_ms(r, "store", count)


# (row, loadgen scenario, how to read it, goal for the ratio enrollwire / peer)
ROWS: list[tuple[str, str, Any, float | None]] = [
    ("webhook, server CPU per request (ms)", "webhook", _server("deliveries"), 1.0),
    ("webhook, store CPU per request (ms)", "webhook", _store("deliveries"), 1.5),
    ("webhook deliveries/s (2,000, 10% duplicates)", "webhook", _rate, None),
    ("enroll, server CPU per request (ms)", "mutations", _server("ok"), 1.0),
    ("enroll, store CPU per request (ms)", "mutations", _store("ok"), 1.5),
    ("enroll mutations/s (concurrency 32, 20 s)", "mutations", _rate, None),
    ("approval -> both tabs p99 (ms), 200 x 2", "tabs", _p99, 1.5),
]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def table(results: list[dict[str, Any]]) -> str:
    by = {(r.get("scenario"), r.get("label")): r for r in results}
    with_baseline = any(r.get("label") == "baseline" for r in results)
    columns = [
        "enrollwire",
        *(["baseline (before)", "baseline / peer"] if with_baseline else []),
        "Node peer",
    ]
    lines = [
        f"| per request | {' | '.join(columns)} | enrollwire / peer | goal |",
        "| --- " * (len(columns) + 3) + "|",
    ]

    def read_of(scenario: str, label: str, read: Any) -> float | None:
        found = by.get((scenario, label))
        value: float | None = None if found is None or "error" in found else read(found)
        return value

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    for name, scenario, read, goal in ROWS:
        ours, theirs = read_of(scenario, "enrollwire", read), read_of(scenario, "peer", read)
        cells = [_fmt(ours)]
        if with_baseline:
            old = read_of(scenario, "baseline", read)
            cells += [_fmt(old), _fmt(ratio(old, theirs))]
        cells.append(_fmt(theirs))
        verdict = ""
        if goal is not None and (share := ratio(ours, theirs)) is not None:
            verdict = f"<= {goal}: {'met' if share <= goal else 'missed'}"
        lines.append(f"| {name} | {' | '.join(cells)} | {_fmt(ratio(ours, theirs))} | {verdict} |")
    for r in results:
        if "error" in r:
            lines.append(f"\n{r.get('label')} {r.get('scenario')} failed: {str(r['error'])[-400:]}")
        if "cache_hit_rates" in r:
            rates = ", ".join(f"{k} {v}" for k, v in r["cache_hit_rates"].items())
            lines.append(f"\nenrollwire caches during {r.get('scenario')}: {rates}")
    return "\n".join(lines)
