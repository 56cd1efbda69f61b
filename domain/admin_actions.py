"""What admins decide: approve, reject, bulk approve. Each is one conditional write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.changes import Changes, transition
from domain.enrollment import Action, Enrollment
from domain.errors import DomainError, ErrorCode, UserError
from domain.ports import TransitionExtras
from domain.services import Policy
from domain.viewer import Viewer

MAX_REASON_LENGTH = 1000


async def approve(changes: Changes, admin: Viewer, enrollment_id: str) -> Enrollment:
    extras = TransitionExtras(approved_by=admin.user_id)
    return await transition(changes, enrollment_id, Action.APPROVE, extras)


async def reject(changes: Changes, admin: Viewer, enrollment_id: str, reason: str) -> Enrollment:
    clean = reason.strip()
    if not clean or len(clean) > MAX_REASON_LENGTH:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED,
            f"a reason of 1-{MAX_REASON_LENGTH} characters is required",
            "reason",
        )
    extras = TransitionExtras(rejection_reason=clean)
    return await transition(changes, enrollment_id, Action.REJECT, extras)


@dataclass(frozen=True)
class BulkOutcome:
    approved: list[Enrollment]
    errors: list[UserError]


async def bulk_approve(
    changes: Changes, policy: Policy, admin: Viewer, enrollment_ids: Sequence[str]
) -> BulkOutcome:
    limit = policy.max_bulk
    if len(enrollment_ids) > limit:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, f"at most {limit} ids at once", "enrollmentIds")
    approved: list[Enrollment] = []
    errors: list[UserError] = []
    for enrollment_id in dict.fromkeys(enrollment_ids):
        try:
            approved.append(await approve(changes, admin, enrollment_id))
        except DomainError as failure:
            error = failure.error
            errors.append(UserError(error.code, f"{enrollment_id}: {error.message}", enrollment_id))
    return BulkOutcome(approved, errors)
