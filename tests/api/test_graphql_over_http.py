"""GraphQL over HTTP: each outcome under each media type a client may accept, over real HTTP.

`application/graphql-response+json` (the spec's media type) says with its status whether the
document ran; `application/json` keeps HTTP 200 for every GraphQL outcome, as it always did.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
import pytest

SPEC = "application/graphql-response+json"
JSON = "application/json"

# (name, request, status with the spec's media type, whether `data` is in that body)
OUTCOMES: list[tuple[str, dict[str, Any], int, bool]] = [
    ("runs", {"query": "{ __typename }"}, 200, True),
    ("does not parse", {"query": "{ __typename"}, 400, False),
    ("does not validate", {"query": "{ noSuchField }"}, 400, False),
    (
        "variables do not coerce",
        {"query": "query($id: ID!) { courseCard(courseId: $id) { buttonText } }", "variables": {}},
        400,
        False,
    ),
    ("unknown operation", {"query": "query A { __typename }", "operationName": "B"}, 400, False),
    ("subscription over HTTP", {"query": "subscription { adminEnrollmentEvents { type } }"}, 400, False),
    ("field error nulls data", {"query": "{ myEnrollments { id } }"}, 200, True),
]
# Accept headers and the media type each gets: only a client asking for the spec's type gets it.
ACCEPTS = [
    (None, JSON),
    ("*/*", JSON),
    (JSON, JSON),
    (SPEC, SPEC),
    (f"{SPEC}, {JSON};q=0.9", SPEC),
    (f"{SPEC};q=0.5, {JSON}", JSON),
    (f"{SPEC};q=0, */*", JSON),  # q=0: "not acceptable"
]


def headers_for(accept: str | None, **extra: str) -> dict[str, str]:
    return {**({"Accept": accept} if accept is not None else {}), **extra}


@pytest.mark.parametrize(("accept", "media_type"), ACCEPTS)
@pytest.mark.parametrize(("name", "body", "spec_status", "has_data"), OUTCOMES, ids=[o[0] for o in OUTCOMES])
async def test_status_and_media_type(
    http: httpx.AsyncClient,
    accept: str | None,
    media_type: str,
    name: str,
    body: dict[str, Any],
    spec_status: int,
    has_data: bool,
) -> None:
    response = await http.post("/graphql", json=body, headers=headers_for(accept))
    if name == "unknown operation" and media_type == JSON:
        # Strawberry's plain-text 400, as before: no GraphQL response for a JSON client.
        assert (response.status_code, response.headers["content-type"][:10]) == (400, "text/plain")
        return
    assert response.headers["content-type"].split(";")[0] == media_type
    answer = response.json()
    if media_type == SPEC:
        assert response.status_code == spec_status, response.text
        assert ("data" in answer) is has_data
    else:
        assert response.status_code == 200, response.text
        assert "data" in answer  # unchanged: `"data": null` beside the errors
    assert ("errors" in answer) is (name != "runs")


@pytest.mark.parametrize(("accept", "status", "media_type"), [(JSON, 200, JSON), (SPEC, 401, SPEC)])
async def test_a_bad_token_is_401_for_the_spec_media_type(
    http: httpx.AsyncClient, accept: str, status: int, media_type: str
) -> None:
    headers = headers_for(accept, Authorization="Bearer not-a-token")
    response = await http.post("/graphql", json={"query": "{ courseCards { buttonText } }"}, headers=headers)
    assert (response.status_code, response.headers["content-type"].split(";")[0]) == (status, media_type)
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("accept", "status"), [(JSON, 400), (SPEC, 405)])
async def test_a_mutation_over_get(http: httpx.AsyncClient, accept: str, status: int) -> None:
    params = {"query": 'mutation { createCourse(input: {title: "T", price: 1}) { errors { code } } }'}
    response = await http.get("/graphql", params=params, headers=headers_for(accept))
    assert response.status_code == status
    if status == 405:
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"].startswith(SPEC)
        assert "data" not in response.json()


@pytest.mark.parametrize("accept", [JSON, SPEC])
async def test_a_query_over_get_runs(http: httpx.AsyncClient, accept: str) -> None:
    response = await http.get("/graphql", params={"query": "{ __typename }"}, headers=headers_for(accept))
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == accept
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["cache-control"] == "private, no-store"  # not by hash: never cached


async def test_a_body_that_is_not_json_is_400(http: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    plain = await http.post("/graphql", content=b"{not json", headers=headers | {"Accept": JSON})
    assert plain.status_code == 400
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.text)  # Strawberry's plain-text reason, as before
    spec = await http.post("/graphql", content=b"{not json", headers=headers | {"Accept": SPEC})
    assert (spec.status_code, spec.headers["content-type"].split(";")[0]) == (400, SPEC)
    assert spec.json() == {"errors": [{"message": "Unable to parse request body as JSON"}]}
