"""Builds the one conditional update that performs a state-machine transition.

The filter names the allowed from-statuses straight from `domain.enrollment.TRANSITIONS`.
The update is an aggregation pipeline so that everything derived from the old document
(the previous status, the coupon hold's fate, the outbox) is decided by the database in
the same atomic step; `$$NOW` is the server's clock, as `$currentDate` would be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.actors import SYSTEM, Cause
from domain.enrollment import (
    HOLD_LAPSES_IN,
    TRANSITIONS,
    AccessStatus,
    Action,
    Effect,
    EnrollmentStatus,
    HoldState,
)
from domain.ports import TransitionExtras

Stage = dict[str, Any]

_HELD: dict[str, Any] = {"$eq": ["$couponState", HoldState.HELD.value]}


def literal(value: object) -> dict[str, object]:
    # A client-chosen string such as a rejection reason may start with "$".
    return {"$literal": value}


def transition_filter(
    enrollment_id: str, action: Action, now: datetime, extras: TransitionExtras | None = None
) -> dict[str, Any]:
    transition = TRANSITIONS[action]
    query: dict[str, Any] = {
        "_id": enrollment_id,
        "status": {"$in": sorted(s.value for s in transition.sources)},
    }
    if extras is not None and extras.expected_reference is not None:
        query["paymentReference"] = extras.expected_reference
    if transition.target is EnrollmentStatus.APPROVED and transition.sources & HOLD_LAPSES_IN:
        # A hold that ran out is lapsed (discount gone) before approval could redeem it. The guard
        # can match only in HOLD_LAPSES_IN: from any other status (an admin's approval) it could
        # never refuse, so it is left out rather than evaluated by the store on every approval.
        query |= hold_not_overdue(now)
    return query


def _settle_hold(outcome: HoldState) -> Stage:
    return {
        "couponState": {"$cond": [_HELD, outcome.value, "$couponState"]},
        "holdExpiresAt": None,
    }


def _add_pending(*always: Effect, if_held: Effect | None = None) -> Stage:
    extra: list[Any] = [literal([e.value for e in always])]
    if if_held is not None:
        extra.append({"$cond": [_HELD, literal([if_held.value]), literal([])]})
    return {"pending": {"$setUnion": ["$pending", *extra]}}


def bump(**fields: Any) -> list[Stage]:
    """One pipeline stage that sets `fields`, bumps `version` and stamps `updatedAt`."""
    return [{"$set": {**fields, "version": {"$add": ["$version", 1]}, "updatedAt": "$$NOW"}}]


def history_entry(cause: Cause) -> dict[str, Any]:
    """The change's history entry, read from the document the previous stage wrote."""
    actor = cause.actor
    return {
        "at": "$updatedAt",
        "version": "$version",
        "status": "$status",
        "previousStatus": "$previousStatus",
        "actor": literal({"kind": actor.kind.value, "id": actor.id}),
        "action": literal(cause.action),
        "reason": literal(cause.reason),
    }


def noted(cause: Cause, when: Any = True) -> Stage:
    """A stage after a `bump` that appends the change's history entry and puts the audit entry in
    the outbox, in the same write as the change: an entry exists if and only if the change does."""
    appended = {"$concatArrays": [{"$ifNull": ["$history", []]}, [history_entry(cause)]]}
    audited = {"$setUnion": [{"$ifNull": ["$pending", []]}, literal([Effect.AUDIT.value])]}
    return {
        "$set": {
            "history": {"$cond": [when, appended, "$history"]},
            "pending": {"$cond": [when, audited, "$pending"]},
        }
    }


def default_cause(action: Action) -> Cause:
    # Only a caller below the use cases (a test driving the store) leaves the cause out.
    return Cause(SYSTEM, action.value.lower())


def transition_update(action: Action, extras: TransitionExtras) -> list[Stage]:
    return [*transition_fields(action, extras), noted(extras.cause or default_cause(action))]


def transition_fields(action: Action, extras: TransitionExtras) -> list[Stage]:
    target = TRANSITIONS[action].target
    fields: Stage = {"previousStatus": "$status", "status": literal(target.value)}
    if target is EnrollmentStatus.APPROVED:
        fields |= _settle_hold(HoldState.REDEEMED)
        fields |= _add_pending(Effect.JOBS, if_held=Effect.COUPON)
        fields["access"] = literal(
            {"status": AccessStatus.PENDING.value, "attempts": 0, "lastError": None, "updatedAt": None}
        )
        fields["approvedBy"] = literal(extras.approved_by)
    elif target in (EnrollmentStatus.REJECTED, EnrollmentStatus.CANCELLED):
        fields |= _settle_hold(HoldState.RELEASED)
        fields |= _add_pending(if_held=Effect.COUPON)
        if extras.rejection_reason is not None:
            fields["rejectionReason"] = literal(extras.rejection_reason)
    elif target is EnrollmentStatus.PAYMENT_FAILED:
        fields["paymentFailureReason"] = literal(extras.failure_reason)
    elif target is EnrollmentStatus.REVOKED:
        # A coupon redemption is not given back (the contract); access is taken away by a job.
        fields |= _add_pending(Effect.REVOKE)
    if extras.new_reference is not None:
        fields["paymentReference"] = literal(extras.new_reference)
        fields["paymentReferences"] = {
            "$concatArrays": [{"$ifNull": ["$paymentReferences", []]}, literal([extras.new_reference])]
        }
    return bump(**fields)


def hold_not_overdue(now: datetime) -> dict[str, Any]:
    """The negation of `lapse_filter`, as a condition on one field.

    `holdExpiresAt` is set only while a hold is HELD in HOLD_LAPSES_IN (the enroll sets it for a
    card payment, and every change that settles the hold or leaves those statuses clears it), so
    "no overdue hold" is "no expiry at or before now". One field, not `$nor` over three: a store
    can then serve the write from its `_id` or reference index rather than scan for the `$nor`.
    """
    return {"holdExpiresAt": {"$not": {"$lte": now}}}


def lapse_filter(now: datetime) -> dict[str, Any]:
    return {
        "couponState": HoldState.HELD.value,
        "holdExpiresAt": {"$ne": None, "$lte": now},
        "status": {"$in": sorted(s.value for s in HOLD_LAPSES_IN)},
    }


def lapse_update(cause: Cause) -> list[Stage]:
    return [*_lapse_fields(), noted(cause)]


def _lapse_fields() -> list[Stage]:
    return bump(
        previousStatus="$status",
        couponState=literal(HoldState.LAPSED.value),
        holdExpiresAt=None,
        amountDue="$fullPrice",
        couponDiscount=0,
        pending={"$setUnion": ["$pending", literal([Effect.COUPON.value])]},
    )
