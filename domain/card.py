"""The course-card rules: what button a viewer sees, row for row the contract's table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.enrollment import AccessStatus, Enrollment, EnrollmentStatus


class CardAction(StrEnum):
    REDIRECT_TO_AUTH = "REDIRECT_TO_AUTH"
    INITIATE_ENROLLMENT = "INITIATE_ENROLLMENT"
    SHOW_PENDING = "SHOW_PENDING"
    CONTINUE_COURSE = "CONTINUE_COURSE"
    RETRY_PAYMENT = "RETRY_PAYMENT"


@dataclass(frozen=True)
class CardFace:
    button_text: str
    action: CardAction
    disabled: bool
    has_access: bool


ANONYMOUS = CardFace("Register To Enroll", CardAction.REDIRECT_TO_AUTH, False, False)
ENROLL_NOW = CardFace("Enroll Now", CardAction.INITIATE_ENROLLMENT, False, False)

FACES: dict[EnrollmentStatus, CardFace] = {
    EnrollmentStatus.REJECTED: ENROLL_NOW,
    EnrollmentStatus.CANCELLED: ENROLL_NOW,
    EnrollmentStatus.REVOKED: ENROLL_NOW,
    EnrollmentStatus.PENDING_PAYMENT: CardFace("Payment Processing", CardAction.SHOW_PENDING, True, False),
    EnrollmentStatus.AWAITING_APPROVAL: CardFace("Pending Approval", CardAction.SHOW_PENDING, True, False),
    EnrollmentStatus.APPROVED: CardFace("Continue Course", CardAction.CONTINUE_COURSE, False, True),
    EnrollmentStatus.PAYMENT_FAILED: CardFace("Retry Payment", CardAction.RETRY_PAYMENT, False, False),
}


def continue_url(enrollment: Enrollment | None) -> str | None:
    """The LMS's launch URL, once the student is approved and provisioned there."""
    if enrollment is None or enrollment.status is not EnrollmentStatus.APPROVED:
        return None
    if enrollment.access.status is not AccessStatus.PROVISIONED:
        return None
    return enrollment.access.launch_url


def card_face(signed_in: bool, enrollment: Enrollment | None) -> CardFace:
    if not signed_in:
        return ANONYMOUS
    if enrollment is None:
        return ENROLL_NOW
    return FACES[enrollment.status]
