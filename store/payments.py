"""Webhook events on enrollments: the event id and its effect in one conditional update.

Exactly once: the write that applies an event's effect is the write that records its id,
and its filter excludes an id already in `webhookEventIds`. What the event does (approve,
record money, fail, ignore) is decided inside that update's pipeline from the document as
it is at that instant, so concurrent deliveries of different events serialize on the
document and each sees the effect of the ones before it. A duplicate is logged by a second
write whose filter *requires* the id, so it can never apply anything.

Bounds, both per enrollment:
- `deliveries` keeps the last MAX_DELIVERIES entries (`$slice`): a gateway retrying one
  event for days cannot grow the document without end; older audit entries fall off.
- `webhookEventIds` holds at most MAX_EVENT_IDS distinct ids and is never trimmed, since a
  trimmed id could apply twice. Beyond it a new event is refused (Miss.EVENT_LIMIT) and
  nothing is written: a real payment never needs that many events, and answering with an
  error keeps the gateway retrying and someone alerted instead of silently dropping money.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from domain.enrollment import TRANSITIONS, Action, Enrollment, EnrollmentStatus, PaymentMethod
from domain.payment_events import (
    EventApplied,
    EventEffect,
    EventMissed,
    EventWrite,
    IgnoredReason,
    Miss,
    PaymentEvent,
    PaymentEventType,
)
from domain.ports import TransitionExtras
from store.database import Collections, Doc
from store.enrollment_docs import SUMMARY, enrollment_from
from store.transitions import Stage, bump, hold_not_overdue, lapse_filter, literal, noted, transition_fields

MAX_DELIVERIES = 500
MAX_EVENT_IDS = 1000

# The reference a callback names is almost always the enrollment's current one: a scalar field
# under a unique index, which every store answers from that index. Only on a miss are the
# older references (a payment retried with a new one) searched, in the array of all of them.
CURRENT = "paymentReference"
ANY = "paymentReferences"

_DECISION = "_webhookEffect"  # a scratch field between the pipeline's stages
_IGNORED = "ignored:"
_CHANGES = sorted(e.value for e in EventEffect if e is not EventEffect.IGNORED)
_ADDS_MONEY = [EventEffect.APPROVED.value, EventEffect.RECORDED.value]


def _sorted(statuses: frozenset[EnrollmentStatus]) -> list[str]:
    return sorted(s.value for s in statuses)


def _ignored(reason: IgnoredReason) -> str:
    return _IGNORED + reason.value


def _decide(event: PaymentEvent) -> Any:
    """An expression over the old document naming the event's effect (or `ignored:<reason>`)."""
    if event.type == PaymentEventType.FAILED:
        fails = {"$in": ["$status", _sorted(TRANSITIONS[Action.FAIL_PAYMENT].sources)]}
        return {"$cond": [fails, EventEffect.FAILED.value, _ignored(IgnoredReason.NOT_PENDING_PAYMENT)]}
    revocable = {"$in": ["$status", _sorted(TRANSITIONS[Action.REVOKE].sources)]}
    if event.type == PaymentEventType.DISPUTED:
        effect: Any = {"$cond": [revocable, EventEffect.REVOKED.value, _ignored(IgnoredReason.NOT_APPROVED)]}
    elif event.type not in (PaymentEventType.SUCCEEDED, PaymentEventType.REFUNDED):
        return literal(_ignored(IgnoredReason.UNKNOWN_TYPE))
    elif event.amount == 0:
        effect = literal(_ignored(IgnoredReason.ZERO_AMOUNT))
    elif event.type == PaymentEventType.REFUNDED:
        # Access lasts only while what is kept still covers what is due.
        short = {"$lt": [{"$subtract": ["$amountPaid", event.amount]}, "$amountDue"]}
        revokes = {"$and": [revocable, short]}
        effect = {"$cond": [revokes, EventEffect.REVOKED.value, EventEffect.REFUNDED.value]}
    else:
        settles = {
            "$and": [
                {"$in": ["$status", _sorted(TRANSITIONS[Action.SETTLE_PAYMENT].sources)]},
                {"$eq": ["$paymentMethod", PaymentMethod.CARD.value]},
                {"$gte": [{"$add": ["$amountPaid", event.amount]}, "$amountDue"]},
            ]
        }
        effect = {"$cond": [settles, EventEffect.APPROVED.value, EventEffect.RECORDED.value]}
    mismatch = {"$ne": ["$currency", literal(event.currency)]}
    return {"$cond": [mismatch, _ignored(IgnoredReason.CURRENCY_MISMATCH), effect]}


def _paid(event: PaymentEvent, decision: str) -> Any:
    """`amountPaid` after the event: a payment adds, a refund takes off (never below zero)."""
    if event.type == PaymentEventType.REFUNDED:
        refunds = {"$in": [decision, [EventEffect.REVOKED.value, EventEffect.REFUNDED.value]]}
        lowered = {"$max": [0, {"$subtract": ["$amountPaid", event.amount]}]}
        return {"$cond": [refunds, lowered, "$amountPaid"]}
    adds = {"$in": [decision, _ADDS_MONEY]}
    return {"$cond": [adds, {"$add": ["$amountPaid", event.amount]}, "$amountPaid"]}


def _fields(stages: list[Stage]) -> Stage:
    [stage] = stages  # the transition builders produce a single `$set` stage
    fields: Stage = stage["$set"]
    return fields


def _effects() -> dict[str, Stage]:
    # The same fields a state-machine transition writes (coupon hold, outbox, access, version).
    return {
        EventEffect.APPROVED.value: _fields(transition_fields(Action.SETTLE_PAYMENT, TransitionExtras())),
        EventEffect.FAILED.value: _fields(transition_fields(Action.FAIL_PAYMENT, TransitionExtras())),
        EventEffect.RECORDED.value: _fields(bump(previousStatus="$status")),
        EventEffect.REVOKED.value: _fields(transition_fields(Action.REVOKE, TransitionExtras())),
        EventEffect.REFUNDED.value: _fields(bump(previousStatus="$status")),
    }


def _delivery(event: PaymentEvent, outcome: Any) -> dict[str, Any]:
    delivery = {
        "eventId": literal(event.id),
        "type": literal(event.type),
        "outcome": outcome,
        "amount": literal(event.amount),
        "receivedAt": "$$NOW",
    }
    if event.note is not None:
        delivery["note"] = literal(event.note)
    return delivery


def _log(delivery: dict[str, Any]) -> Stage:
    appended = {"$concatArrays": [{"$ifNull": ["$deliveries", []]}, [delivery]]}
    return {"deliveries": {"$slice": [appended, -MAX_DELIVERIES]}}


def record_update(event: PaymentEvent) -> list[Stage]:
    effects = _effects()
    decision = f"${_DECISION}"
    changed = {"$in": [decision, _CHANGES]}
    fields: Stage = {}
    for name in sorted({name for effect in effects.values() for name in effect}):
        branches = [
            {"case": {"$eq": [decision, effect]}, "then": values[name]}
            for effect, values in effects.items()
            if name in values
        ]
        fields[name] = {"$switch": {"branches": branches, "default": f"${name}"}}
    fields["amountPaid"] = _paid(event, decision)
    known = {"$ifNull": ["$webhookEventIds", []]}
    fields["webhookEventIds"] = {"$concatArrays": [known, literal([event.id])]}
    outcome = {"$cond": [changed, "processed", decision]}
    fields |= _log({**_delivery(event, outcome), "effect": decision})
    return [
        {"$set": {_DECISION: _decide(event)}},
        {"$set": fields},
        noted(event.cause, when=changed),
        {"$unset": _DECISION},
    ]


def record_filter(event: PaymentEvent, now: datetime, field: str = CURRENT) -> Doc:
    return {
        field: event.reference,
        "webhookEventIds": {"$ne": event.id},
        f"webhookEventIds.{MAX_EVENT_IDS - 1}": {"$exists": False},
        # A discount whose hold has run out must be taken away before any payment counts.
        **hold_not_overdue(now),
    }


def _applied(doc: Doc, event: PaymentEvent) -> EventApplied:
    [delivery] = doc["deliveries"]
    assert delivery["eventId"] == event.id, "the post-image ends with this event's delivery"
    effect: str = delivery["effect"]
    if effect.startswith(_IGNORED):
        return EventApplied(enrollment_from(doc), EventEffect.IGNORED, IgnoredReason(effect[len(_IGNORED) :]))
    return EventApplied(enrollment_from(doc), EventEffect(effect))


class MongoPaymentLedger:
    def __init__(self, collections: Collections) -> None:
        self._enrollments = collections.enrollments

    async def record_event(self, event: PaymentEvent, now: datetime) -> EventWrite:
        written = await self._record_by(CURRENT, event, now)
        if written is None:
            written = await self._record_by(ANY, event, now)
        return written or EventMissed(Miss.UNKNOWN_REFERENCE, None)

    async def _record_by(self, field: str, event: PaymentEvent, now: datetime) -> EventWrite | None:
        """The event's write through one reference field; None when no enrollment has it there."""
        doc = await self._enrollments.find_one_and_update(
            record_filter(event, now, field),
            record_update(event),
            projection={"webhookEventIds": 0, "deliveries": {"$slice": -1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return _applied(doc, event)
        duplicate = await self._enrollments.find_one_and_update(
            {field: event.reference, "webhookEventIds": event.id},
            [{"$set": _log(_delivery(event, literal(Miss.DUPLICATE.value)))}],
            projection={"_id": 1},
        )
        if duplicate is not None:
            return EventMissed(Miss.DUPLICATE, duplicate["_id"])
        return await self._why_not(field, event.reference, now)

    async def _why_not(self, field: str, reference: str, now: datetime) -> EventMissed | None:
        # Only reads: the decision was the writes'; this says which precondition refused.
        found = await self._enrollments.find_one({field: reference}, {"_id": 1})
        if found is None:
            return None
        enrollment_id: str = found["_id"]
        if await self._enrollments.find_one({"_id": enrollment_id, **lapse_filter(now)}, {"_id": 1}):
            return EventMissed(Miss.HOLD_OVERDUE, enrollment_id)
        full = {"_id": enrollment_id, f"webhookEventIds.{MAX_EVENT_IDS - 1}": {"$exists": True}}
        if await self._enrollments.find_one(full, {"_id": 1}):
            return EventMissed(Miss.EVENT_LIMIT, enrollment_id)
        return EventMissed(Miss.CONTENDED, enrollment_id)

    async def by_reference(self, reference: str) -> Enrollment | None:
        doc = await self._enrollments.find_one({CURRENT: reference}, SUMMARY)
        if doc is None:
            doc = await self._enrollments.find_one({ANY: reference}, SUMMARY)
        return None if doc is None else enrollment_from(doc)
