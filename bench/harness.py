"""Servers for the benchmark and the CPU accounting that makes noisy numbers comparable."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
from prometheus_client.parser import text_string_to_metric_families

from api.auth import issue_token
from bench import job_targets
from domain.viewer import Role
from sandbox.embedded import ManagedServer, free_port, start_mongo, start_redis

AUTH_SECRET = "bench-auth-secret-0123456789abcdef0123456789"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef012345"
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Cpu:
    server: float = 0.0
    generator: float = 0.0
    store: float = 0.0
    redis: float = 0.0
    wall: float = 0.0


@dataclass
class Stack:
    mongo: ManagedServer
    redis: ManagedServer
    server: subprocess.Popen[bytes]
    base_url: str
    db: str
    samples: dict[str, Cpu] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/graphql"

    def token(self, sub: str, role: Role = Role.STUDENT) -> str:
        return issue_token(AUTH_SECRET, sub, role, 4 * 3600)

    def _pids(self) -> tuple[int, int, int]:
        assert self.mongo.pid is not None and self.redis.pid is not None
        return self.server.pid, self.mongo.pid, self.redis.pid

    @contextmanager
    def measure(self, name: str) -> Iterator[Cpu]:
        server, mongo, redis = self._pids()
        before = (process_cpu(server), own_cpu(), process_cpu(mongo), process_cpu(redis), time.perf_counter())
        cpu = Cpu()
        yield cpu
        cpu.server = process_cpu(server) - before[0]
        cpu.generator = own_cpu() - before[1]
        cpu.store = process_cpu(mongo) - before[2]
        cpu.redis = process_cpu(redis) - before[3]
        cpu.wall = time.perf_counter() - before[4]
        self.samples[name] = cpu


STORE_ID_LOOKUP = Path(__file__).resolve().parent.parent / "docs" / "research" / "store_id_lookup"


def store_patched() -> bool:
    """BENCH_STORE_ID_LOOKUP=1: the store's findAndModify uses its `_id` lookup (a diagnostic)."""
    return os.environ.get("BENCH_STORE_ID_LOOKUP") == "1"


def _start_store(data: Path) -> ManagedServer:
    if not store_patched():
        return start_mongo(data)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(STORE_ID_LOOKUP), saved) if p)
    try:
        return start_mongo(data)  # the store's process inherits the path, and only it
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def start_server(
    mongo: ManagedServer,
    redis: ManagedServer,
    db: str,
    extra_env: dict[str, str] | None = None,
    source: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """`enrollwire serve` in a process of its own on a free port; not yet ready when returned.

    `source`: another checkout's code to serve instead of this one (a baseline), with this venv.
    """
    port = free_port()
    own_code = {} if source is None else {"PYTHONPATH": str(source)}
    env = {
        **os.environ,
        "ENROLLWIRE_MONGODB_URL": mongo.url,
        "ENROLLWIRE_REDIS_URL": redis.url,
        "ENROLLWIRE_MONGODB_DB": db,
        "ENROLLWIRE_PORT": str(port),
        "ENROLLWIRE_AUTH_SECRET": AUTH_SECRET,
        "ENROLLWIRE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ENROLLWIRE_LOG_LEVEL": "WARNING",
        "ENROLLWIRE_RATE_LIMITS": "off",  # one generator address opens thousands of sockets
        # Job workers on, as production runs (BENCH_JOB_WORKERS=0 turns them off to compare).
        **(
            {"ENROLLWIRE_JOB_WORKERS": os.environ["BENCH_JOB_WORKERS"]}
            if "BENCH_JOB_WORKERS" in os.environ
            else {}
        ),
        **own_code,
        **(extra_env or {}),
    }
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env, cwd=source)
    return server, f"http://127.0.0.1:{port}"


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(15)


@contextmanager
def stack(data: Path) -> Iterator[Stack]:
    mongo = _start_store(data / "mongo")
    redis = start_redis(data / "redis")
    # Every server started from here on (the environment is inherited) has its job workers call these.
    targets, urls = job_targets.start()
    os.environ.update({name: url for name, url in urls.items() if name not in os.environ})
    db = f"bench_{int(time.time())}"
    server, base = start_server(mongo, redis, db)
    try:
        asyncio.run(wait_ready(base))
        yield Stack(mongo, redis, server, base, db)
    finally:
        stop_server(server)
        stop_server(targets)
        redis.stop()
        mongo.stop()


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        for _ in range(300):
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


async def cache_hit_rates(base: str) -> dict[str, str]:
    """Hit rate of each of the server's caches (parse, validate, token) so far, from /metrics."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        text = (await client.get("/metrics")).text
    counts: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "enrollwire_cache_lookups_total":
                counts.setdefault(sample.labels["cache"], {})[sample.labels["result"]] = sample.value
    rates = {}
    for cache, seen in sorted(counts.items()):
        hits, misses = seen.get("hit", 0.0), seen.get("miss", 0.0)
        total = hits + misses
        rates[cache] = f"{100 * hits / total:.1f}% of {int(total)}" if total else "unused"
    return rates
