"""Thousands of generated requests to one running server, each sent as anonymous, student and admin.

Schema-valid operations come from hypothesis-graphql (every query and mutation field, random
arguments), schema-violating ones from its negative mode, and hostile requests from strategies
below: random bytes, huge strings, wrong variable types, deep selections, unknown fields, broken
JSON, wrong content types and methods. Whatever arrives: no 5xx, none of our own failures (a masked
`INTERNAL_SERVER_ERROR` is a bug some input reaches), and nothing of our insides in the body.

Derandomized with a fixed number of examples, so a run is repeatable and its length bounded.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2 as httpx
import pytest
from graphql import StringValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from domain.viewer import Role
from resolvers.schema import Limits, build_schema
from sandbox.embedded import ManagedServer
from tests.servers import RunningApp, serve, test_settings

# Our insides: none may reach a client unless the client sent it first (an echoed value).
LEAKS = ("Traceback", 'File "', ".py", "/work", "site-packages", "pymongo", "redis", "bson")
SCHEMA = build_schema(Limits())._schema
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@dataclass
class Request:
    method: str = "POST"
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, body: object) -> Request:
        return cls(content=json.dumps(body).encode())

    def text(self) -> str:
        return self.content.decode("utf-8", "replace") + json.dumps(self.params) + json.dumps(self.headers)


@dataclass
class Server:
    http: httpx.AsyncClient
    tokens: list[str | None]
    sent: int = 0

    async def check(self, request: Request) -> None:
        """Sends `request` as every role at once and checks every answer."""
        await asyncio.gather(*(self._one(request, token) for token in self.tokens))

    async def _one(self, request: Request, token: str | None) -> None:
        headers = dict(request.headers)
        if token is not None:
            headers.setdefault("authorization", f"Bearer {token}")
        response = await self.http.request(
            request.method, "/graphql", content=request.content, headers=headers, params=request.params
        )
        self.sent += 1
        body = response.text
        assert response.status_code < 500, (response.status_code, body[:500], request.text()[:500])
        assert "INTERNAL_SERVER_ERROR" not in body, (body[:1000], request.text()[:1000])
        sent = request.text()
        leaked = [leak for leak in LEAKS if leak in body and leak not in sent]
        assert not leaked, (leaked, body[:1000])


# graphql-core cancels the sibling fields of a failed non-null field (an anonymous
# `{ courseCards myEnrollments }`); a PyMongo connection being opened at that moment is dropped
# without closing its socket (PYTHON-5867), which the garbage collector closes later, warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture(scope="module")
async def server(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[Server]:
    async with serve(test_settings(mongo_server.url, redis_server.url)) as app:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(base_url=app.base_url, timeout=60, limits=limits) as http:
            fuzzed = Server(http, [None, app.token("fuzz-student"), app.token("fuzz-admin", Role.ADMIN)])
            await seed(fuzzed, app)
            yield fuzzed
    gc.collect()  # those sockets meet the collector here, under this module's filter
    print(f"\nfuzz: {fuzzed.sent} requests")  # with -s: how much ran


async def seed(server: Server, app: RunningApp) -> None:
    """A course, a coupon and an enrollment, so generated operations meet real documents too."""
    admin = {"authorization": f"Bearer {app.token('fuzz-admin', Role.ADMIN)}"}
    student = {"authorization": f"Bearer {app.token('fuzz-student')}"}
    for headers, document, variables in (
        (admin, "mutation($i: CreateCourseInput!) { createCourse(input: $i) { errors { code } } }",
         {"i": {"id": "c1", "title": "Course", "price": 1000}}),
        (admin, "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { errors { code } } }",
         {"i": {"code": "TEN", "percentOff": 10, "maxRedemptions": 5}}),
        (student, "mutation($i: EnrollInput!) { enroll(input: $i) { errors { code } } }",
         {"i": {"courseId": "c1", "paymentMethod": "EFT"}}),
    ):  # fmt: skip
        response = await server.http.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        assert response.json()["data"], response.text


DATETIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=30),
).map(lambda text: nodes.String(text))
SCALARS: dict[str, st.SearchStrategy[StringValueNode]] = {"DateTime": DATETIMES}


@settings(FUZZ, max_examples=350)
@given(document=from_schema(SCHEMA, custom_scalars=SCALARS))
async def test_schema_valid_operations(server: Server, document: str) -> None:
    await server.check(Request.of({"query": document}))


@settings(FUZZ, max_examples=200)
@given(document=from_schema(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
async def test_schema_violating_operations(server: Server, document: str) -> None:
    await server.check(Request.of({"query": document}))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
NAMES = st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,15}\Z")
WITH_VARIABLES = [
    "query($id: ID!) { enrollment(id: $id) { id status } }",
    "query($c: ID!, $v: Int) { courseCard(courseId: $c) { version } }",
    "query($s: EnrollmentStatus, $f: Int) { enrollments(status: $s, first: $f) { totalCount } }",
    "query($f: Int, $a: String) { jobs(first: $f, after: $a) { totalCount } }",
    "mutation($i: EnrollInput!) { enroll(input: $i) { errors { code } } }",
    "mutation($ids: [ID!]!) { bulkApproveEnrollments(enrollmentIds: $ids) { errors { code } } }",
    "mutation($i: CreateCouponInput!) { createCoupon(input: $i) { errors { code } } }",
    "mutation($i: CreateCourseInput!) { createCourse(input: $i) { errors { code } } }",
    "mutation($id: ID!, $r: String!) { rejectEnrollment(enrollmentId: $id, reason: $r) { errors { code } } }",
]
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/graphql",
    "application/json; charset=latin-1",
    "application/graphql-response+json",
    "",
    "*/*",
]


def selection(depth: int, name: str) -> str:
    return "{ " + f"{name} {{ " * depth + "id" + " }" * depth + " }"


def wrong_variables() -> st.SearchStrategy[Request]:
    return st.builds(
        lambda document, variables: Request.of({"query": document, "variables": variables}),
        st.sampled_from(WITH_VARIABLES),
        st.dictionaries(st.sampled_from(["id", "c", "v", "s", "f", "a", "i", "ids", "r"]), JSON, max_size=4),
    )


def huge_strings() -> st.SearchStrategy[Request]:
    sizes = st.sampled_from([10_000, 100_000, 600_000])
    reject = WITH_VARIABLES[8]

    def argument(n: int, char: str) -> Request:
        return Request.of({"query": f'{{ courseCard(courseId: "{char * n}") {{ version }} }}'})

    return st.one_of(
        st.builds(argument, sizes, st.sampled_from("x\u00e9\u4e2d")),
        sizes.map(lambda n: Request.of({"query": reject, "variables": {"id": "x" * n, "r": "y" * n}})),
        sizes.map(lambda n: Request.of({"query": "{ __typename }", "operationName": "o" * n})),
        st.sampled_from([1_000, 100_000]).map(lambda n: Request.of({"query": "{ " + "a " * n + "}"})),
    )


def deep_selections() -> st.SearchStrategy[Request]:
    return st.builds(
        lambda depth, name: Request.of({"query": selection(depth, name)}),
        st.integers(1, 800),
        st.sampled_from(["courseCards", "course", "enrollment", "unknown"]),
    )


def unknown_fields() -> st.SearchStrategy[Request]:
    return st.builds(
        lambda names, args: Request.of({"query": "{ " + " ".join(names) + args + " }"}),
        st.lists(NAMES, min_size=1, max_size=5),
        st.sampled_from(["", "(x: 1)", " { id }", ' @skip(if: "no")', " @nope"]),
    )


def broken_bodies() -> st.SearchStrategy[Request]:
    valid = json.dumps({"query": "{ courseCards { version } }"}).encode()
    return st.one_of(
        st.binary(max_size=2000).map(lambda raw: Request(content=raw)),
        st.integers(0, len(valid) - 1).map(lambda cut: Request(content=valid[:cut])),
        st.tuples(st.integers(0, len(valid)), st.binary(min_size=1, max_size=5)).map(
            lambda edit: Request(content=valid[: edit[0]] + edit[1] + valid[edit[0] :])
        ),
        JSON.map(lambda value: Request.of(value)),
        st.lists(JSON, max_size=3).map(lambda batch: Request.of([{"query": "{ __typename }"}, *batch])),
        st.integers(1, 200_000).map(lambda n: Request(content=b"[" * n + b"]" * n)),
    )


def wrong_envelopes() -> st.SearchStrategy[Request]:
    body = json.dumps({"query": "{ courseCards { version } }"}).encode()
    params = st.dictionaries(
        st.sampled_from(["query", "variables", "operationName", "extensions"]), st.text(max_size=50)
    )
    tokens = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200)
    return st.one_of(
        st.sampled_from(CONTENT_TYPES).map(
            lambda kind: Request(content=body, headers={"content-type": kind})
        ),
        st.sampled_from(["PUT", "PATCH", "DELETE", "OPTIONS"]).map(lambda method: Request(method, body)),
        params.map(lambda query: Request("GET", headers={"accept": "application/json"}, params=query)),
        tokens.map(
            lambda token: Request(content=body, headers={"content-type": "application/json", "x": token})
        ),
    )


HOSTILE = st.one_of(
    wrong_variables(), huge_strings(), deep_selections(), unknown_fields(), broken_bodies(), wrong_envelopes()
)


@settings(FUZZ, max_examples=450)
@given(request=HOSTILE)
async def test_hostile_requests(server: Server, request: Request) -> None:
    await server.check(request)
