"""ENROLLWIRE_ALLOWED_HOSTS: the Host values served besides the public URL's (an internal name a
probe or a sidecar uses), over real HTTP; anything else still gets 400, and '*' refuses to start."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from sandbox.embedded import ManagedServer
from server.settings import Environment
from tests import servers

GRAPHQL = {"query": "{ __typename }"}


async def test_public_host_and_allowed_hosts_are_served_and_others_refused(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = servers.test_settings(
        mongo_server.url, redis_server.url, env=Environment.PRODUCTION, allowed_hosts=["api-1"]
    )
    async with servers.serve(settings) as running, httpx.AsyncClient(base_url=running.base_url) as http:
        port = running.base_url.rsplit(":", 1)[1]
        for host, status in (("school.example", 200), (f"api-1:{port}", 200), ("127.0.0.1", 400)):
            response = await http.post("/graphql", json=GRAPHQL, headers={"host": host})
            assert response.status_code == status, (host, response.text)


def test_a_wildcard_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="ENROLLWIRE_ALLOWED_HOSTS"):
        servers.test_settings("mongodb://db", "redis://cache", allowed_hosts=["*"])
