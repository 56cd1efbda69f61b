"""Each pushed event says who caused it; a student sees that an admin did, not which one."""

from __future__ import annotations

import httpx2 as httpx

from domain.viewer import Role
from tests.realtime.wsclient import APPROVE, create_course, enroll_eft, signed_in
from tests.servers import GraphQLClient, RunningApp

FIELDS = "type actor { kind id } enrollment { id status approvedAt decidedBy }"
MINE = f"subscription {{ myEnrollmentUpdates {{ {FIELDS} }} }}"
ADMINS = f"subscription {{ adminEnrollmentEvents {{ {FIELDS} }} }}"


async def test_events_carry_their_actor(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    await create_course(gql, running, "c1")
    student, admin = running.token("actor-student"), running.token("admin-a", Role.ADMIN)
    async with signed_in(running.ws_url, student) as tab, signed_in(running.ws_url, admin) as console:
        mine, theirs = await tab.subscribe(MINE), await console.subscribe(ADMINS)
        enrollment = await enroll_eft(gql, student, "c1")
        created = (await tab.next_data(mine))["myEnrollmentUpdates"]
        assert created["actor"] == {"kind": "STUDENT", "id": "actor-student"}
        assert (await console.next_data(theirs))["adminEnrollmentEvents"]["actor"] == created["actor"]

        approved = await gql(APPROVE, {"id": enrollment["id"]}, admin)
        assert approved["data"]["approveEnrollment"]["errors"] == []
        to_student = (await tab.next_data(mine))["myEnrollmentUpdates"]
        to_admin = (await console.next_data(theirs))["adminEnrollmentEvents"]
        assert to_student["actor"] == {"kind": "ADMIN", "id": None}
        assert to_admin["actor"] == {"kind": "ADMIN", "id": "admin-a"}
        assert to_student["enrollment"]["decidedBy"] is None
        assert to_admin["enrollment"]["decidedBy"] == "admin-a"
        assert to_student["enrollment"]["approvedAt"] is not None
