from __future__ import annotations

import httpx2 as httpx

from domain.viewer import Role
from tests.servers import GraphQLClient, RunningApp

CREATE_COURSE = """
mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } errors { code } } }
"""
ENROLL = """
mutation($input: EnrollInput!) {
  enroll(input: $input) {
    enrollment { id status version } card { buttonText } errors { code }
  }
}
"""


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).status_code == 200
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"mongodb": "ok", "redis": "ok"}}


async def test_enroll_by_eft_then_approve(gql: GraphQLClient, running: RunningApp) -> None:
    admin = running.token("admin-1", Role.ADMIN)
    student = running.token("student-1")
    created = await gql(CREATE_COURSE, {"input": {"id": "c1", "title": "C1", "price": 1000}}, admin)
    assert created["data"]["createCourse"] == {"course": {"id": "c1"}, "errors": []}
    enrolled = await gql(ENROLL, {"input": {"courseId": "c1", "paymentMethod": "EFT"}}, student)
    payload = enrolled["data"]["enroll"]
    assert payload["enrollment"]["status"] == "AWAITING_APPROVAL"
    assert payload["card"]["buttonText"] == "Pending Approval"
