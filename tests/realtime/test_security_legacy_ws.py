"""The legacy `graphql-ws` protocol under attack (issue 15, item 3), over real sockets: a second
`connection_init` is refused with 4429 (as graphql-transport-ws does), so neither keep-alive tasks
nor another user's token can be piled onto one socket; malformed frames, queries and mutations
get a protocol error, and nothing reaches the log at ERROR level."""

from __future__ import annotations

import logging

import pytest

from domain.viewer import Role
from tests.realtime.wsclient import COURSE_CARD, LEGACY_WS, MY_UPDATES, TRANSPORT_WS, signed_in, ws_connect
from tests.servers import RunningApp


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize("protocol", [LEGACY_WS, TRANSPORT_WS])
async def test_a_second_connection_init_is_refused(
    running: RunningApp, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice = running.token("alice-reinit", Role.STUDENT, ttl=120)
    admin = running.token("mallory-admin", Role.ADMIN, ttl=3600)
    with caplog.at_level(logging.INFO):
        async with signed_in(running.ws_url, alice, protocol) as client:
            await client.subscribe(MY_UPDATES)
            await client.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {admin}"}})
            assert await client.close_code() == 4429
        # Many inits on one socket: the first is acknowledged, the second closes it.
        async with ws_connect(running.ws_url, protocol) as client:
            for _ in range(50):
                await client.send({"type": "connection_init", "payload": {}})
            assert (await client.next_message(None))["type"] == "connection_ack"
            assert await client.close_code() == 4429
    assert not _errors_logged(caplog)


MALFORMED: dict[str, dict[str, object]] = {
    "no type": {"id": "1", "payload": {}},
    "type a number": {"type": 7},
    "type null": {"type": None, "id": "2"},
    "unknown type": {"type": "subscribe", "id": "3"},
}


async def test_malformed_frames_queries_and_mutations_get_a_protocol_error(
    running: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with signed_in(running.ws_url, running.token("bob-legacy"), LEGACY_WS) as client:
            for name, frame in MALFORMED.items():
                await client.send(frame)
                operation_id = frame.get("id")
                reply = await client.next_message(operation_id if isinstance(operation_id, str) else None)
                assert reply["type"] == "error", (name, reply)
                assert "message" in reply["payload"], (name, reply)
            for document in (
                "{ courseCards { version } }",
                'mutation { cancelEnrollment(enrollmentId: "x") { errors { code } } }',
            ):
                op = await client.subscribe(document)
                reply = await client.next_message(op)
                assert reply["type"] == "error", reply
                assert "are not allowed" in reply["payload"]["message"], reply
            # The socket still serves.
            op = await client.subscribe(COURSE_CARD, {"courseId": "no-such-course"})
            [error] = await client.next_errors(op)
            assert error["extensions"]["code"] == "NOT_FOUND"
    assert not _errors_logged(caplog)
