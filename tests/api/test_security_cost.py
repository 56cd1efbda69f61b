"""Alias amplification (issue 15, item 2), over real HTTP: thirty aliases of `courseCards` (each
the whole catalogue) are refused before anything runs, with a small answer; one or two lists pass."""

from __future__ import annotations

import logging

import httpx2 as httpx
import pytest

from tests.servers import RunningApp

CARD = "{ version buttonText course { id title price { amount currency } } }"


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{n}: courseCards {CARD}" for n in range(count)) + " }"


THROUGH_FRAGMENTS = (
    f"fragment L on Query {{ x: courseCards {CARD} y: courseCards {CARD} }} "
    "fragment M on Query { ...L z: courseCards { version } } query { ...M }"
)


@pytest.mark.parametrize(
    "document", [aliased(30), aliased(3), THROUGH_FRAGMENTS], ids=["30", "3", "fragments"]
)
async def test_many_catalogue_lists_in_one_request_are_refused(
    running: RunningApp, document: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
            response = await http.post("/graphql", json={"query": document})
    assert response.status_code == 200
    assert len(response.content) < 2048, len(response.content)
    body = response.json()
    assert body.get("data") is None
    assert any("may return" in error["message"] for error in body["errors"]), body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_one_or_two_catalogue_lists_pass(running: RunningApp) -> None:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
        for document in (
            aliased(1),
            aliased(2),
            '{ courseCards { version } courseCard(courseId: "x") { version } }',
        ):
            body = (await http.post("/graphql", json={"query": document})).json()
            assert "errors" not in body, body
