"""The admin back office's mutations: bulk rejection, course changes, stopping a coupon."""

from __future__ import annotations

import strawberry

from domain import admin_actions
from domain.errors import DomainError
from resolvers.context import Info
from resolvers.permissions import AdminOnly, require_admin
from resolvers.types import Enrollment, UserError


@strawberry.type
class BulkRejectPayload:
    rejected: list[Enrollment]
    errors: list[UserError]


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
