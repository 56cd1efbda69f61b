"""Apollo Client 4 with its persisted-queries link (npm, run by node) against a development server:
the hash first, the full document after PERSISTED_QUERY_NOT_FOUND, then the hash alone; a second
client sending hashed queries with GET gets an answer a CDN may keep."""

from __future__ import annotations

import json

from sandbox.demo import seed_demo
from tests.clients.node import run_node
from tests.servers import RunningApp


async def test_hash_first_then_the_document_once_then_the_hash(running: RunningApp) -> None:
    services = running.app.runtime.services
    await seed_demo(services.courses, services.coupons)
    code, output = await run_node("apollo-apq.mjs", f"{running.base_url}/graphql")
    assert code == 0, output
    report = json.loads(output.strip().splitlines()[-1])
    sent = [(r["method"], bool(r["hash"]), r["document"], r["status"], r["code"]) for r in report["sent"]]
    assert sent == [
        ("POST", True, False, 200, "PERSISTED_QUERY_NOT_FOUND"),
        ("POST", True, True, 200, None),
        ("POST", True, False, 200, None),
        ("GET", True, False, 200, None),
    ]
    assert len({r["hash"] for r in report["sent"]}) == 1
    assert report["sent"][-1]["cacheControl"] == "public, max-age=30"
    assert report["results"] == [["graphql-201", "python-101"]] * 3
