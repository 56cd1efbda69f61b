"""The event envelope: one JSON document per change, serialized once and shared by every subscriber."""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.actors import Actor, ActorKind
from domain.enrollment import (
    Access,
    AccessStatus,
    ChangeRecord,
    CouponUse,
    Enrollment,
    EnrollmentStatus,
    HoldState,
    PaymentMethod,
)
from domain.events import EnrollmentChange, EventType
from domain.money import Money
from realtime.course_notice import noticed_course

log = logging.getLogger(__name__)

ENVELOPE_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _at(values: list[Any], index: int) -> Any:
    return values[index] if len(values) > index else None


def _snapshot(e: Enrollment) -> dict[str, Any]:
    coupon = e.coupon
    return {
        "id": e.id,
        "userId": e.user_id,
        "courseId": e.course_id,
        "status": e.status.value,
        "previousStatus": None if e.previous_status is None else e.previous_status.value,
        "paymentMethod": e.payment_method.value,
        "currency": e.full_price.currency,
        "fullPrice": e.full_price.amount,
        "amountDue": e.amount_due.amount,
        "amountPaid": e.amount_paid.amount,
        "coupon": None
        if coupon is None
        else [coupon.code, coupon.state.value, coupon.discount, _iso(coupon.expires_at)],
        "paymentReference": e.payment_reference,
        "rejectionReason": e.rejection_reason,
        "approvedBy": e.approved_by,
        "version": e.version,
        "createdAt": _iso(e.created_at),
        "updatedAt": _iso(e.updated_at),
        "access": [
            e.access.status.value,
            e.access.attempts,
            e.access.last_error,
            _iso(e.access.updated_at),
            e.access.launch_url,
        ],
        "email": e.email,
        "gatewayTransactionId": e.gateway_transaction_id,
        "failureReason": e.failure_reason,
        "history": [_change(c) for c in e.history],
    }


def _change(c: ChangeRecord) -> list[Any]:
    previous = None if c.previous_status is None else c.previous_status.value
    return [
        _iso(c.at),
        c.version,
        c.status.value,
        previous,
        c.actor.kind.value,
        c.actor.id,
        c.action,
        c.reason,
    ]


def _change_from(c: list[Any]) -> ChangeRecord:
    at = _time(c[0])
    assert at is not None
    previous = None if c[3] is None else EnrollmentStatus(c[3])
    return ChangeRecord(at, c[1], EnrollmentStatus(c[2]), previous, Actor(ActorKind(c[4]), c[5]), c[6], c[7])


def _enrollment(d: dict[str, Any]) -> Enrollment:
    currency = d["currency"]
    coupon = d["coupon"]
    access = d["access"]
    created, updated = _time(d["createdAt"]), _time(d["updatedAt"])
    assert created is not None and updated is not None
    return Enrollment(
        id=d["id"],
        user_id=d["userId"],
        course_id=d["courseId"],
        status=EnrollmentStatus(d["status"]),
        payment_method=PaymentMethod(d["paymentMethod"]),
        full_price=Money(d["fullPrice"], currency),
        amount_due=Money(d["amountDue"], currency),
        amount_paid=Money(d["amountPaid"], currency),
        coupon=None
        if coupon is None
        else CouponUse(coupon[0], HoldState(coupon[1]), coupon[2], _time(coupon[3])),
        payment_reference=d["paymentReference"],
        rejection_reason=d["rejectionReason"],
        approved_by=d["approvedBy"],
        version=d["version"],
        created_at=created,
        updated_at=updated,
        # An instance of the previous release publishes four entries (no launch URL).
        access=Access(AccessStatus(access[0]), access[1], access[2], _time(access[3]), _at(access, 4)),
        email=d["email"],
        previous_status=None if d["previousStatus"] is None else EnrollmentStatus(d["previousStatus"]),
        # `get`: an instance of the previous release may still publish without them.
        gateway_transaction_id=d.get("gatewayTransactionId"),
        failure_reason=d.get("failureReason"),
        history=tuple(_change_from(c) for c in d.get("history", ())),
    )


@dataclass(frozen=True)
class Envelope:
    change: EnrollmentChange

    def encode(self) -> bytes:
        c = self.change
        return json.dumps(
            {
                "v": ENVELOPE_VERSION,
                "type": c.type.value,
                "previousStatus": None if c.previous_status is None else c.previous_status.value,
                "at": _iso(c.at),
                "version": c.enrollment.version,
                "enrollment": _snapshot(c.enrollment),
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Envelope:
        d = json.loads(payload)
        at = _time(d["at"])
        assert at is not None
        previous = d["previousStatus"]
        return cls(
            EnrollmentChange(
                EventType(d["type"]),
                _enrollment(d["enrollment"]),
                None if previous is None else EnrollmentStatus(previous),
                at,
            )
        )


# The hub hands the same bytes object to every local subscriber of a channel, and an event
# reaches a user's tabs and the admin consoles alike: decode it once, not once per subscriber.
@functools.lru_cache(maxsize=64)
def _decode_shared(payload: bytes) -> Envelope:
    return Envelope.decode(payload)


def decode_change(payload: bytes) -> EnrollmentChange | None:
    """The change a payload from the hub carries; None for a course notice (it carries none), and
    None (logged) when it does not decode."""
    if noticed_course(payload) is not None:
        return None
    try:
        return _decode_shared(payload).change
    except (ValueError, KeyError, TypeError, IndexError):
        log.exception("undecodable realtime payload dropped")
        return None
