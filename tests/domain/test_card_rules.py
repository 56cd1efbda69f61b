"""The course-card table, row for row the contract's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.card import CardAction, CardFace, card_face
from domain.enrollment import Access, AccessStatus, Enrollment, EnrollmentStatus, PaymentMethod
from domain.money import Money

S = EnrollmentStatus
A = CardAction
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# (buttonText, action, disabled, hasAccess), copied from the contract's table.
ENROLL_NOW = ("Enroll Now", A.INITIATE_ENROLLMENT, False, False)
ROWS: dict[EnrollmentStatus | None, tuple[str, CardAction, bool, bool]] = {
    None: ENROLL_NOW,
    S.REJECTED: ENROLL_NOW,
    S.CANCELLED: ENROLL_NOW,
    S.REVOKED: ENROLL_NOW,
    S.PENDING_PAYMENT: ("Payment Processing", A.SHOW_PENDING, True, False),
    S.AWAITING_APPROVAL: ("Pending Approval", A.SHOW_PENDING, True, False),
    S.APPROVED: ("Continue Course", A.CONTINUE_COURSE, False, True),
    S.PAYMENT_FAILED: ("Retry Payment", A.RETRY_PAYMENT, False, False),
}


def enrollment(status: EnrollmentStatus, version: int = 1) -> Enrollment:
    price = Money(1000, "ZAR")
    return Enrollment(
        id=f"e-{status}-{version}",
        user_id="u",
        course_id="c",
        status=status,
        payment_method=PaymentMethod.EFT,
        full_price=price,
        amount_due=price,
        amount_paid=Money(0, "ZAR"),
        coupon=None,
        payment_reference=None,
        rejection_reason=None,
        approved_by=None,
        version=version,
        created_at=T0,
        updated_at=T0,
        access=Access(AccessStatus.NOT_STARTED, 0, None, None),
    )


def face_tuple(face: CardFace) -> tuple[str, CardAction, bool, bool]:
    return (face.button_text, face.action, face.disabled, face.has_access)


def test_anonymous_row() -> None:
    assert face_tuple(card_face(False, None)) == ("Register To Enroll", A.REDIRECT_TO_AUTH, False, False)


@pytest.mark.parametrize("status", [None, *S], ids=lambda s: str(s or "none"))
def test_signed_in_rows(status: EnrollmentStatus | None) -> None:
    current = None if status is None else enrollment(status)
    assert face_tuple(card_face(True, current)) == ROWS[status]


def test_every_status_has_a_row() -> None:
    assert set(ROWS) == {None, *S}
