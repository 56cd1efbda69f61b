"""`make bench`: real server, embedded store and Redis, real sockets; prints a table, writes JSON."""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvloop

from bench import back_office, scenarios
from bench.card import card_enroll
from bench.harness import Stack, cache_hit_rates, stack, stop_server, store_patched
from bench.peer import SCENARIO_ARGS, side_by_side
from bench.peer import table as side_by_side_table
from bench.scrape import scrape_cost
from bench.store_floor import store_floor
from bench.ws import LEGACY_WS

RESULTS = Path(__file__).resolve().parent / "results"


SCENARIOS = ("fanout", "tabs", "webhook", "enroll", "card", "memory", "search", "export", "scrape", "floor")


def sizes() -> list[int]:
    return [int(n) for n in os.environ.get("BENCH_FANOUT", "100,1000,5000").split(",") if n]


def legacy_sizes() -> list[int]:
    """Fan-out over the legacy protocol, where each socket executes its own subscription."""
    return [int(n) for n in os.environ.get("BENCH_FANOUT_LEGACY", "1000").split(",") if n]


def peer_mode() -> bool:
    return os.environ.get("BENCH_PEER") == "1"


def chosen() -> set[str]:
    """BENCH_ONLY=fanout,tabs runs a subset (all by default; none beside the peer's with BENCH_PEER=1)."""
    only = os.environ.get("BENCH_ONLY")
    if not only:
        return set() if peer_mode() else set(SCENARIOS)
    return {name.strip() for name in only.split(",")}


def peer_scenarios() -> list[str]:
    """BENCH_PEER_SCENARIOS=webhook,mutations,tabs (the default): the generator's names."""
    names = os.environ.get("BENCH_PEER_SCENARIOS", ",".join(SCENARIO_ARGS)).split(",")
    unknown = [n for n in names if n not in SCENARIO_ARGS]
    if unknown:
        raise SystemExit(f"BENCH_PEER_SCENARIOS: unknown {unknown}; known: {', '.join(SCENARIO_ARGS)}")
    return names


async def run_all(s: Stack) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    run = chosen()
    results: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=s.base_url, timeout=60, limits=limits) as client:
        if "floor" in run:
            results.append(await store_floor())  # a store of its own, before the others' load
        if "memory" in run:
            # First: a process does not return freed memory, so later scenarios would hide growth.
            results.append(await scenarios.idle_memory(s, client, int(os.environ.get("BENCH_IDLE", "5000"))))
        if "fanout" in run:
            events = int(os.environ.get("BENCH_EVENTS", "30"))
            results += [await scenarios.admin_fanout(s, client, n, events) for n in sizes()]
            for n in legacy_sizes():
                results.append(await scenarios.admin_fanout(s, client, n, events, LEGACY_WS))
        if "tabs" in run:
            results.append(await scenarios.card_tabs(s, client, int(os.environ.get("BENCH_TABS", "200"))))
        if "webhook" in run:
            results.append(await scenarios.webhook(s, client))
        if "enroll" in run:
            seconds = float(os.environ.get("BENCH_ENROLL_SECONDS", "20"))
            results.append(await scenarios.enroll_load(s, client, seconds))
        if "card" in run:
            seconds = float(os.environ.get("BENCH_CARD_SECONDS", "20"))
            results.append(await card_enroll(s, seconds))
        if "search" in run:
            population = int(os.environ.get("BENCH_POPULATION", "100000"))
            results.append(await back_office.search(s, client, population))
        if "export" in run:
            population = int(os.environ.get("BENCH_POPULATION", "100000"))
            results.append(await back_office.export(s, client, population))
        if "scrape" in run:
            # Last: it leaves 100,000 jobs in the store, which no other scenario should read past.
            history = [int(n) for n in os.environ.get("BENCH_JOB_HISTORY", "1000,100000").split(",") if n]
            results += await scrape_cost(s, client, history)
        results.append(await scenarios.hub_health(client))
        results.append({"scenario": "cache hit rates", **await cache_hit_rates(s.base_url)})
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| scenario | figures | CPU s (server / generator / store / redis) |", "| --- | --- | --- |"]
    for r in results:
        cpu = r.get("cpu")
        figures = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in r.items()
            if k not in ("scenario", "cpu")
        )
        cpu_text = ""
        if cpu is not None:
            parts = " / ".join(f"{cpu[k]:.2f}" for k in ("server", "generator", "store", "redis"))
            cpu_text = f"{parts} in {cpu['wall']:.1f}s"
        lines.append(f"| {r['scenario']} | {figures} | {cpu_text} |")
    return "\n".join(lines)


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    side: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, stack(Path(tmp)) as s:
        # uvloop, as the server uses: the generator shares the two cores, so its cost per frame matters.
        results = uvloop.run(run_all(s)) if chosen() else []
        if peer_mode():
            stop_server(s.server)  # idle, it would still share the cores with the side-by-side runs
            side = side_by_side(s.mongo, s.redis, peer_scenarios())
            if "floor" not in chosen():  # what the writes alone cost, beside the peer's columns
                results.append(uvloop.run(store_floor()))
    text = table(results) if results else ""
    if side:
        text += (
            "\n\nside by side with the Node peer (../shared/peer-bench), same store and Redis, one run:\n\n"
        )
        text += side_by_side_table(side)
        results += side
    print(f"\nenrollwire benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores\n")
    if store_patched():
        print("store: SecantusDB with its findAndModify using the _id lookup (BENCH_STORE_ID_LOOKUP=1)\n")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-store-id-lookup" if store_patched() else ""
    out = RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}{suffix}.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
