"""The production shape in docker-compose.yml is wired the way the README says."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_ENV = (
    "ENROLLWIRE_AUTH_SECRET",
    "ENROLLWIRE_WEBHOOK_SECRET",
    "ENROLLWIRE_LMS_URL",
    "ENROLLWIRE_NOTIFY_URL",
    "ENROLLWIRE_PUBLIC_URL",
    "ENROLLWIRE_IKHOKHA_APP_ID",
    "ENROLLWIRE_IKHOKHA_APP_SECRET",
    "ENROLLWIRE_TRUSTED_DOCUMENTS",
)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_services_and_wiring() -> None:
    services = compose()["services"]
    assert set(services) == {"mongo", "redis", "api-1", "api-2", "proxy"}
    for name in ("api-1", "api-2"):
        api = services[name]
        env = api["environment"]
        assert env["ENROLLWIRE_ENV"] == "production"
        assert (
            env["ENROLLWIRE_MONGODB_URL"].startswith("mongodb://mongo:27017/")
            and "replicaSet=rs0" in env["ENROLLWIRE_MONGODB_URL"]
        )
        assert env["ENROLLWIRE_REDIS_URL"].startswith("redis://redis:6379")
        for secret in ("ENROLLWIRE_AUTH_SECRET", "ENROLLWIRE_WEBHOOK_SECRET"):
            assert ":?" in env[secret], f"{secret} must be required, never defaulted"
        assert api["depends_on"] == {
            "mongo": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        assert "/healthz" in " ".join(api["healthcheck"]["test"])
        # Rate limits count the client the proxy saw, and only the proxy is believed.
        proxy_address = services["proxy"]["networks"]["default"]["ipv4_address"]
        assert env["ENROLLWIRE_TRUSTED_PROXIES"] == proxy_address
    assert "--replSet" in services["mongo"]["command"]
    assert "rs.initiate" in " ".join(services["mongo"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["proxy"]["depends_on"] == {
        "api-1": {"condition": "service_healthy"},
        "api-2": {"condition": "service_healthy"},
    }


def test_proxy_passes_websockets_to_both_instances() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server api-1:8000" in conf and "server api-2:8000" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_read_timeout 3600s;" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf


def test_image_runs_as_non_root_without_the_test_store() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER enrollwire" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "secantus" not in dockerfile.lower()
    assert "requirements/dev.txt" not in dockerfile  # runtime deps only, no [dev]


def test_image_installs_only_from_the_lock() -> None:
    """Every pip install in the image either takes the hashed runtime lock or installs the project
    alone: an install that resolved would run versions no test saw."""
    lines = (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    installs = [line for line in lines if line.startswith("RUN") and "pip install" in line]
    assert installs
    for line in installs:
        assert "--no-deps" in line, line
        takes_the_lock = "--require-hashes" in line and "-r requirements/runtime.txt" in line
        assert takes_the_lock or line.endswith("--no-build-isolation ."), line


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20)
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker compose plugin on this machine: the structural tests above stand in")
    env = {**os.environ, **dict.fromkeys(REQUIRED_ENV, "x" * 40)}
    result = subprocess.run([*cli, "config", "--quiet"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()


def test_image_copies_every_package() -> None:
    """A package pyproject ships but the image leaves out fails only at import, in production."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        include = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    missing = [p.rstrip("*") for p in include if f"COPY {p.rstrip('*')} {p.rstrip('*')}" not in dockerfile]
    assert not missing, f"the Dockerfile does not copy {missing}"
