"""`enrollments(filter:)` over real HTTP: the e-mail shown and searched case-insensitively, the
older arguments still working beside the filter, and bad input a clear error."""

from __future__ import annotations

from typing import Any

from domain.viewer import Role
from tests.realtime.wsclient import create_course, enroll_eft
from tests.servers import GraphQLClient, RunningApp

SEARCH = """
query($f: EnrollmentFilter, $status: EnrollmentStatus) {
  enrollments(filter: $f, status: $status, first: 10) {
    totalCount edges { node { id userEmail courseId status } }
  }
}
"""


async def search(gql: GraphQLClient, admin: str, where: dict[str, Any], **more: Any) -> dict[str, Any]:
    body = await gql(SEARCH, {"f": where, **more}, admin)
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["enrollments"]
    return found


async def test_search_by_email_prefix_course_and_status(gql: GraphQLClient, running: RunningApp) -> None:
    await create_course(gql, running, "filtered-a")
    await create_course(gql, running, "filtered-b")
    admin = running.token("admin-filter", Role.ADMIN)
    people = {
        "Zoe.Adams@School.org": "filtered-a",
        "zoey@school.org": "filtered-b",
        "amy@school.org": "filtered-a",
    }
    ids = {}
    for n, (email, course) in enumerate(people.items()):
        token = running.token(f"stu-filter-{n}", email=email)
        ids[email] = (await enroll_eft(gql, token, course))["id"]

    found = await search(gql, admin, {"email": "ZOE"})
    assert [e["node"]["userEmail"] for e in found["edges"]] == ["Zoe.Adams@School.org", "zoey@school.org"]
    assert found["totalCount"] == 2
    found = await search(gql, admin, {"email": "zoe", "courseId": "filtered-b"})
    assert [e["node"]["id"] for e in found["edges"]] == [ids["zoey@school.org"]]
    # The older `status` argument still narrows, combined with the filter.
    found = await search(gql, admin, {"courseId": "filtered-a"}, status="AWAITING_APPROVAL")
    assert found["totalCount"] == 2
    found = await search(gql, admin, {"courseId": "filtered-a", "status": "APPROVED"})
    assert found["totalCount"] == 0


async def test_bad_filters_are_clear_errors(gql: GraphQLClient, running: RunningApp) -> None:
    admin = running.token("admin-filter", Role.ADMIN)
    backwards = {"createdFrom": "2026-03-02T00:00:00Z", "createdTo": "2026-03-01T00:00:00Z"}
    for where in (backwards, {"email": "x" * 300}, {"courseId": ""}):
        body = await gql(SEARCH, {"f": where}, admin)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["VALIDATION_FAILED"], body
