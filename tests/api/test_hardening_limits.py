"""Every request limit at its boundary over real HTTP: allowed at the limit, refused one past it.

Each limit is checked on a server with the defaults and on one configured tighter, where an
operation at the limit is also a valid one that returns data.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from server.settings import Settings
from tests.cli_server import CliServer
from tests.servers import RunningApp, serve, test_settings

DEFAULTS = {"max_depth": 10, "max_aliases": 30, "max_tokens": 2000, "max_body_bytes": 1 << 20}
TIGHT = {"max_depth": 4, "max_aliases": 4, "max_tokens": 100, "max_body_bytes": 2048, "max_page_size": 5}
CATALOGUE = "{ courseCards { version } }"


@dataclass
class Target:
    app: RunningApp | CliServer
    http: httpx.AsyncClient

    @property
    def settings(self) -> Settings:
        assert isinstance(self.app, RunningApp), "limits are read from in-process servers"
        return self.app.settings

    async def post(self, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def query(self, document: str, token: str | None = None) -> dict[str, Any]:
        return await self.post({"query": document}, token)

    async def post_raw(self, content: bytes) -> httpx.Response:
        return await self.http.post("/graphql", content=content, headers={"content-type": "application/json"})

    async def still_serves(self) -> None:
        assert "errors" not in await self.query(CATALOGUE)


@pytest.fixture(scope="module", params=["defaults", "tight"])
async def target(
    request: pytest.FixtureRequest, mongo_server: ManagedServer, redis_server: ManagedServer
) -> AsyncIterator[Target]:
    overrides = TIGHT if request.param == "tight" else {}
    async with serve(test_settings(mongo_server.url, redis_server.url, **overrides)) as app:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=app.base_url, timeout=30, limits=limits) as http:
            yield Target(app, http)


# For the tests that only make sense with the defaults (the bulk list is not configurable).
only_defaults = pytest.mark.parametrize("target", ["defaults"], indirect=True)


def test_the_defaults_are_the_documented_ones() -> None:
    settings = test_settings("mongodb://unused", "redis://unused")
    assert {name: getattr(settings, name) for name in DEFAULTS} == DEFAULTS
    assert settings.max_page_size == 100


def messages(body: dict[str, Any]) -> list[str]:
    return [error["message"] for error in body.get("errors", [])]


# The schema has no cycles: its deepest valid selection is four fields down.
VALID_PATH = ["courseCards", "enrollment", "course", "price"]


def deep(depth: int) -> str:
    """A document whose leaf sits `depth` fields down: a valid query at depth 4, invalid past it."""
    names = (VALID_PATH + ["unknown"] * depth)[:depth]
    leaf = "amount" if depth == len(VALID_PATH) else "id"
    return "{ " + "".join(f"{name} {{ " for name in names) + leaf + " }" * depth + " }"


async def test_depth_at_the_limit_passes_and_one_past_is_refused(target: Target) -> None:
    limit = target.settings.max_depth
    refusal = f"'anonymous' exceeds maximum operation depth of {limit}"
    at_limit = await target.query(deep(limit))
    assert refusal not in messages(at_limit)
    if limit == len(VALID_PATH):
        assert "errors" not in at_limit
    assert refusal in messages(await target.query(deep(limit + 1)))


async def test_depth_counts_levels_hidden_in_fragments(target: Target) -> None:
    limit = target.settings.max_depth
    refusal = f"'Hidden' exceeds maximum operation depth of {limit}"

    def hidden(levels: int) -> str:
        # Each fragment adds one field level; the last one's leaf sits `levels` fields down.
        chain = "".join(f"fragment L{i} on Query {{ unknown {{ ...L{i + 1} }} }}\n" for i in range(levels))
        return "query Hidden { ...L0 }\n" + chain + f"fragment L{levels} on Query {{ __typename }}"

    assert refusal not in messages(await target.query(hidden(limit)))
    assert refusal in messages(await target.query(hidden(limit + 1)))


async def test_aliases_at_the_limit_pass_and_one_past_are_refused(target: Target) -> None:
    limit = target.settings.max_aliases

    def aliased(count: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"

    at_limit = await target.query(aliased(limit))
    assert at_limit == {"data": {f"a{i}": "Query" for i in range(limit)}}
    refused = await target.query(aliased(limit + 1))
    assert refused["data"] is None
    assert messages(refused) == [f"{limit + 1} aliases found. Allowed: {limit}"]


async def test_aliases_in_a_fragment_count_once_per_spread(target: Target) -> None:
    limit = target.settings.max_aliases
    # Two spreads of one fragment under two aliased fields: 2 + 2 * n aliases.
    inside = (limit - 2) // 2

    def document(n: int) -> str:
        fields = " ".join(f"x{i}: version" for i in range(n))
        operation = "{ a: courseCards { ...C } b: courseCards { ...C } }"
        return f"{operation} fragment C on CourseCard {{ {fields} }}"

    assert "errors" not in await target.query(document(inside))
    over = 2 + 2 * (inside + 1)
    assert over > limit
    assert messages(await target.query(document(inside + 1))) == [f"{over} aliases found. Allowed: {limit}"]


def with_tokens(count: int) -> str:
    # "{ courseCards {" and "} }" are five tokens, the rest repeats one field (merged into one).
    # Eight tokens a repeat keeps the repeats few: graphql-core's overlap check recurses per
    # repeat and aborts validation past ~900 of them.
    repeats, single = divmod(count - 5, 8)
    return "{ courseCards { " + "version @skip(if: false) " * repeats + "version " * single + "} }"


async def test_tokens_at_the_limit_pass_and_one_past_are_refused(target: Target) -> None:
    limit = target.settings.max_tokens
    assert "errors" not in await target.query(with_tokens(limit))
    refused = await target.query(with_tokens(limit + 1))
    assert refused["data"] is None
    assert messages(refused) == [
        f"Syntax Error: Document contains more than {limit} tokens. Parsing aborted."
    ]


def body_of_size(size: int) -> bytes:
    """A valid request of exactly `size` bytes: JSON allows trailing whitespace."""
    body = json.dumps({"query": "{ __typename }"}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


async def test_a_body_at_the_limit_is_served_and_one_byte_more_is_413(target: Target) -> None:
    limit = target.settings.max_body_bytes
    served = await target.post_raw(body_of_size(limit))
    assert served.status_code == 200 and served.json() == {"data": {"__typename": "Query"}}
    refused = await target.post_raw(body_of_size(limit + 1))
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}


async def test_a_streamed_body_without_length_is_cut_off_one_byte_past_the_limit(target: Target) -> None:
    limit = target.settings.max_body_bytes

    async def chunks(size: int) -> AsyncIterator[bytes]:
        body = body_of_size(size)
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    for size, status in ((limit, 200), (limit + 1, 413)):
        response = await target.http.post(
            "/graphql", content=chunks(size), headers={"content-type": "application/json"}
        )
        assert "content-length" not in response.request.headers
        assert response.status_code == status, response.text


async def test_an_oversized_body_is_refused_before_anything_parses_it(target: Target) -> None:
    limit = target.settings.max_body_bytes
    # Not even JSON: a parser would have answered 400, the limit answers first.
    assert (await target.post_raw(b"\xff" * (limit + 1))).status_code == 413
    # The declared length alone is enough: 413 arrives while the body is still unsent.
    port = target.settings.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"413", status_line
    await target.still_serves()


PAGED = {
    "enrollments": "{ enrollments(first: $) { totalCount } }",
    "pendingEnrollments": "{ pendingEnrollments(first: $) { totalCount } }",
    "jobs": "{ jobs(first: $) { totalCount } }",
}


@pytest.mark.parametrize("field", list(PAGED))
async def test_first_at_the_page_cap_passes_and_one_past_is_a_clear_error(target: Target, field: str) -> None:
    cap = target.settings.max_page_size
    admin = target.app.token("pager", Role.ADMIN)
    served = await target.query(PAGED[field].replace("$", str(cap)), admin)
    assert "errors" not in served and served["data"][field]["totalCount"] >= 0
    for first in (cap + 1, -1):
        refused = await target.query(PAGED[field].replace("$", str(first)), admin)
        assert refused["data"] is None
        [error] = refused["errors"]
        assert error["message"] == f"first must be between 0 and {cap}"
        assert error["extensions"] == {"code": "VALIDATION_FAILED"}


COURSE = "mutation($i: CreateCourseInput!) { createCourse(input: $i) { errors { code } } }"
ENROLL = "mutation($i: EnrollInput!) { enroll(input: $i) { enrollment { id } errors { code } } }"
BULK = """
mutation($ids: [ID!]!) {
  bulkApproveEnrollments(enrollmentIds: $ids) { approved { id status } errors { code field } }
}
"""
STATUS = "query($id: ID!) { enrollment(id: $id) { status } }"


async def pending(target: Target, course: str, count: int) -> list[str]:
    admin = target.app.token("bulk-admin", Role.ADMIN)
    created = await target.post(
        {"query": COURSE, "variables": {"i": {"id": course, "title": course, "price": 900}}}, admin
    )
    assert created["data"]["createCourse"]["errors"] == []
    ids = []
    for n in range(count):
        token = target.app.token(f"{course}-student-{n}")
        variables = {"i": {"courseId": course, "paymentMethod": "EFT"}}
        body = await target.post({"query": ENROLL, "variables": variables}, token)
        ids.append(body["data"]["enroll"]["enrollment"]["id"])
    return ids


def unknown_ids(count: int) -> list[str]:
    return [f"{n:024x}" for n in range(1, count + 1)]


@only_defaults
async def test_bulk_approve_takes_100_ids(target: Target) -> None:
    defaults = target
    real = await pending(defaults, "bulk-100", 3)
    admin = defaults.app.token("bulk-admin", Role.ADMIN)
    body = await defaults.post({"query": BULK, "variables": {"ids": real + unknown_ids(97)}}, admin)
    payload = body["data"]["bulkApproveEnrollments"]
    assert sorted(e["id"] for e in payload["approved"]) == sorted(real)
    assert {e["status"] for e in payload["approved"]} == {"APPROVED"}
    assert len(payload["errors"]) == 97
    assert {e["code"] for e in payload["errors"]} == {"ENROLLMENT_NOT_FOUND"}


@only_defaults
async def test_bulk_approve_refuses_101_ids_and_approves_none(target: Target) -> None:
    defaults = target
    real = await pending(defaults, "bulk-101", 3)
    admin = defaults.app.token("bulk-admin", Role.ADMIN)
    body = await defaults.post({"query": BULK, "variables": {"ids": real + unknown_ids(98)}}, admin)
    assert body["data"]["bulkApproveEnrollments"] == {
        "approved": [],
        "errors": [{"code": "VALIDATION_FAILED", "field": "enrollmentIds"}],
    }
    for enrollment_id in real:
        status = await defaults.post({"query": STATUS, "variables": {"id": enrollment_id}}, admin)
        assert status["data"]["enrollment"] == {"status": "AWAITING_APPROVAL"}


NESTED = b"[" * 100_000 + b"]" * 100_000
UNDECODABLE = {
    "query nested too deeply": b'{"query": ' + NESTED + b"}",
    "variables nested too deeply": b'{"query": "{ __typename }", "variables": {"a": ' + NESTED + b"}}",
    "not UTF-8": b"\x80",
    "not UTF-8 inside an object": b'{"query": "{ __typename }", "operationName": "\x80"}',
    "null": b"null",
    "a number": b"5",
    "a string": b'"{ __typename }"',
    "true": b"true",
}


@only_defaults
@pytest.mark.parametrize("body", UNDECODABLE.values(), ids=UNDECODABLE.keys())
async def test_json_the_decoder_chokes_on_is_a_400_not_a_500(target: Target, body: bytes) -> None:
    response = await target.post_raw(body)
    assert response.status_code == 400, response.text
    assert response.text
    await target.still_serves()


@only_defaults
async def test_get_variables_nested_too_deeply_are_a_400(target: Target) -> None:
    # A GET carries its variables in the URL: a few thousand brackets fit there.
    variables = quote('{"a": ' + "[" * 3000 + "]" * 3000 + "}")
    response = await target.http.get(
        f"/graphql?query={quote('{ __typename }')}&variables={variables}",
        headers={"accept": "application/json"},
    )
    assert response.status_code == 400, response.text
    await target.still_serves()


# Hostile documents go to `enrollwire serve` in its own process, so a document that pinned the
# server's event loop would fail the test by its client's timeout instead of freezing the suite.


def doubling(levels: int, leaf: str) -> str:
    """Fragments each spreading the next one twice: 2^levels copies of `leaf` once expanded."""
    chain = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels))
    return "{ ...F0 }\n" + chain + f"fragment F{levels} on Query {{ {leaf} }}"


def chained(length: int) -> str:
    chain = "".join(f"fragment C{i} on Query {{ ...C{i + 1} }}\n" for i in range(length))
    return "{ ...C0 }\n" + chain + f"fragment C{length} on Query {{ __typename }}"


HOSTILE_SERVED = {
    "150 doubling fragments": (doubling(150, "__typename"), {"__typename": "Query"}),
    "100 chained fragments": (chained(100), {"__typename": "Query"}),
}
HOSTILE_REFUSED = {
    "doubling fragments of an alias": (doubling(150, "a: __typename"), r"^\d+ aliases found\. Allowed: 30$"),
    "doubling fragments past the depth": (
        doubling(30, "courseCards { " + "course { " * 10 + "id" + " }" * 10 + " }"),
        r"^'anonymous' exceeds maximum operation depth of 10$",
    ),
    # graphql-core stops validating fragments nested past what its recursion can follow (~190).
    "240 chained fragments": (chained(240), r"^Validation aborted\.$"),
    "a fragment spreading itself": ("{ ...A } fragment A on Query { ...A }", r"^Cannot spread fragment 'A'"),
    "two fragments spreading each other": (
        "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }",
        r"^Cannot spread fragment 'A' within itself via 'B'",
    ),
    "a cycle below a field, fanning out": (
        "{ courseCards { ...A } } fragment A on CourseCard { version ...B ...B }"
        " fragment B on CourseCard { course { id } ...A ...A }",
        r"^Cannot spread fragment 'A' within itself via 'B'",
    ),
    "10,000 aliases": (
        "{ " + " ".join(f"a{i}: __typename" for i in range(10_000)) + " }",
        r"^Syntax Error: Document contains more than 2000 tokens\. Parsing aborted\.$",
    ),
    "600 nested selections": (
        "{ courseCards { " + "course { " * 600 + "id" + " }" * 600 + " } }",
        r"^Syntax Error: Document is nested too deeply\. Parsing aborted\.$",
    ),
}


@pytest.fixture(scope="module")
async def process(production: CliServer) -> AsyncIterator[Target]:
    async with httpx.AsyncClient(base_url=production.base_url, timeout=30) as http:
        yield Target(production, http)


@pytest.mark.parametrize("name", list(HOSTILE_SERVED))
async def test_fragment_fan_out_is_measured_once_and_served(process: Target, name: str) -> None:
    document, data = HOSTILE_SERVED[name]
    assert await process.query(document) == {"data": data}
    await process.still_serves()


@pytest.mark.parametrize("name", list(HOSTILE_REFUSED))
async def test_hostile_documents_get_a_clear_error_and_the_server_stays_up(
    process: Target, name: str
) -> None:
    document, pattern = HOSTILE_REFUSED[name]
    response = await process.http.post("/graphql", json={"query": document})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    assert any(re.search(pattern, message) for message in messages(body)), body
    await process.still_serves()


def resident_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


async def test_large_distinct_documents_are_not_kept_by_the_document_caches(
    production: CliServer, process: Target
) -> None:
    def padded(n: int) -> str:
        # Within the body and token limits: a comment is no token.
        return f"# {n}" + "x" * 1_000_000 + "\n{ __typename }"

    assert await process.query(padded(-1)) == {"data": {"__typename": "Query"}}
    before = await asyncio.to_thread(resident_mib, production.process.pid)
    for n in range(32):
        assert await process.query(padded(n)) == {"data": {"__typename": "Query"}}
    grown = await asyncio.to_thread(resident_mib, production.process.pid) - before
    # Cached, each would keep ~2 MiB (its text, and the parse tree's source): 64 MiB.
    assert grown < 32, f"{grown} MiB kept after 32 distinct 1 MB documents"
