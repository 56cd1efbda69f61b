"""Every row of the course-card table through the real endpoint, and the cost of a catalogue page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx2 as httpx
import pytest
from pymongo import monitoring

from domain.enrollment import Action
from domain.ports import TransitionExtras
from domain.viewer import Role
from sandbox.embedded import ManagedServer
from tests import servers
from tests.servers import GraphQLClient, RunningApp

CARD = "course { id } enrollment { id status } buttonText action disabled hasAccess version"
CARDS = f"{{ courseCards {{ {CARD} }} }}"
ONE_CARD = f"query($id: ID!) {{ courseCard(courseId: $id) {{ {CARD} }} }}"
COURSE = "mutation($i: CreateCourseInput!) { createCourse(input: $i) { errors { code } } }"
ENROLL = """
mutation($i: EnrollInput!) {
  enroll(input: $i) { enrollment { id version } card { version } errors { code } }
}
"""
DECIDE = {
    "approve": "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }",
    "reject": 'mutation($id: ID!) { rejectEnrollment(enrollmentId: $id, reason: "x") { errors { code } } }',
    "cancel": "mutation($id: ID!) { cancelEnrollment(enrollmentId: $id) { errors { code } } }",
}

# The contract's table: (buttonText, action, disabled, hasAccess).
ROWS: dict[str, tuple[str, str, bool, bool]] = {
    "anonymous": ("Register To Enroll", "REDIRECT_TO_AUTH", False, False),
    "none": ("Enroll Now", "INITIATE_ENROLLMENT", False, False),
    "REJECTED": ("Enroll Now", "INITIATE_ENROLLMENT", False, False),
    "CANCELLED": ("Enroll Now", "INITIATE_ENROLLMENT", False, False),
    "PENDING_PAYMENT": ("Payment Processing", "SHOW_PENDING", True, False),
    "AWAITING_APPROVAL": ("Pending Approval", "SHOW_PENDING", True, False),
    "APPROVED": ("Continue Course", "CONTINUE_COURSE", False, True),
    "PAYMENT_FAILED": ("Retry Payment", "RETRY_PAYMENT", False, False),
}


class CommandCounter(monitoring.CommandListener):
    """Counts MongoDB commands that HTTP requests send to one database.

    Background loops run in tasks the app names ("coupon-holds", "job-worker-0", ...);
    uvicorn's request tasks and the DataLoader batches they spawn keep asyncio's "Task-N".
    """

    def __init__(self) -> None:
        self.database: str | None = None
        self.commands: list[str] = []
        self.documents = 0  # documents the store returned to those commands

    def _counts(self, database: str) -> bool:
        if self.database is None or database != self.database:
            return False
        task = asyncio.current_task()
        return task is not None and task.get_name().startswith("Task-")

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self._counts(event.database_name):
            self.commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if self._counts(event.database_name) and isinstance(event.reply.get("cursor"), dict):
            self.documents += len(event.reply["cursor"].get("firstBatch", []))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_COUNTER = CommandCounter()


@pytest.fixture(scope="module")
def command_counter() -> CommandCounter:
    # Global listeners reach only clients created afterwards, so this runs before the app starts;
    # it records nothing until armed with one test's database name.
    if _COUNTER not in monitoring._LISTENERS.command_listeners:
        monitoring.register(_COUNTER)
    return _COUNTER


@pytest.fixture
async def running(
    command_counter: CommandCounter, mongo_server: ManagedServer, redis_server: ManagedServer
) -> AsyncIterator[RunningApp]:
    # No job workers: their commands (an EFT enrollment's notice) would count as the cards'.
    async with servers.serve(servers.test_settings(mongo_server.url, redis_server.url, job_workers=0)) as app:
        yield app


async def add_course(gql: GraphQLClient, running: RunningApp, course_id: str) -> None:
    variables = {"i": {"id": course_id, "title": course_id, "price": 1000}}
    body = await gql(COURSE, variables, running.token("admin", Role.ADMIN))
    assert body["data"]["createCourse"]["errors"] == []


async def enroll(gql: GraphQLClient, token: str, course_id: str, method: str) -> dict[str, Any]:
    body = await gql(ENROLL, {"i": {"courseId": course_id, "paymentMethod": method}}, token)
    payload: dict[str, Any] = body["data"]["enroll"]
    assert payload["errors"] == [], payload
    return payload


def face(card: dict[str, Any]) -> tuple[str, str, bool, bool]:
    return (card["buttonText"], card["action"], card["disabled"], card["hasAccess"])


async def test_every_row_of_the_card_table(gql: GraphQLClient, running: RunningApp) -> None:
    admin, student = running.token("admin", Role.ADMIN), running.token("student")
    statuses = [s for s in ROWS if s != "anonymous"]
    for status in statuses:
        await add_course(gql, running, status.lower())
    expected_enrollment: dict[str, str] = {}
    for status, method, decision in [
        ("PENDING_PAYMENT", "CARD", None),
        ("AWAITING_APPROVAL", "EFT", None),
        ("APPROVED", "EFT", "approve"),
        ("PAYMENT_FAILED", "CARD", None),
        ("REJECTED", "EFT", "reject"),
        ("CANCELLED", "EFT", "cancel"),
    ]:
        enrollment_id = (await enroll(gql, student, status.lower(), method))["enrollment"]["id"]
        expected_enrollment[status.lower()] = enrollment_id
        if decision is not None:
            token = student if decision == "cancel" else admin
            assert (await gql(DECIDE[decision], {"id": enrollment_id}, token))["data"]
    failed = await running.app.runtime.services.enrollments.apply_transition(
        expected_enrollment["payment_failed"], Action.FAIL_PAYMENT, TransitionExtras(), now=datetime.now(UTC)
    )
    assert failed is not None

    anonymous = (await gql(CARDS))["data"]["courseCards"]
    assert len(anonymous) == len(statuses)
    assert all(
        face(c) == ROWS["anonymous"] and c["enrollment"] is None and c["version"] == 0 for c in anonymous
    )

    cards = {c["course"]["id"]: c for c in (await gql(CARDS, token=student))["data"]["courseCards"]}
    for status in statuses:
        card = cards[status.lower()]
        assert face(card) == ROWS[status], status
        single = (await gql(ONE_CARD, {"id": status.lower()}, student))["data"]["courseCard"]
        assert single == card, status
        if status == "none":
            assert (card["enrollment"], card["version"]) == (None, 0)
        else:
            assert card["enrollment"] == {"id": expected_enrollment[status.lower()], "status": status}
            assert card["version"] >= 1


async def test_unknown_course_card_is_null(gql: GraphQLClient, running: RunningApp) -> None:
    body = await gql(ONE_CARD, {"id": "no-such-course"}, running.token("student"))
    assert body == {"data": {"courseCard": None}}


async def test_enrolling_again_after_rejection_moves_the_version_on(
    gql: GraphQLClient, running: RunningApp
) -> None:
    admin, student = running.token("admin", Role.ADMIN), running.token("student")
    await add_course(gql, running, "c1")
    first = (await enroll(gql, student, "c1", "EFT"))["enrollment"]
    assert (await gql(DECIDE["reject"], {"id": first["id"]}, admin))["data"]["rejectEnrollment"][
        "errors"
    ] == []
    rejected = (await gql(ONE_CARD, {"id": "c1"}, student))["data"]["courseCard"]
    assert face(rejected) == ROWS["REJECTED"] and rejected["version"] == first["version"] + 1

    second = await enroll(gql, student, "c1", "EFT")
    assert second["enrollment"]["id"] != first["id"]
    assert second["enrollment"]["version"] > rejected["version"]
    assert second["card"]["version"] == second["enrollment"]["version"]
    now = (await gql(ONE_CARD, {"id": "c1"}, student))["data"]["courseCard"]
    assert face(now) == ROWS["AWAITING_APPROVAL"] and now["version"] == second["enrollment"]["version"]


async def test_course_cards_cost_the_same_round_trips_for_5_or_50_courses(
    gql: GraphQLClient, running: RunningApp, command_counter: CommandCounter
) -> None:
    student = running.token("student")
    query = "{ courseCards { course { title price { amount } } enrollment { id course { id } } buttonText } }"

    async def count_for(total: int) -> int:
        existing = len((await gql(CARDS))["data"]["courseCards"])
        for n in range(existing, total):
            await add_course(gql, running, f"course-{n:03d}")
            if n % 2 == 0:
                await enroll(gql, student, f"course-{n:03d}", "EFT")
        # Once unmeasured: the course cache then holds what the enrollments' courses need
        # (whether a read raced a new course's announcement no longer moves the count).
        await gql(query, token=student)
        command_counter.commands.clear()
        command_counter.database = running.settings.mongodb_db
        try:
            body = await gql(query, token=student)
        finally:
            command_counter.database = None
        assert len(body["data"]["courseCards"]) == total
        return len(command_counter.commands)

    few, many = await count_for(5), await count_for(50)
    assert 0 < few <= 4, command_counter.commands
    assert many == few, command_counter.commands


async def test_a_decision_reads_the_course_only_when_its_card_is_selected(
    gql: GraphQLClient, running: RunningApp, command_counter: CommandCounter
) -> None:
    admin, student = running.token("admin", Role.ADMIN), running.token("student")
    with_card = "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { card { buttonText } } }"
    commands: dict[str, list[str]] = {}
    for name, query in (("without", DECIDE["approve"]), ("with", with_card)):
        await add_course(gql, running, f"decide-{name}")
        enrollment_id = (await enroll(gql, student, f"decide-{name}", "EFT"))["enrollment"]["id"]
        command_counter.commands.clear()
        command_counter.database = running.settings.mongodb_db
        try:
            body = await gql(query, {"id": enrollment_id}, admin)
        finally:
            command_counter.database = None
        assert "errors" not in body, body
        commands[name] = list(command_counter.commands)
        if name == "with":
            assert body["data"]["approveEnrollment"]["card"] == {"buttonText": "Continue Course"}
    # The card's course is the one read a selected card adds (none when the process's course
    # cache holds it, as it does here: the enroll just read it).
    assert "find" not in commands["without"], commands
    assert commands["with"].count("find") <= 1, commands


async def test_an_enroll_cancel_loop_does_not_grow_what_a_request_reads(
    command_counter: CommandCounter, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    """Each loop leaves one more ended enrollment; the card, the next enroll and myEnrollments
    still read a bounded number of documents (before: every one of them, on every request)."""
    settings = servers.test_settings(mongo_server.url, redis_server.url).model_copy(
        update={"max_page_size": 5}
    )
    mine = "{ myEnrollments { id status version } }"
    async with (
        servers.serve(settings) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        gql = GraphQLClient(http, running)
        student = running.token("student")
        await add_course(gql, running, "loop")
        for _ in range(12):
            enrollment = (await enroll(gql, student, "loop", "EFT"))["enrollment"]
            body = await gql(DECIDE["cancel"], {"id": enrollment["id"]}, student)
            assert body["data"]["cancelEnrollment"]["errors"] == []

        async def documents(
            query: str, variables: dict[str, Any] | None = None
        ) -> tuple[int, dict[str, Any]]:
            command_counter.documents, command_counter.database = 0, settings.mongodb_db
            try:
                body = await gql(query, variables, student)
            finally:
                command_counter.database = None
            return command_counter.documents, body

        read, card = await documents(ONE_CARD, {"id": "loop"})
        assert read <= 2 and face(card["data"]["courseCard"]) == ROWS["CANCELLED"]
        assert card["data"]["courseCard"]["version"] == 24  # each loop: enroll and cancel, +1 each
        read, listed = await documents(mine)
        rows = listed["data"]["myEnrollments"]
        assert read == 5 and [r["version"] for r in rows] == [24, 22, 20, 18, 16]
        read, enrolled = await documents(ENROLL, {"i": {"courseId": "loop", "paymentMethod": "EFT"}})
        assert read <= 3 and enrolled["data"]["enroll"]["enrollment"]["version"] == 25
