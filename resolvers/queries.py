"""Query fields: read-only, batched, authorized per field."""

from __future__ import annotations

import asyncio

import strawberry
from graphql import GraphQLError
from starlette.requests import Request

from domain.coupon import normalize_code
from domain.course import is_course_id
from domain.enrollment import Enrollment as DomainEnrollment
from domain.enrollment import EnrollmentStatus
from domain.enrollment_filter import EnrollmentFilter
from domain.errors import DomainError
from resolvers.connections import Connection, connection, page_size
from resolvers.context import Info
from resolvers.enrollment_search import EnrollmentFilterInput, to_domain
from resolvers.permissions import AdminOnly, SignedIn, require_owner_or_admin
from resolvers.types import Coupon, CourseCard, Enrollment


def validation_error(error: DomainError) -> GraphQLError:
    return GraphQLError(error.error.message, extensions={"code": error.error.code.value})


async def load_card(info: Info, course_id: str) -> CourseCard | None:
    if not is_course_id(course_id):
        return None
    course = await info.context.loaders.course.load(course_id)
    if course is None or not course.published:
        return None
    viewer = info.context.viewer
    if viewer is None:
        return CourseCard.of(course, False, None)
    mine = await info.context.loaders.current_enrollments(viewer.user_id, [course_id])
    return CourseCard.of(course, True, mine.get(course_id))


def _node(enrollment: DomainEnrollment) -> Enrollment:
    return Enrollment(model=enrollment)


@strawberry.type
class Query:
    @strawberry.field(description="Every published course, as the viewer sees it.")
    async def course_cards(self, info: Info) -> list[CourseCard]:
        # Aliases of this field in one HTTP request share one read of the catalogue.
        extras = info.context.extras if isinstance(info.context.request, Request) else {}
        if "published_courses" not in extras:
            extras["published_courses"] = asyncio.ensure_future(
                info.context.services.courses.list_published()
            )
        courses = await extras["published_courses"]
        viewer = info.context.viewer
        if viewer is None:
            return [CourseCard.of(c, False, None) for c in courses]
        mine = await info.context.loaders.current_enrollments(viewer.user_id, [c.id for c in courses])
        return [CourseCard.of(c, True, mine.get(c.id)) for c in courses]

    @strawberry.field(description="One course as the viewer sees it; null for an unknown course.")
    async def course_card(self, info: Info, course_id: strawberry.ID) -> CourseCard | None:
        return await load_card(info, str(course_id))

    @strawberry.field(
        permission_classes=[SignedIn],
        description="The viewer's enrollments, newest first; at most the server's page size.",
    )
    async def my_enrollments(self, info: Info) -> list[Enrollment]:
        assert info.context.viewer is not None
        viewer, limit = info.context.viewer, info.context.max_page_size
        rows = await info.context.services.enrollments.recent_for(viewer.user_id, limit)
        return [Enrollment(model=e) for e in rows]

    @strawberry.field(permission_classes=[SignedIn], description="Owner or admin.")
    async def enrollment(self, info: Info, id: strawberry.ID) -> Enrollment | None:
        found = await info.context.services.enrollments.get(str(id))
        if found is None:
            return None
        require_owner_or_admin(info, found.user_id)
        return Enrollment(model=found)

    @strawberry.field(permission_classes=[AdminOnly])
    async def enrollments(
        self,
        info: Info,
        status: EnrollmentStatus | None = None,
        course_id: strawberry.ID | None = None,
        first: int | None = 50,
        after: str | None = None,
        filter: EnrollmentFilterInput | None = None,
    ) -> Connection[Enrollment]:
        size = page_size(first, info.context.max_page_size)
        course = None if course_id is None else str(course_id)
        try:
            where = to_domain(filter, status, course)
            page = await info.context.services.enrollments.page(where, size, after)
        except DomainError as bad:
            raise validation_error(bad) from None
        return connection(page, _node)

    @strawberry.field(permission_classes=[AdminOnly], description="Awaiting approval, oldest first.")
    async def pending_enrollments(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> Connection[Enrollment]:
        size = page_size(first, info.context.max_page_size)
        try:
            page = await info.context.services.enrollments.page(
                EnrollmentFilter(status=EnrollmentStatus.AWAITING_APPROVAL), size, after
            )
        except DomainError as bad:
            raise validation_error(bad) from None
        return connection(page, _node)

    @strawberry.field(permission_classes=[AdminOnly])
    async def coupon(self, info: Info, code: str) -> Coupon | None:
        services = info.context.services
        found = await services.coupons.get_coupon(normalize_code(code), services.clock.now())
        return None if found is None else Coupon.of(found)
