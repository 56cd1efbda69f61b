"""The admin's enrollment search input, shared by the `enrollments` query and the CSV export."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.enrollment import EnrollmentStatus, PaymentMethod
from domain.enrollment_filter import EnrollmentFilter as DomainFilter
from domain.enrollment_filter import enrollment_filter


@strawberry.input(name="EnrollmentFilter")
class EnrollmentFilterInput:
    status: EnrollmentStatus | None = None
    course_id: strawberry.ID | None = None
    user_id: strawberry.ID | None = None
    email: str | None = strawberry.field(default=None, description="A case-insensitive prefix.")
    payment_reference: str | None = None
    payment_method: PaymentMethod | None = None
    created_from: datetime | None = strawberry.field(default=None, description="Inclusive.")
    created_to: datetime | None = strawberry.field(default=None, description="Exclusive.")


def to_domain(
    given: EnrollmentFilterInput | None, status: EnrollmentStatus | None, course_id: str | None
) -> DomainFilter:
    """The filter, with the older `status` and `courseId` arguments as defaults (they keep working);
    raises `DomainError` on bad input."""
    given = given or EnrollmentFilterInput()
    course = course_id if given.course_id is None else str(given.course_id)
    return enrollment_filter(
        status=given.status or status,
        course_id=course,
        user_id=None if given.user_id is None else str(given.user_id),
        email=given.email,
        payment_reference=given.payment_reference,
        payment_method=given.payment_method,
        created_from=given.created_from,
        created_to=given.created_to,
    )
