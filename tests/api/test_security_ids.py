"""Unguessable enrollment ids (issue 15, item 7), over real HTTP: ids made one after another share
no sequence a student could walk to count and time other students' enrollments; someone else's
enrollment stays FORBIDDEN (the contract), a made-up id is null."""

from __future__ import annotations

import itertools

from tests.realtime.wsclient import create_course, enroll_eft
from tests.servers import GraphQLClient, RunningApp

READ = "query($id: ID!) { enrollment(id: $id) { id } }"


async def test_enrollment_ids_are_random_not_sequential(gql: GraphQLClient, running: RunningApp) -> None:
    ids = []
    for n in range(4):
        await create_course(gql, running, f"ids-{n}")
        ids.append((await enroll_eft(gql, running.token(f"ids-student-{n}"), f"ids-{n}"))["id"])
    numbers = [int(i, 16) for i in ids]
    # ObjectIds made in one second by one process differ only in their last three bytes.
    assert all(abs(a - b) > 1 << 64 for a, b in itertools.pairwise(numbers)), ids

    eve = running.token("ids-eve")
    [error] = (await gql(READ, {"id": ids[0]}, eve))["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    neighbour = f"{numbers[0] + 1:024x}"
    assert await gql(READ, {"id": neighbour}, eve) == {"data": {"enrollment": None}}
