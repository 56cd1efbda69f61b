"""ENROLLWIRE_RATE_LIMITS and ENROLLWIRE_TRUSTED_PROXIES as read, the client's address as decided,
and which mutations count as enrolling: the pure parts of the rate limits."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from api.client_ip import client_ip, parse_networks
from api.documents import Documents, sha256_hex
from api.rate_limit_edge import enroll_fields
from api.rate_limit_rules import DEFAULT_RATES, Rate, Rule, parse_rules
from server.settings import Settings


def test_defaults_are_the_contracts() -> None:
    rules = parse_rules("")
    assert rules.enabled
    assert {rule: str(rate) for rule, rate in rules.rates.items()} == {
        Rule.ENROLL: "10/minute",
        Rule.GRAPHQL: "300/minute",
        Rule.AUTH_FAILURES: "20/minute",
        Rule.WEBHOOK_BAD_SIGNATURE: "60/minute",
        Rule.WS_HANDSHAKES: "30/minute",
    }
    assert rules.sockets_per_user == 20


def test_rules_named_replace_their_defaults_only() -> None:
    rules = parse_rules(" enroll=3/second ; ws_sockets_per_user=5;graphql = 1000/hour ;")
    assert rules.rates[Rule.ENROLL] == Rate(3, 1)
    assert rules.rates[Rule.GRAPHQL] == Rate(1000, 3600)
    assert rules.rates[Rule.AUTH_FAILURES] == DEFAULT_RATES[Rule.AUTH_FAILURES]
    assert rules.sockets_per_user == 5
    assert not parse_rules("OFF").enabled


@pytest.mark.parametrize(
    "text",
    [
        "enrol=1/minute",
        "enroll",
        "enroll=0/minute",
        "enroll=ten/minute",
        "enroll=1/day",
        "ws_sockets_per_user=x",
    ],
)
def test_a_mistake_refuses_to_start_naming_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match="ENROLLWIRE_RATE_LIMITS"):
        parse_rules(text)
    with pytest.raises(ValidationError, match="ENROLLWIRE_RATE_LIMITS"):
        Settings(rate_limits=text)


def test_trusted_proxies_are_cidrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENROLLWIRE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    assert Settings().proxy_networks == parse_networks(["10.0.0.0/8", "127.0.0.1/32"])
    monkeypatch.setenv("ENROLLWIRE_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
    with pytest.raises(ValidationError, match="ENROLLWIRE_TRUSTED_PROXIES"):
        Settings()


def scope(peer: str, *forwarded: str) -> dict[str, object]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return {"client": (peer, 5000), "headers": headers}


PROXIES = parse_networks(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.1", ("198.51.100.1",), "203.0.113.1"),  # not our proxy: the header is ignored
        ("10.0.0.2", ("198.51.100.1",), "198.51.100.1"),
        ("10.0.0.2", ("6.6.6.6, 198.51.100.1",), "198.51.100.1"),  # the client's own entry: ignored
        ("10.0.0.2", ("6.6.6.6, 198.51.100.1, 10.0.0.3",), "198.51.100.1"),  # two proxies of ours
        ("10.0.0.2", ("6.6.6.6", "198.51.100.1"), "198.51.100.1"),  # header repeated: in order
        ("10.0.0.2", ("10.0.0.4",), "10.0.0.2"),  # only our own hops: the peer
        ("10.0.0.2", (), "10.0.0.2"),
        ("10.0.0.2", ("garbage",), "10.0.0.2"),
        ("10.0.0.2", ("2001:db8::1",), "2001:db8::1"),
    ],
)
def test_client_address(peer: str, forwarded: tuple[str, ...], expected: str) -> None:
    assert client_ip(scope(peer, *forwarded), PROXIES) == expected


THROUGH_FRAGMENTS = """
mutation { ... on Mutation { enroll(input: {}) { x } } ...F }
fragment F on Mutation { enroll }
"""


def body(query: str, name: str | None = None) -> bytes:
    return json.dumps({"query": query, "operationName": name}).encode()


@pytest.mark.parametrize(
    ("request_body", "count"),
    [
        (body("mutation { enroll(input: {}) { errors { code } } }"), 1),
        (body("mutation { a: enroll(input: {}) { x } b: retryPayment(enrollmentId: 1) { x } }"), 2),
        (
            body(THROUGH_FRAGMENTS),
            2,
        ),
        (body("mutation { ...F ...F } fragment F on Mutation { enroll }"), 1),
        (body("query { enroll }"), 0),  # not a mutation: validation refuses it later
        (body("mutation A { enroll } mutation B { cancelEnrollment }", "B"), 0),
        (body("mutation A { enroll } mutation B { cancelEnrollment }", "A"), 1),
        (body("mutation { cancelEnrollment(enrollmentId: 1) { x } }"), 0),
        (body("mutation { enroll("), 0),  # Strawberry answers a syntax error itself
        (b"not json enroll", 0),
    ],
)
def test_enrolling_fields_counted(request_body: bytes, count: int) -> None:
    assert enroll_fields(request_body) == count


def test_a_persisted_enroll_sent_by_its_hash_alone_counts_too() -> None:
    enroll = "mutation Enroll { enroll(input: {}) { errors { code } } }"
    digest = sha256_hex(enroll)
    by_hash = json.dumps({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}).encode()
    assert enroll_fields(by_hash, Documents({digest: enroll}, automatic=False)) == 1
    # Development's automatic persisted queries: counted once the server has learnt the hash.
    learning = Documents(None, automatic=True)
    assert enroll_fields(by_hash, learning) == 0  # unknown yet: the view answers NOT_FOUND
    with_document = json.dumps({"query": enroll, "extensions": json.loads(by_hash)["extensions"]}).encode()
    assert enroll_fields(with_document, learning) == 1
    assert enroll_fields(by_hash, learning) == 1
    unknown = by_hash.replace(digest.encode(), b"0" * 64)
    assert enroll_fields(unknown, Documents({digest: enroll}, automatic=False)) == 0
