"""Development shows everything that helps a developer; production shows nothing that helps an
attacker: introspection, "did you mean" suggestions and GraphiQL. In both, our own failures reach
clients as one generic message with the request id, while auth and domain errors keep their code.

Production is `enrollwire serve` with ENROLLWIRE_ENV=production, in its own process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from store.database import Doc, connect
from tests.cli_server import CliServer
from tests.servers import serve, test_settings

LEAKS = ("Traceback", "KeyError", ".py", "/work", "site-packages", "pymongo", "redis")


@dataclass
class Profile:
    production: bool
    http: httpx.AsyncClient
    token: Callable[..., str]
    db: AsyncDatabase[Doc]
    log: Path | None

    async def query(self, document: str, token: str | None = None, **headers: str) -> httpx.Response:
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self.http.post("/graphql", json={"query": document}, headers=headers)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture(scope="module", params=["development", "production"])
async def profile(
    request: pytest.FixtureRequest,
    mongo_server: ManagedServer,
    redis_server: ManagedServer,
    production: CliServer,
) -> AsyncIterator[Profile]:
    if request.param == "production":
        mongo = connect(mongo_server.url)
        async with httpx.AsyncClient(base_url=production.base_url, timeout=30) as http:
            yield Profile(True, http, production.token, mongo[production.mongodb_db], production.log)
        await mongo.close()
        return
    async with serve(test_settings(mongo_server.url, redis_server.url)) as app:
        assert not app.settings.production
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as http:
            yield Profile(False, http, app.token, app.app.runtime.collections.db, None)


INTROSPECTION = ["{ __schema { queryType { name } } }", '{ __type(name: "Course") { name } }']


@pytest.mark.parametrize("document", INTROSPECTION, ids=["__schema", "__type"])
async def test_introspection_only_in_development(profile: Profile, document: str) -> None:
    body = (await profile.query(document)).json()
    if profile.production:
        assert body["data"] is None
        assert "introspection" in body["errors"][0]["message"].lower()
    else:
        assert "errors" not in body and body["data"]
    # The type name of a result is not introspection: clients with unions rely on it.
    assert (await profile.query("{ __typename }")).json() == {"data": {"__typename": "Query"}}


MISSPELT = {
    "field": "{ courseCardz { version } }",
    "nested field": "{ courseCards { versoin } }",
    "argument": '{ courseCard(courseID: "c") { version } }',
    "type": "query($s: EnrollmentStatuz) { enrollments(status: $s) { totalCount } }",
    "enum value": "{ enrollments(status: APPROVD) { totalCount } }",
    "input field": 'mutation { enroll(input: {courseID: "c", paymentMethod: EFT}) { errors { code } } }',
}


@pytest.mark.parametrize("document", MISSPELT.values(), ids=MISSPELT.keys())
async def test_suggestions_only_in_development(profile: Profile, document: str) -> None:
    admin = profile.token("speller", Role.ADMIN)
    errors = (await profile.query(document, admin)).json()["errors"]
    suggested = any("Did you mean" in error["message"] for error in errors)
    assert suggested is not profile.production, errors


async def test_graphiql_only_in_development(profile: Profile) -> None:
    page = await profile.http.get("/graphql", headers={"accept": "text/html"})
    if profile.production:
        assert page.status_code in (400, 404), page.text
        assert "text/html" not in page.headers.get("content-type", "")
        assert "graphiql" not in page.text.lower()
    else:
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()
    # A client's GET (urql's default) is a query, not a page, in both.
    query = await profile.http.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"accept": "application/json"}
    )
    assert query.json() == {"data": {"__typename": "Query"}}


async def test_an_unexpected_error_is_masked_with_the_request_id(profile: Profile) -> None:
    # A course document a bad migration left without its title: reading it is our failure.
    course = f"corrupt-{uuid.uuid4().hex[:8]}"
    await profile.db["courses"].insert_one({"_id": course, "published": False})
    request_id = f"support-{uuid.uuid4().hex[:12]}"
    document = f'{{ courseCard(courseId: "{course}") {{ version course {{ title }} }} }}'
    response = await profile.query(document, **{"x-request-id": request_id})
    assert response.headers["x-request-id"] == request_id
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert not [leak for leak in LEAKS if leak in response.text], response.text
    if profile.log is not None:
        entry = await logged_error(profile.log, request_id)
        assert "KeyError" in entry["exception"]


async def logged_error(log: Path, request_id: str) -> dict[str, Any]:
    """The JSON log line of the error behind `request_id` (the server may still be writing it)."""
    async with asyncio.timeout(10):
        while True:
            lines = (await asyncio.to_thread(log.read_text)).splitlines()
            for line in lines:
                if request_id in line and line.startswith("{"):
                    entry: dict[str, Any] = json.loads(line)
                    if entry.get("request_id") == request_id and entry["level"] == "error":
                        return entry
            await asyncio.sleep(0.05)


KEPT = {
    "anonymous": ("{ myEnrollments { id } }", None, "UNAUTHENTICATED"),
    "bad token": ("{ courseCards { version } }", "not-a-token", "UNAUTHENTICATED"),
    "student": ("{ pendingEnrollments { totalCount } }", "student", "FORBIDDEN"),
    "page size": ("{ jobs(first: 100000) { totalCount } }", "admin", "VALIDATION_FAILED"),
}


@pytest.mark.parametrize(("document", "who", "code"), KEPT.values(), ids=KEPT.keys())
async def test_auth_and_domain_errors_keep_their_code(
    profile: Profile, document: str, who: str | None, code: str
) -> None:
    token = {
        None: None,
        "not-a-token": "not-a-token",
        "student": profile.token("s-kept"),
        "admin": profile.token("a-kept", Role.ADMIN),
    }[who]
    [error] = (await profile.query(document, token)).json()["errors"]
    assert error["extensions"]["code"] == code
    assert error["message"] != "Internal server error."
