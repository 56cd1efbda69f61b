"""Internal endpoints (issue 15, item 4): `/metrics` and `/readyz` on an internal listener, not on
the public port; the shipped proxy refuses them; client-chosen operation names never become label
values (a flood of names lands on the root field it selects)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest

from sandbox.embedded import ManagedServer, free_port
from server.settings import Environment
from tests.servers import RunningApp, serve, test_settings

NGINX = Path(__file__).resolve().parent.parent.parent / "deploy" / "nginx.conf"


@pytest.fixture(scope="module", params=["development", "production"])
async def split(
    request: pytest.FixtureRequest, mongo_server: ManagedServer, redis_server: ManagedServer
) -> AsyncIterator[RunningApp]:
    settings = test_settings(
        mongo_server.url,
        redis_server.url,
        env=Environment(request.param),
        metrics_port=free_port(),
        job_workers=0,
    )
    async with serve(settings) as app:
        yield app


async def test_metrics_are_served_on_the_internal_listener_only(split: RunningApp) -> None:
    internal = f"http://127.0.0.1:{split.settings.metrics_port}"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{split.base_url}/metrics")).status_code == 404
        scraped = await http.get(f"{internal}/metrics")
        assert scraped.status_code == 200 and "enrollwire_websockets_open" in scraped.text
        assert (await http.get(f"{internal}/readyz")).json()["status"] == "ok"


async def test_operation_names_chosen_by_clients_are_not_label_values(split: RunningApp) -> None:
    internal = f"http://127.0.0.1:{split.settings.metrics_port}"
    async with httpx.AsyncClient(timeout=30) as http:
        for n in range(250):
            document = f"query Spam{n}x{'y' * 50} {{ courseCards {{ version }} }}"
            assert (await http.post(f"{split.base_url}/graphql", json={"query": document})).status_code == 200
        await http.post(f"{split.base_url}/graphql", json={"query": "query Bogus { nope }"})
        text = (await http.get(f"{internal}/metrics")).text
    labels = set(re.findall(r'enrollwire_graphql_operations_total\{operation="([^"]*)"', text))
    assert "Spam0" not in text and "Bogus" not in text
    assert labels <= {"courseCards", "other"}, labels
    assert 'operation="courseCards",outcome="ok",type="query"} 250.0' in text


def test_the_shipped_proxy_refuses_internal_endpoints_and_limits_clients() -> None:
    conf = NGINX.read_text()
    denied = re.search(r"location ~ \^/\(metrics\|readyz\)\(/\|\$\) \{\s*return 404;", conf)
    assert denied is not None
    for directive in ("limit_req zone=", "limit_conn ", "client_body_timeout", "client_header_timeout"):
        assert directive in conf, directive
