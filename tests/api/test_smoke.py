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


async def test_metrics_count_operations(gql: GraphQLClient, http: httpx.AsyncClient) -> None:
    for _ in range(3):
        await gql("query Catalogue { courseCards { buttonText } }")
    await gql("query Broken { nope }")
    text = (await http.get("/metrics")).text
    ops = "enrollwire_graphql_operations_total"
    assert f'{ops}{{operation="courseCards",outcome="ok",type="query"}} 3.0' in text
    assert 'enrollwire_graphql_operations_total{operation="other",outcome="error"' in text
    assert "enrollwire_realtime_channels" in text
