from __future__ import annotations

import json
import logging

import httpx2 as httpx

from api.logs import JsonFormatter, request_id


def test_json_line_carries_ids_and_hides_tokens() -> None:
    token = request_id.set("req-123")
    try:
        record = logging.makeLogRecord(
            {
                "name": "enrollwire.test",
                "levelname": "WARNING",
                "msg": "header was Bearer eyJhbGciOiJIUzI1NiJ9.abc.def",
                "enrollment_id": "e-1",
            }
        )
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    entry = json.loads(line)
    assert entry["request_id"] == "req-123"
    assert entry["enrollment_id"] == "e-1"
    assert "eyJ" not in line and "[redacted]" in entry["message"]


async def test_request_id_is_echoed_or_minted(http: httpx.AsyncClient) -> None:
    echoed = await http.get("/healthz", headers={"X-Request-Id": "abc-42"})
    assert echoed.headers["x-request-id"] == "abc-42"
    minted = await http.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert (
        minted.headers["x-request-id"] != "bad id with spaces" and len(minted.headers["x-request-id"]) == 32
    )
