"""The signature header: the pure verifier, then every case over real HTTP with the DB unchanged."""

from __future__ import annotations

import time

import httpx2 as httpx
import pytest

from api.webhook_signature import HEADER, SignatureError, sign, signature, verify
from tests.api.webhook_support import (
    URL,
    app_without_workers,  # noqa: F401  (overrides `running` in this module)
    encode,
    enroll,
    event,
    snapshot,
)
from tests.servers import WEBHOOK_SECRET, GraphQLClient, RunningApp

SECRET = "s" * 40
BODY = b'{"id":"evt_1"}'
NOW = 1_763_800_000


def test_a_signed_body_verifies_and_returns_its_timestamp() -> None:
    assert verify(sign(SECRET, BODY, NOW), BODY, [SECRET], now=NOW) == NOW


@pytest.mark.parametrize("skew", [-300, 300, 0])
def test_timestamps_within_300_seconds_either_way_pass(skew: int) -> None:
    verify(sign(SECRET, BODY, NOW + skew), BODY, [SECRET], now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -(10**6)])
def test_timestamps_beyond_300_seconds_fail(skew: int) -> None:
    with pytest.raises(SignatureError, match="tolerance"):
        verify(sign(SECRET, BODY, NOW + skew), BODY, [SECRET], now=NOW)


def test_any_of_several_signatures_may_match() -> None:
    header = f"t={NOW},v1={signature('old' * 12, BODY, NOW)},v1={signature(SECRET, BODY, NOW).upper()}"
    assert verify(header, BODY, [SECRET], now=NOW) == NOW


def test_the_server_may_hold_several_secrets() -> None:
    verify(sign(SECRET, BODY, NOW), BODY, ["new" * 12, SECRET], now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"v1={'0' * 64}",
        f"t={NOW}",
        f"t=abc,v1={'0' * 64}",
        f"t=-5,v1={'0' * 64}",
        f"t={'9' * 400},v1={'0' * 64}",
        f"t={NOW},t={NOW},v1={'0' * 64}",
        f"t={NOW},v1=xyz",
        f"t={NOW},v1={'g' * 64}",
        f"t={NOW}," + ",".join(f"v1={'0' * 64}" for _ in range(9)),
        f"t={NOW},v1={'0' * 64}," + "x" * 3000,
    ],
)
def test_malformed_headers_fail(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify(header, BODY, [SECRET], now=NOW)


def test_unknown_schemes_are_skipped() -> None:
    header = f"t={NOW},v0=abc,v1={signature(SECRET, BODY, NOW)}"
    verify(header, BODY, [SECRET], now=NOW)


def test_an_altered_body_or_wrong_secret_fails() -> None:
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(SignatureError, match="no signature"):
        verify(header, BODY + b" ", [SECRET], now=NOW)
    with pytest.raises(SignatureError, match="no signature"):
        verify(header, BODY, ["other" * 8], now=NOW)


def _case(name: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    good = signature(WEBHOOK_SECRET, body, now)
    cases = {
        "missing": {},
        "wrong secret": {HEADER: sign("not-the-secret" * 3, body, now)},
        "301 s old": {HEADER: sign(WEBHOOK_SECRET, body, now - 301)},
        "301 s ahead": {HEADER: sign(WEBHOOK_SECRET, body, now + 301)},
        "malformed": {HEADER: f"t={now};v1={good}"},
        "altered body": {HEADER: sign(WEBHOOK_SECRET, body.replace(b"5000", b"9000"), now)},
    }
    return {"Content-Type": "application/json", **cases[name]}


@pytest.mark.parametrize(
    "case", ["missing", "wrong secret", "301 s old", "301 s ahead", "malformed", "altered body"]
)
async def test_bad_signatures_are_refused_over_http(
    case: str, http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    body = encode(event(enrolled.reference, 5_000))
    before = await snapshot(running)
    answer = await http.post(URL, content=body, headers=_case(case, body))
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "BAD_SIGNATURE"
    assert await snapshot(running) == before


async def test_a_rotated_secret_is_accepted_when_the_second_signature_matches(
    http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    enrolled = await enroll(gql, running, price=5_000)
    body = encode(event(enrolled.reference, 5_000))
    now = int(time.time())
    retired, current = signature("retired-secret" * 3, body, now), signature(WEBHOOK_SECRET, body, now)
    header = f"t={now},v1={retired},v1={current}"
    answer = await http.post(URL, content=body, headers={"Content-Type": "application/json", HEADER: header})
    assert answer.json() == {"status": "processed", "enrollmentId": enrolled.id}
