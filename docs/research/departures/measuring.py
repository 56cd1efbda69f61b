"""What every comparison shares: the sizes, the clock and the taking of turns."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import itertools
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from types import ModuleType

N = 2000
WARMUP = 100
ROUNDS = 3
MONGO_CONCURRENCY = (1, 32)
HTTP_CONCURRENCY = 16
DOCS = 100
MESSAGES = 100
SETTLE_S = 0.3  # after subscribing, so SUBSCRIBE has surely reached Redis before the first PUBLISH
OUTAGE_S = 1.0  # how long redis-server stays down in check (c)
RECOVERY_S = 3.0  # after the restart, before publishing: time for either side to resubscribe

Op = Callable[[int], Awaitable[object]]


def optional(name: str) -> ModuleType:
    # Imported by name: these packages exist only in the throwaway venv, and strict mypy runs
    # in the project's venv, where a plain import would not resolve.
    return importlib.import_module(name)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def timed(op: Op, n: int, concurrency: int) -> tuple[float, float]:
    """Run op(0) .. op(n-1) on `concurrency` workers: (ops per second, client CPU µs per op)."""
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < n:
            await op(i)

    cpu, wall = cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return n / wall, cpu / n * 1e6


async def compare(ops: dict[str, Op], concurrency: int) -> dict[str, tuple[float, float]]:
    """Median (ops/s, CPU µs/op) per contender; they take turns, in alternating order, so that
    drift and whatever the server is left doing after one run hit them all alike."""
    for op in ops.values():
        await timed(op, WARMUP, concurrency)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ops}
    for round_ in range(ROUNDS):
        for name in list(ops)[:: -1 if round_ % 2 else 1]:
            samples[name].append(await timed(ops[name], N, concurrency))
    return {
        name: (statistics.median(r for r, _ in got), statistics.median(c for _, c in got))
        for name, got in samples.items()
    }
