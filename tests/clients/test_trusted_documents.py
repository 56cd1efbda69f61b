"""Persisted documents over real HTTP and WebSocket: Apollo's automatic persisted queries in
development, trusted documents (ENROLLWIRE_TRUSTED_DOCUMENTS), and GET by hash for a CDN."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from pydantic import ValidationError

from api.documents import sha256_hex
from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.browser.pages import PAGES_MANIFEST, seed
from tests.cli_server import CliServer
from tests.clients.node import run_node
from tests.realtime.wsclient import LEGACY_WS, PROTOCOLS, signed_in
from tests.servers import RunningApp, serve, test_settings

WEB = PAGES_MANIFEST.parent
SPEC = "application/graphql-response+json"
UNREGISTERED = "query Mine { __typename }"


def page_document(name: str) -> str:
    """A document of the pages, from the generated manifest, by its operation's name."""
    manifest: dict[str, str] = json.loads(PAGES_MANIFEST.read_text())
    (document,) = (d for d in manifest.values() if re.match(rf"(query|mutation|subscription) {name}\b", d))
    return document


def by_hash(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(document)}}


@pytest.fixture
async def trusted(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    settings = test_settings(mongo_server.url, redis_server.url, trusted_documents=str(PAGES_MANIFEST))
    async with serve(settings) as running:
        await seed(running.app.runtime.services)
        yield running


# The manifest the repository generates ------------------------------------------------------


async def test_the_manifest_holds_every_document_of_the_pages() -> None:
    code, output = await run_node("manifest.mjs")
    assert code == 0, output
    assert json.loads(output) == json.loads(PAGES_MANIFEST.read_text()), "stale: run `make documents`"


@pytest.mark.parametrize(
    "page", sorted({*WEB.glob("*.html"), *(WEB / "static").glob("*.js")}), ids=lambda p: p.name
)
def test_pages_write_documents_only_in_documents_js(page: Path) -> None:
    if page.name == "documents.js":
        return
    text = page.read_text()
    assert not re.search(r"[`\"']\s*(query|mutation|subscription|fragment)\b", text), (
        f"{page.name} writes a GraphQL document: move it to web/static/documents.js, then `make documents`"
    )


def test_a_broken_manifest_refuses_to_start(tmp_path: Path) -> None:
    manifest = tmp_path / "trusted.json"
    manifest.write_text(json.dumps({"0" * 64: "{ __typename }"}))
    with pytest.raises(ValidationError, match=r"ENROLLWIRE_TRUSTED_DOCUMENTS=.* is not the SHA-256"):
        test_settings("mongodb://unused", "redis://unused", trusted_documents=str(manifest))


# Trusted documents on -------------------------------------------------------------------------


@pytest.mark.parametrize("send", ["document", "hash", "both"])
async def test_a_registered_document_runs(trusted: RunningApp, send: str) -> None:
    cards = page_document("Cards")
    body: dict[str, Any] = {}
    if send != "hash":
        body["query"] = cards
    if send != "document":
        body["extensions"] = by_hash(cards)
    async with httpx.AsyncClient(base_url=trusted.base_url) as http:
        response = await http.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["courseCards"]) == 3


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (SPEC, 400)])
@pytest.mark.parametrize("send", ["document", "hash"])
async def test_an_unregistered_document_is_refused(
    trusted: RunningApp, accept: str, status: int, send: str
) -> None:
    body = {"query": UNREGISTERED} if send == "document" else {"extensions": by_hash(UNREGISTERED)}
    async with httpx.AsyncClient(base_url=trusted.base_url) as http:
        response = await http.post("/graphql", json=body, headers={"Accept": accept})
    assert response.status_code == status
    assert response.json() == {
        "errors": [
            {
                "message": "This server runs trusted documents only, and this document is not one of them",
                "extensions": {"code": "PERSISTED_QUERY_NOT_IN_LIST"},
            }
        ]
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_over_websocket_registered_runs_and_unregistered_is_refused(
    trusted: RunningApp, protocol: str
) -> None:
    token = trusted.token("student-ws", Role.STUDENT)
    async with signed_in(trusted.ws_url, token, protocol) as client:
        refused = await client.subscribe(UNREGISTERED)
        (error,) = await client.next_errors(refused)
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        live = page_document("LiveCard")
        op = str(len(PROTOCOLS) + 7)
        payload = {"variables": {"courseId": "websockets-301"}, "extensions": by_hash(live)}
        await client.send(
            {"id": op, "type": "start" if protocol == LEGACY_WS else "subscribe", "payload": payload}
        )
        data = await client.next_data(op)
        assert data["courseCard"]["course"]["id"] == "websockets-301"


# GET by hash: what a CDN may keep ------------------------------------------------------------


async def test_a_public_query_by_hash_over_get_is_cacheable_without_credentials(trusted: RunningApp) -> None:
    params = {"extensions": json.dumps(by_hash(page_document("Cards")))}
    async with httpx.AsyncClient(base_url=trusted.base_url) as http:
        anonymous = await http.get("/graphql", params=params, headers={"Accept": SPEC})
        assert anonymous.status_code == 200, anonymous.text
        assert anonymous.headers["cache-control"] == "public, max-age=30"
        assert anonymous.headers["vary"] == "Accept, Authorization"
        token = trusted.token("student-get", Role.STUDENT)
        viewer = await http.get("/graphql", params=params, headers={"Authorization": f"Bearer {token}"})
        assert viewer.status_code == 200
        assert viewer.headers["cache-control"] == "private, no-store"


async def test_a_viewer_specific_query_by_hash_is_never_cacheable(trusted: RunningApp) -> None:
    params = {"extensions": json.dumps(by_hash(page_document("Pending")))}
    async with httpx.AsyncClient(base_url=trusted.base_url) as http:
        admin = trusted.token("admin-get", Role.ADMIN)
        for headers in ({}, {"Authorization": f"Bearer {admin}"}):
            response = await http.get("/graphql", params=params, headers=headers)
            assert response.headers["cache-control"] == "private, no-store", headers


# Automatic persisted queries in development ---------------------------------------------------


async def test_development_learns_a_document_by_hash(http: httpx.AsyncClient) -> None:
    document = "query Typename { __typename }"
    extensions = by_hash(document)
    first = await http.post("/graphql", json={"extensions": extensions}, headers={"Accept": SPEC})
    assert first.status_code == 200  # Apollo's clients give up on persisted queries after a 400
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    mismatch = await http.post("/graphql", json={"query": "{ __typename }", "extensions": extensions})
    assert mismatch.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    registered = await http.post("/graphql", json={"query": document, "extensions": extensions})
    assert registered.json() == {"data": {"__typename": "Query"}}
    again = await http.get("/graphql", params={"extensions": json.dumps(extensions)})
    assert again.json() == {"data": {"__typename": "Query"}}
    assert again.headers["cache-control"] == "public, max-age=30"


async def test_production_learns_nothing(production: CliServer) -> None:
    """Without a manifest, production runs documents as sent: a hash alone is not supported."""
    async with httpx.AsyncClient(base_url=production.base_url) as http:
        response = await http.post("/graphql", json={"extensions": by_hash("{ __typename }")})
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"


@pytest.mark.parametrize(("value", "refused"), [(None, True), ("off", False), (str(PAGES_MANIFEST), False)])
def test_production_names_its_documents_policy(value: str | None, refused: bool) -> None:
    """Fail closed: production starts only once ENROLLWIRE_TRUSTED_DOCUMENTS says which documents run."""
    start = functools.partial(test_settings, "mongodb://db", "redis://cache", env="production")
    if refused:
        with pytest.raises(ValidationError, match="production needs ENROLLWIRE_TRUSTED_DOCUMENTS"):
            start(trusted_documents=value)
    else:
        assert start(trusted_documents=value).trusted_manifest == (None if value == "off" else value)
