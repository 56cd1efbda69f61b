"""Every representation of an enrollment carries every field, or says on purpose that it does not.

An enrollment is mapped once per representation: the MongoDB document (`store.enrollment_docs`),
the realtime envelope (`realtime.envelope`) and the GraphQL type (`resolvers.types.Enrollment`).
A field added to `domain.enrollment.Enrollment` fails here until each mapper carries it, or the
lists below say why it does not.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from datetime import UTC, datetime
from typing import Any

from domain.actors import Actor, ActorKind
from domain.enrollment import (
    Access,
    AccessStatus,
    ChangeRecord,
    CouponUse,
    Effect,
    Enrollment,
    EnrollmentStatus,
    HoldState,
    PaymentMethod,
    WebhookDelivery,
)
from domain.events import EnrollmentChange, EventType
from domain.money import Money
from domain.ports import NewEnrollment
from realtime.envelope import Envelope
from resolvers import types
from store import enrollment_docs

FIELDS = {field.name for field in dataclasses.fields(Enrollment)}
AT = datetime(2026, 12, 6, 9, 30, 15, 123000, tzinfo=UTC)

# Every field set, none to its default: a mapper that drops one cannot pass unnoticed.
SAMPLE = Enrollment(
    id="e1",
    user_id="u1",
    course_id="c1",
    status=EnrollmentStatus.AWAITING_APPROVAL,
    payment_method=PaymentMethod.EFT,
    full_price=Money(129_00, "ZAR"),
    amount_due=Money(116_10, "ZAR"),
    amount_paid=Money(50_00, "ZAR"),
    coupon=CouponUse("WELCOME10", HoldState.HELD, 12_90, AT),
    payment_reference="pay_x",
    rejection_reason="no seats",
    approved_by="admin-1",
    version=7,
    created_at=AT,
    updated_at=AT,
    access=Access(AccessStatus.PENDING, 2, "HTTP 503", AT),
    email="u1@example.com",
    deliveries=(WebhookDelivery("evt_1", "payment.succeeded", "processed", 50_00, AT),),
    pending=frozenset({Effect.JOBS}),
    previous_status=EnrollmentStatus.PENDING_PAYMENT,
    gateway_transaction_id="paylink-1",
    failure_reason="gateway_unavailable",
    audited_version=6,
    history=(
        ChangeRecord(AT, 6, EnrollmentStatus.PENDING_PAYMENT, None, Actor(ActorKind.STUDENT, "u1"), "enroll"),
        ChangeRecord(
            AT,
            7,
            EnrollmentStatus.AWAITING_APPROVAL,
            EnrollmentStatus.PENDING_PAYMENT,
            Actor(ActorKind.GATEWAY, "webhook"),
            "payment.succeeded",
            "why",
        ),
    ),
)

# What each representation leaves out, and why.
ENVELOPE_OMITS = {
    "deliveries": "the webhook log stays in the database; subscribers never show it",
    "pending": "the outbox is the writer's business, done before anyone is told",
    "audited_version": "the audit outbox's bookkeeping, likewise",
}
GRAPHQL_HIDES = {
    "full_price": "the contract shows what is due and paid",
    "deliveries": "read in full by webhookDeliveries (admins), not from the list's summary",
    "pending": "the outbox is internal",
    "audited_version": "the audit outbox's bookkeeping (the history and the audit log show the changes)",
    "previous_status": "events carry it (EnrollmentEvent.previousStatus)",
    "failure_reason": "not in the contract; the card offers Retry Payment whatever the reason",
}


def test_the_sample_sets_every_field_away_from_its_default() -> None:
    for field in dataclasses.fields(Enrollment):
        if field.default is not dataclasses.MISSING:
            assert getattr(SAMPLE, field.name) != field.default, field.name


def test_the_envelope_round_trip_keeps_every_field_it_carries() -> None:
    change = EnrollmentChange(EventType.STATUS_CHANGED, SAMPLE, EnrollmentStatus.PENDING_PAYMENT, AT)
    decoded = Envelope.decode(Envelope(change).encode()).change
    defaults: dict[str, Any] = {
        name: Enrollment.__dataclass_fields__[name].default for name in ENVELOPE_OMITS
    }
    assert decoded.enrollment == dataclasses.replace(SAMPLE, **defaults)
    assert decoded == dataclasses.replace(change, enrollment=decoded.enrollment)


def _keywords_of_call(function: Any, callee: str) -> set[str]:
    tree = ast.parse(inspect.getsource(function))
    return {
        keyword.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == callee
        for keyword in node.keywords
        if keyword.arg is not None
    }


def _attributes_read(source: str, owner: str) -> set[str]:
    """Names `x` in every `<owner>.x` (`owner` a dotted path such as `self.model`)."""
    tree = ast.parse(source)
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) == owner
    }


def test_the_document_mapper_reads_every_field() -> None:
    assert _keywords_of_call(enrollment_docs.enrollment_from, "Enrollment") == FIELDS


def test_the_document_writer_writes_every_field_of_a_new_enrollment() -> None:
    drafted = {field.name for field in dataclasses.fields(NewEnrollment)}
    written = _attributes_read(inspect.getsource(enrollment_docs.draft_document), "draft")
    written |= _attributes_read(inspect.getsource(enrollment_docs._initial_hold), "draft")
    written |= _attributes_read(inspect.getsource(enrollment_docs._created), "draft")
    assert drafted <= written, drafted - written


def test_the_graphql_type_shows_every_field_it_does_not_hide() -> None:
    shown = _attributes_read(inspect.getsource(types.Enrollment), "self.model") & FIELDS
    assert shown == FIELDS - set(GRAPHQL_HIDES)
