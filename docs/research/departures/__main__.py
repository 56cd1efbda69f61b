"""Measured reasons for enrollwire's three departures from the stack it was asked for.

1. PyMongo's AsyncMongoClient, not Motor (deprecated since PyMongo Async went GA).
2. Our own hub (realtime.hub), not broadcaster, on Redis pub/sub.
3. httpx2, not httpx 0.28.1 (same API, still released).

Motor, broadcaster and httpx are not project dependencies, so run it from a throwaway venv:

    python3 -m venv /tmp/ew-departures && /tmp/ew-departures/bin/pip install motor \
        'broadcaster[redis]' redis pymongo httpx httpx2 secantusdb==0.7.0b3
    /tmp/ew-departures/bin/python docs/research/departures

It starts its own SecantusDB, redis-server and a minimal asyncio HTTP server (all child
processes on free loopback ports) and prints markdown tables. Rates are the median of
ROUNDS rounds in which the competing clients take turns inside this one process; client CPU
is this process's getrusage (every thread, so Motor's executor threads count too) and the
servers' CPU is not in it. Takes about six minutes, mostly SecantusDB serving updates.

Two variants are worth a run: add 'redis<8' to the pip line to give broadcaster a redis-py
it still works with (7.x), and add sniffio to spare httpx 0.28.1 the failing `import sniffio`
that its httpcore 1 repeats on every request when sniffio is absent (nothing requires it now).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from http_clients import http_table, serve_http
from mongo_clients import mongo_table
from pubsub import pubsub_table

from sandbox.embedded import ManagedServer, free_port, start_mongo, start_redis

# --- driver ----------------------------------------------------------------------------------


def start_http_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the HTTP server did not come up") from None
            time.sleep(0.05)


async def measure(mongo: ManagedServer, redis: ManagedServer, http_url: str) -> None:
    for title, rows in [
        ("Motor vs PyMongo AsyncMongoClient (SecantusDB)", await mongo_table(mongo.url)),
        ("broadcaster vs enrollwire Hub (redis-server)", await pubsub_table(redis)),
        ("httpx vs httpx2 (GET against a local keep-alive server)", await http_table(http_url)),
    ]:
        print(f"\n### {title}\n", *rows, sep="\n")


def main() -> None:
    redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    packages = ["motor", "pymongo", "broadcaster", "redis", "httpx", "httpcore", "httpx2", "secantusdb"]
    print(
        "Versions:",
        ", ".join(f"{p} {version(p)}" for p in packages),
        f"redis-server {redis_version.split()[2].removeprefix('v=')}",
    )
    # httpcore 1 retries `import sniffio` on every request when it is missing, which is slow.
    print("sniffio installed:", importlib.util.find_spec("sniffio") is not None)
    with tempfile.TemporaryDirectory(prefix="ew-departures-") as tmp:
        mongo, redis = start_mongo(Path(tmp) / "mongo"), start_redis()
        http_server, http_url = start_http_server()
        try:
            asyncio.run(measure(mongo, redis, http_url))
        finally:
            http_server.terminate()
            http_server.wait()
            redis.stop()
            mongo.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve_http(int(sys.argv[2])))
    else:
        main()
