"""The GraphQL-over-HTTP audit of the reference implementation (npm graphql-http, `auditServer`).

Against a development server (what `make run` serves): no error, no warning, no notice. Against
`enrollwire serve` in production, where introspection is off, the four audits whose document
is `__type(name: $name)` get a validation error instead of data, and nothing else is reported.
The summaries are printed whatever pytest captures, so the test output shows them.
"""

from __future__ import annotations

import re

import pytest

from tests.cli_server import CliServer
from tests.clients.node import run_node
from tests.servers import RunningApp

# 28B9 MUST allow map {variables} with application/json (an error), 2EA1 the same with the spec's
# media type (a warning), D6D5 and 6A70 MAY allow URL-encoded {variables} in GETs (notices): all
# four query `__type`, i.e. introspection, which production refuses.
INTROSPECTION_AUDITS = {"28B9", "2EA1", "D6D5", "6A70"}


async def audit(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, output = await run_node("audit.mjs", url)
    with capsys.disabled():
        print(f"\n{output.strip()}")
    assert "graphql-http audit of" in output, output
    return code, output


async def test_development_server_passes_the_audit(
    running: RunningApp, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = await audit(f"{running.base_url}/graphql", capsys)
    assert code == 0, output
    assert " 0 notices, 0 warnings, 0 errors" in output


async def test_production_fails_only_the_introspection_audits(
    production: CliServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = await audit(f"{production.base_url}/graphql", capsys)
    reported = set(re.findall(r"^(?:NOTICE|WARN|ERROR) (\w{4}) ", output, re.MULTILINE))
    assert reported == INTROSPECTION_AUDITS, output
    assert code == 1  # an error and a warning among them
