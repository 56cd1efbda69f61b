"""What an admin can search enrollments by: each field narrows, all of them combine (AND)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.errors import DomainError, ErrorCode

MAX_EMAIL_PREFIX = 254  # an e-mail address's own limit
MAX_TEXT = 200


@dataclass(frozen=True)
class EnrollmentFilter:
    status: EnrollmentStatus | None = None
    course_id: str | None = None
    user_id: str | None = None
    email_prefix: str | None = None  # lowercased: the search is case-insensitive
    payment_reference: str | None = None  # any reference the enrollment ever had
    payment_method: PaymentMethod | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive


def _text(value: str | None, field: str, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if not value or len(value) > limit:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, f"{field} must be 1-{limit} characters", field)
    return value


def enrollment_filter(
    *,
    status: EnrollmentStatus | None = None,
    course_id: str | None = None,
    user_id: str | None = None,
    email: str | None = None,
    payment_reference: str | None = None,
    payment_method: PaymentMethod | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> EnrollmentFilter:
    """A checked filter; a blank e-mail prefix means no e-mail condition (an empty search box)."""
    prefix = None if email is None or not email.strip() else email.strip().lower()
    if created_from is not None and created_to is not None and created_from >= created_to:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "createdFrom must be before createdTo", "createdTo")
    return EnrollmentFilter(
        status=status,
        course_id=_text(course_id, "courseId"),
        user_id=_text(user_id, "userId"),
        email_prefix=_text(prefix, "email", MAX_EMAIL_PREFIX),
        payment_reference=_text(payment_reference, "paymentReference"),
        payment_method=payment_method,
        created_from=created_from,
        created_to=created_to,
    )
