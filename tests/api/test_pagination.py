"""Keyset pages over real HTTP: every row once, in creation order, and a clear error for a bad cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests.realtime.wsclient import APPROVE, create_course, enroll_eft
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

PENDING = """
query($first: Int!, $after: String) {
  pendingEnrollments(first: $first, after: $after) {
    edges { node { id } } pageInfo { hasNextPage endCursor } totalCount
  }
}
"""
JOBS = """
query($first: Int!, $after: String) {
  jobs(first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } totalCount }
}
"""


async def walk(
    gql: GraphQLClient, query: str, field: str, token: str, first: int
) -> tuple[list[str], list[int]]:
    """Every id page by page, and each page's totalCount."""
    ids: list[str] = []
    totals: list[int] = []
    after: str | None = None
    while True:
        body = await gql(query, {"first": first, "after": after}, token)
        connection: dict[str, Any] = body["data"][field]
        ids += [edge["node"]["id"] for edge in connection["edges"]]
        totals.append(connection["totalCount"])
        if not connection["pageInfo"]["hasNextPage"]:
            return ids, totals
        after = connection["pageInfo"]["endCursor"]


@pytest.fixture
async def running(mongo_server: ManagedServer, redis_server: ManagedServer) -> AsyncIterator[RunningApp]:
    """No job workers: a notice sent meanwhile (an EFT enrollment's) would change what is compared."""
    async with serve(test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


async def test_pages_hold_every_row_once_in_creation_order(gql: GraphQLClient, running: RunningApp) -> None:
    await create_course(gql, running, "paged")
    admin = running.token("admin-pages", Role.ADMIN)
    created = [(await enroll_eft(gql, running.token(f"stu-page-{n}"), "paged"))["id"] for n in range(5)]

    ids, totals = await walk(gql, PENDING, "pendingEnrollments", admin, first=2)
    assert ids == created
    assert totals == [5, 5, 5]

    # Each EFT enrollment's notice, and two jobs per approval: the job list pages the same way
    # (no workers here: no job runs, so no access_ready notice joins meanwhile).
    for enrollment_id in created[:2]:
        assert not (await gql(APPROVE, {"id": enrollment_id}, admin))["data"]["approveEnrollment"]["errors"]
    job_ids, job_totals = await walk(gql, JOBS, "jobs", admin, first=3)
    assert len(job_ids) == len(set(job_ids)) == 9
    assert job_totals == [9, 9, 9]


async def test_a_forged_cursor_is_a_clear_error(gql: GraphQLClient, running: RunningApp) -> None:
    admin = running.token("admin-pages", Role.ADMIN)
    for query, field in ((PENDING, "pendingEnrollments"), (JOBS, "jobs")):
        body = await gql(query, {"first": 2, "after": "not-a-cursor!"}, admin)
        assert body["data"] is None or body["data"].get(field) is None, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["VALIDATION_FAILED"], body
