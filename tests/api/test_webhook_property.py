"""Random delivery sequences (duplicates, reorders, partials, failures, concurrency) keep the books right."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.webhook_support import (
    app_without_workers,  # noqa: F401  (overrides `running` in this module)
    create_course,
    deliver,
    enroll,
    enrollment_doc,
    event,
    realtime_log,
    unique,
)
from tests.servers import GraphQLClient, RunningApp

PRICE = 1_000


@dataclass(frozen=True)
class Scenario:
    method: str
    events: list[tuple[str, int, str]]  # (type, amount, currency)
    batches: list[list[int]]  # indexes into events; one batch is delivered concurrently


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    kinds = st.sampled_from(["payment.succeeded"] * 4 + ["payment.failed", "payment.refunded"])
    amounts = st.sampled_from([0, 100, 250, 500, 1_000, 1_200])
    currencies = st.sampled_from(["ZAR"] * 5 + ["USD"])
    events = draw(st.lists(st.tuples(kinds, amounts, currencies), min_size=1, max_size=6))
    index = st.integers(0, len(events) - 1)
    batches = draw(st.lists(st.lists(index, min_size=1, max_size=5), min_size=1, max_size=6))
    return Scenario(draw(st.sampled_from(["CARD", "CARD", "EFT"])), events, batches)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
async def test_any_delivery_sequence_keeps_the_invariants(
    scenario: Scenario, http: httpx.AsyncClient, gql: GraphQLClient, running: RunningApp
) -> None:
    course = await create_course(gql, running, PRICE)
    enrolled = await enroll(gql, running, method=scenario.method, course_id=course)
    prefix = unique("evt")
    payloads = [
        event(enrolled.reference, amount, type=kind, currency=currency, event_id=f"{prefix}-{i}")
        for i, (kind, amount, currency) in enumerate(scenario.events)
    ]
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = []
    approved_seen = revoked_seen = False
    async with realtime_log(running, enrolled.user) as log:
        for batch in scenario.batches:
            sent = [payloads[i] for i in batch]
            responses = await asyncio.gather(*(deliver(http, p) for p in sent))
            assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
            answers += [(p, r.json()) for p, r in zip(sent, responses, strict=True)]
            status = (await enrollment_doc(running, enrolled.id))["status"]
            # An approval ends only in a revocation, and a revocation is final.
            assert not approved_seen or status in {"APPROVED", "REVOKED"}, "left APPROVED"
            assert not revoked_seen or status == "REVOKED", "left REVOKED"
            approved_seen, revoked_seen = status == "APPROVED", status == "REVOKED"
        published = await log.drain()

    firsts = Counter(p["id"] for p, a in answers if a["status"] != "duplicate")
    assert firsts == Counter({p["id"] for p, _ in answers}), "each event id: one non-duplicate answer"
    applied = [p for p, a in answers if a["status"] == "processed"]

    doc = await enrollment_doc(running, enrolled.id)
    # The deliveries are in the order the database applied them: replay them through the contract.
    status, paid = _replay(scenario.method, [d for d in doc["deliveries"] if d["outcome"] == "processed"])
    assert (doc["status"], doc["amountPaid"]) == (status, paid)
    assert doc["version"] == 1 + len(applied)
    assert len(published) == len(applied)
    assert len(doc["deliveries"]) == len(answers)
    assert Counter(d["outcome"] for d in doc["deliveries"]) == Counter(
        a["status"] if a["status"] != "ignored" else f"ignored:{a['reason']}" for _, a in answers
    )
    assert sorted(doc["webhookEventIds"]) == sorted(firsts)


def _replay(method: str, processed: list[dict[str, Any]]) -> tuple[str, int]:
    """The contract's rules, written out: what status and money the applied events must leave."""
    status = "PENDING_PAYMENT" if method == "CARD" else "AWAITING_APPROVAL"
    paid = 0
    for delivery in processed:
        kind, amount = delivery["type"], delivery["amount"]
        if kind == "payment.succeeded":
            paid += amount
            if method == "CARD" and status in {"PENDING_PAYMENT", "PAYMENT_FAILED"} and paid >= PRICE:
                status = "APPROVED"
        elif kind == "payment.failed":
            assert status == "PENDING_PAYMENT"
            status = "PAYMENT_FAILED"
        elif kind == "payment.refunded":
            if status == "APPROVED" and paid - amount < PRICE:
                status = "REVOKED"
            paid = max(0, paid - amount)
        assert delivery["effect"] != "revoked" or status == "REVOKED"
    return status, paid
