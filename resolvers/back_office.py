"""The admin back office: bulk rejection, course changes, withdrawing coupons, the coupon list."""

from __future__ import annotations

import strawberry

from domain import admin_actions, catalogue_changes
from domain.admin_log import AdminLog
from domain.course import CourseChanges
from domain.errors import DomainError
from resolvers.connections import Connection, connection, page_size
from resolvers.context import Info
from resolvers.mutations import CouponPayload, CoursePayload
from resolvers.permissions import AdminOnly, require_admin
from resolvers.queries import validation_error
from resolvers.types import Coupon, Course, Enrollment, UserError


@strawberry.type
class BulkRejectPayload:
    rejected: list[Enrollment]
    errors: list[UserError]


@strawberry.input
class UpdateCourseInput:
    title: str | None = None
    price: int | None = strawberry.field(default=None, description="Minor units; enrollments keep theirs.")
    currency: str | None = None
    published: bool | None = None


@strawberry.type
class BackOfficeQueries:
    @strawberry.field(permission_classes=[AdminOnly], description="By code.")
    async def coupons(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[Coupon]:
        services = info.context.services
        size = page_size(first, info.context.max_page_size)
        try:
            page = await services.coupons.page(size, after, services.clock.now())
        except DomainError as bad:
            raise validation_error(bad) from None
        return connection(page, Coupon.of)


@strawberry.type
class BackOfficeMutations:
    @strawberry.mutation(permission_classes=[AdminOnly], description="At most 100 ids; one reason for all.")
    async def bulk_reject_enrollments(
        self, info: Info, enrollment_ids: list[strawberry.ID], reason: str
    ) -> BulkRejectPayload:
        services = info.context.services
        ids = [str(i) for i in enrollment_ids]
        try:
            result = await admin_actions.bulk_reject(
                services.changes, services.policy, require_admin(info), ids, reason
            )
        except DomainError as failure:
            return BulkRejectPayload(rejected=[], errors=[UserError.of(failure.error)])
        return BulkRejectPayload(
            rejected=[Enrollment(model=e) for e in result.done],
            errors=[UserError.of(e) for e in result.errors],
        )

    @strawberry.mutation(
        permission_classes=[AdminOnly], description="Pushed to every open card of the course."
    )
    async def update_course(self, info: Info, id: strawberry.ID, input: UpdateCourseInput) -> CoursePayload:
        services = info.context.services
        changes = CourseChanges(input.title, input.price, input.currency, input.published)
        log = AdminLog(services.audit, services.clock, require_admin(info))
        try:
            course = await catalogue_changes.update_course(
                services.courses, services.publisher, log, str(id), changes
            )
        except DomainError as failure:
            return CoursePayload(errors=[UserError.of(failure.error)])
        return CoursePayload(course=Course.of(course))

    @strawberry.mutation(permission_classes=[AdminOnly], description="No new holds; existing ones stay.")
    async def disable_coupon(self, info: Info, code: str) -> CouponPayload:
        services = info.context.services
        log = AdminLog(services.audit, services.clock, require_admin(info))
        try:
            coupon = await catalogue_changes.disable_coupon(services.coupons, services.clock, log, code)
        except DomainError as failure:
            return CouponPayload(errors=[UserError.of(failure.error)])
        return CouponPayload(coupon=Coupon.of(coupon))
