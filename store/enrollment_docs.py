"""Enrollment documents to domain values and back."""

from __future__ import annotations

from datetime import datetime

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
from domain.money import Money
from domain.ports import NewEnrollment
from store.database import Doc, stored

# Only what a course card or the admin list needs; the delivery log can be long.
SUMMARY = {"deliveries": 0, "webhookEventIds": 0}

NO_ACCESS: Doc = {
    "status": AccessStatus.NOT_STARTED.value,
    "attempts": 0,
    "lastError": None,
    "updatedAt": None,
}


def draft_document(draft: NewEnrollment) -> Doc:
    """The document as stored (times in milliseconds): the insert's result without reading it back.

    Created, last updated and the first history entry are one instant, the creating change's.
    """
    approved = draft.status is EnrollmentStatus.APPROVED
    at = stored(draft.at)
    doc: Doc = {
        "_id": draft.id,
        "userId": draft.user_id,
        "email": draft.email,
        # The admin search's case-insensitive prefix is a range on this field's index.
        "emailLower": None if draft.email is None else draft.email.lower(),
        "courseId": draft.course_id,
        "status": draft.status.value,
        "previousStatus": None,
        "paymentMethod": draft.payment_method.value,
        "currency": draft.full_price.currency,
        "fullPrice": draft.full_price.amount,
        "amountDue": draft.amount_due.amount,
        "amountPaid": 0,
        "couponCode": draft.coupon_code,
        "couponState": _initial_hold(draft, approved),
        "couponDiscount": draft.coupon_discount,
        "holdExpiresAt": stored(draft.hold_expires_at),
        "paymentReference": draft.payment_reference,
        "rejectionReason": None,
        "approvedBy": None,
        "version": draft.version,
        "access": {**NO_ACCESS, "status": AccessStatus.PENDING.value} if approved else NO_ACCESS,
        "webhookEventIds": [],
        "deliveries": [],
        "pending": sorted(effect.value for effect in draft.pending),
        "history": [change_document(_created(draft, at))],
        "createdAt": at,
        "updatedAt": at,
    }
    if draft.payment_reference is not None:
        doc["paymentReferences"] = [draft.payment_reference]
    return doc


def _created(draft: NewEnrollment, at: datetime) -> ChangeRecord:
    cause = draft.cause
    return ChangeRecord(at, draft.version, draft.status, None, cause.actor, cause.action, cause.reason)


def _initial_hold(draft: NewEnrollment, approved: bool) -> str | None:
    if draft.coupon_code is None:
        return None
    return HoldState.REDEEMED.value if approved else HoldState.HELD.value


def enrollment_from(doc: Doc) -> Enrollment:
    currency = doc["currency"]
    access = doc["access"]
    coupon = None
    if doc.get("couponCode") is not None:
        coupon = CouponUse(
            doc["couponCode"], HoldState(doc["couponState"]), doc["couponDiscount"], doc["holdExpiresAt"]
        )
    previous = doc.get("previousStatus")
    return Enrollment(
        id=doc["_id"],
        user_id=doc["userId"],
        course_id=doc["courseId"],
        status=EnrollmentStatus(doc["status"]),
        payment_method=PaymentMethod(doc["paymentMethod"]),
        full_price=Money(doc["fullPrice"], currency),
        amount_due=Money(doc["amountDue"], currency),
        amount_paid=Money(doc["amountPaid"], currency),
        coupon=coupon,
        payment_reference=doc.get("paymentReference"),
        rejection_reason=doc.get("rejectionReason"),
        approved_by=doc.get("approvedBy"),
        version=doc["version"],
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
        access=Access(
            AccessStatus(access["status"]),
            access["attempts"],
            access.get("lastError"),
            access.get("updatedAt"),
            access.get("launchUrl"),
            access.get("accountId"),
        ),
        email=doc.get("email"),
        deliveries=tuple(
            WebhookDelivery(d["eventId"], d["type"], d["outcome"], d.get("amount"), d["receivedAt"])
            for d in doc.get("deliveries", ())
        ),
        pending=frozenset(Effect(p) for p in doc.get("pending", ())),
        previous_status=None if previous is None else EnrollmentStatus(previous),
        gateway_transaction_id=doc.get("gatewayTransactionId"),
        failure_reason=doc.get("paymentFailureReason"),
        audited_version=doc.get("auditedVersion", 0),
        history=tuple(change_from(c) for c in doc.get("history", ())),
    )


def change_document(change: ChangeRecord) -> Doc:
    return {
        "at": change.at,
        "version": change.version,
        "status": change.status.value,
        "previousStatus": None if change.previous_status is None else change.previous_status.value,
        "actor": {"kind": change.actor.kind.value, "id": change.actor.id},
        "action": change.action,
        "reason": change.reason,
    }


def change_from(doc: Doc) -> ChangeRecord:
    previous = doc.get("previousStatus")
    return ChangeRecord(
        at=doc["at"],
        version=doc["version"],
        status=EnrollmentStatus(doc["status"]),
        previous_status=None if previous is None else EnrollmentStatus(previous),
        actor=Actor(ActorKind(doc["actor"]["kind"]), doc["actor"].get("id")),
        action=doc["action"],
        reason=doc.get("reason"),
    )
