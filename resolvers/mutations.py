"""Mutation fields: unpack input, call one use case, map its outcome. No rules here."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

import strawberry

from domain import admin_actions, catalogue, provisioning, student_actions
from domain.admin_log import AdminLog
from domain.enrollment import Enrollment as DomainEnrollment
from domain.enrollment import PaymentMethod
from domain.errors import AuthError, DomainError
from domain.errors import UserError as DomainUserError
from resolvers.context import Info
from resolvers.permissions import AdminOnly, SignedIn, auth_failure, require_admin, require_viewer
from resolvers.types import Coupon, Course, CourseCard, Enrollment, PaymentSession, UserError

T = TypeVar("T")


@strawberry.input
class EnrollInput:
    course_id: strawberry.ID
    payment_method: PaymentMethod
    coupon_code: str | None = None


@strawberry.input
class CreateCourseInput:
    id: strawberry.ID | None = None
    title: str
    price: int
    currency: str = "ZAR"
    published: bool = True


@strawberry.input
class CreateCouponInput:
    code: str
    percent_off: int | None = None
    amount_off: int | None = None
    max_redemptions: int
    expires_at: datetime | None = None
    currency: str = strawberry.field(
        default="ZAR", description="The currency of amountOff; a percentOff applies in any currency."
    )


async def _payload_card(root: EnrollmentPayload, info: Info) -> CourseCard | None:
    # Resolved only when selected: an admin's decision seldom asks for it, and it costs a read.
    if root.enrollment is None:
        return None
    shown = root.enrollment.model
    course = await info.context.loaders.course.load(shown.course_id)
    return None if course is None else CourseCard.of(course, True, shown)


@strawberry.type
class EnrollmentPayload:
    enrollment: Enrollment | None = None
    card: CourseCard | None = strawberry.field(resolver=_payload_card)
    payment: PaymentSession | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BulkApprovePayload:
    approved: list[Enrollment]
    errors: list[UserError]


@strawberry.type
class CoursePayload:
    course: Course | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CouponPayload:
    coupon: Coupon | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _attempt(call: Awaitable[T]) -> T | DomainUserError:
    """The use case's value, or its expected failure as a value; auth failures become GraphQL errors."""
    try:
        return await call
    except DomainError as failure:
        return failure.error
    except AuthError as denied:
        raise auth_failure(denied) from None


async def _enrollment_payload(
    info: Info,
    enrollment: DomainEnrollment,
    payment: student_actions.PaymentSession | None = None,
    errors: list[UserError] | None = None,
) -> EnrollmentPayload:
    session = (
        None
        if payment is None
        else PaymentSession(reference=payment.reference, redirect_url=payment.redirect_url)
    )
    return EnrollmentPayload(enrollment=Enrollment(model=enrollment), payment=session, errors=errors or [])


async def _decided(info: Info, result: DomainEnrollment | DomainUserError) -> EnrollmentPayload:
    if isinstance(result, DomainUserError):
        return EnrollmentPayload(errors=[UserError.of(result)])
    return await _enrollment_payload(info, result)


def _errors(outcome: student_actions.EnrollOutcome) -> list[UserError]:
    return [] if outcome.error is None else [UserError.of(outcome.error)]


@strawberry.type
class Mutation:
    @strawberry.mutation(permission_classes=[SignedIn])
    async def enroll(self, info: Info, input: EnrollInput) -> EnrollmentPayload:
        viewer = require_viewer(info)
        services = info.context.services
        try:
            outcome = await student_actions.enroll(
                services.courses,
                services.coupons,
                services.changes,
                services.policy,
                services.observer,
                services.desk,
                viewer,
                str(input.course_id),
                input.payment_method,
                input.coupon_code,
            )
        except student_actions.AlreadyEnrolled as already:
            return await _enrollment_payload(
                info,
                already.existing,
                await student_actions.payment_session(services.desk, already.existing),
                [UserError.of(already.error)],
            )
        except DomainError as failure:
            return EnrollmentPayload(errors=[UserError.of(failure.error)])
        if outcome.course is not None:
            info.context.loaders.course.prime(outcome.course.id, outcome.course)
        return await _enrollment_payload(info, outcome.enrollment, outcome.payment, _errors(outcome))

    @strawberry.mutation(permission_classes=[SignedIn], description="PAYMENT_FAILED -> PENDING_PAYMENT.")
    async def retry_payment(self, info: Info, enrollment_id: strawberry.ID) -> EnrollmentPayload:
        services = info.context.services
        result = await _attempt(
            student_actions.retry_payment(
                services.courses, services.changes, services.desk, require_viewer(info), str(enrollment_id)
            )
        )
        if isinstance(result, DomainUserError):
            return EnrollmentPayload(errors=[UserError.of(result)])
        return await _enrollment_payload(info, result.enrollment, result.payment, _errors(result))

    @strawberry.mutation(
        permission_classes=[AdminOnly],
        description="Money that reached the school outside the gateway; `reference` makes it once only.",
    )
    async def record_payment(
        self,
        info: Info,
        enrollment_id: strawberry.ID,
        amount: int,
        reference: str,
        note: str | None = None,
    ) -> EnrollmentPayload:
        services = info.context.services
        call = admin_actions.record_payment(
            services.payments,
            services.changes,
            require_admin(info),
            str(enrollment_id),
            amount,
            reference,
            note,
        )
        return await _decided(info, await _attempt(call))

    @strawberry.mutation(
        permission_classes=[SignedIn], description="Owner or admin: provisioning runs again after FAILED."
    )
    async def retry_access(self, info: Info, enrollment_id: strawberry.ID) -> EnrollmentPayload:
        call = provisioning.retry_access(
            info.context.services.changes, require_viewer(info), str(enrollment_id)
        )
        return await _decided(info, await _attempt(call))

    @strawberry.mutation(permission_classes=[SignedIn])
    async def cancel_enrollment(self, info: Info, enrollment_id: strawberry.ID) -> EnrollmentPayload:
        call = student_actions.cancel(info.context.services.changes, require_viewer(info), str(enrollment_id))
        return await _decided(info, await _attempt(call))

    @strawberry.mutation(permission_classes=[AdminOnly])
    async def approve_enrollment(self, info: Info, enrollment_id: strawberry.ID) -> EnrollmentPayload:
        call = admin_actions.approve(info.context.services.changes, require_admin(info), str(enrollment_id))
        return await _decided(info, await _attempt(call))

    @strawberry.mutation(permission_classes=[AdminOnly])
    async def reject_enrollment(
        self, info: Info, enrollment_id: strawberry.ID, reason: str
    ) -> EnrollmentPayload:
        call = admin_actions.reject(
            info.context.services.changes, require_admin(info), str(enrollment_id), reason
        )
        return await _decided(info, await _attempt(call))

    @strawberry.mutation(
        permission_classes=[AdminOnly], description="APPROVED -> REVOKED: access is taken away on the LMS."
    )
    async def revoke_enrollment(
        self, info: Info, enrollment_id: strawberry.ID, reason: str
    ) -> EnrollmentPayload:
        call = admin_actions.revoke(
            info.context.services.changes, require_admin(info), str(enrollment_id), reason
        )
        return await _decided(info, await _attempt(call))

    @strawberry.mutation(permission_classes=[AdminOnly], description="At most 100 ids.")
    async def bulk_approve_enrollments(
        self, info: Info, enrollment_ids: list[strawberry.ID]
    ) -> BulkApprovePayload:
        services = info.context.services
        ids = [str(i) for i in enrollment_ids]
        call = admin_actions.bulk_approve(services.changes, services.policy, require_admin(info), ids)
        result = await _attempt(call)
        if isinstance(result, DomainUserError):
            return BulkApprovePayload(approved=[], errors=[UserError.of(result)])
        return BulkApprovePayload(
            approved=[Enrollment(model=e) for e in result.done],
            errors=[UserError.of(e) for e in result.errors],
        )

    @strawberry.mutation(permission_classes=[AdminOnly])
    async def create_course(self, info: Info, input: CreateCourseInput) -> CoursePayload:
        services = info.context.services
        new_id = services.courses.new_id()
        course_id = None if input.id is None else str(input.id)
        call = catalogue.create_course(
            services.courses,
            course_id,
            input.title,
            input.price,
            input.currency,
            input.published,
            new_id,
            log=AdminLog(services.audit, services.clock, require_admin(info)),
        )
        result = await _attempt(call)
        if isinstance(result, DomainUserError):
            return CoursePayload(errors=[UserError.of(result)])
        return CoursePayload(course=Course.of(result))

    @strawberry.mutation(permission_classes=[AdminOnly])
    async def create_coupon(self, info: Info, input: CreateCouponInput) -> CouponPayload:
        services = info.context.services
        call = catalogue.create_coupon(
            services.coupons,
            input.code,
            input.percent_off,
            input.amount_off,
            input.max_redemptions,
            input.expires_at,
            input.currency,
            log=AdminLog(services.audit, services.clock, require_admin(info)),
        )
        result = await _attempt(call)
        if isinstance(result, DomainUserError):
            return CouponPayload(errors=[UserError.of(result)])
        return CouponPayload(coupon=Coupon.of(result))
