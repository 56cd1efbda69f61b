"""Admins approve or reject; students cancel. Each is one conditional write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.changes import record_change
from domain.enrollment import Action, Enrollment
from domain.errors import DomainError, ErrorCode, UserError, forbidden
from domain.events import EventType
from domain.ports import TransitionExtras
from domain.services import Services
from domain.viewer import Viewer

MAX_REASON_LENGTH = 1000

_REFUSALS: dict[Action, str] = {
    Action.APPROVE: "only an enrollment awaiting approval can be approved",
    Action.REJECT: "only an enrollment awaiting approval can be rejected",
    Action.CANCEL: "this enrollment can no longer be cancelled",
}


async def _transition(
    services: Services, enrollment_id: str, action: Action, extras: TransitionExtras
) -> Enrollment:
    changed = await services.enrollments.apply_transition(
        enrollment_id, action, extras, now=services.clock.now()
    )
    if changed is None:
        if await services.enrollments.get(enrollment_id) is None:
            raise DomainError.of(ErrorCode.ENROLLMENT_NOT_FOUND, "no such enrollment", "enrollmentId")
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, _REFUSALS[action], "enrollmentId")
    await record_change(services, changed, EventType.STATUS_CHANGED, changed.previous_status)
    return changed


async def approve(services: Services, admin: Viewer, enrollment_id: str) -> Enrollment:
    extras = TransitionExtras(approved_by=admin.user_id)
    return await _transition(services, enrollment_id, Action.APPROVE, extras)


async def reject(services: Services, admin: Viewer, enrollment_id: str, reason: str) -> Enrollment:
    clean = reason.strip()
    if not clean or len(clean) > MAX_REASON_LENGTH:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED,
            f"a reason of 1-{MAX_REASON_LENGTH} characters is required",
            "reason",
        )
    extras = TransitionExtras(rejection_reason=clean)
    return await _transition(services, enrollment_id, Action.REJECT, extras)


async def cancel(services: Services, viewer: Viewer, enrollment_id: str) -> Enrollment:
    current = await services.enrollments.get(enrollment_id)
    if current is None:
        raise DomainError.of(ErrorCode.ENROLLMENT_NOT_FOUND, "no such enrollment", "enrollmentId")
    if current.user_id != viewer.user_id:
        raise forbidden("only the student who enrolled may cancel")
    return await _transition(services, enrollment_id, Action.CANCEL, TransitionExtras())


@dataclass(frozen=True)
class BulkOutcome:
    approved: list[Enrollment]
    errors: list[UserError]


async def bulk_approve(services: Services, admin: Viewer, enrollment_ids: Sequence[str]) -> BulkOutcome:
    limit = services.policy.max_bulk
    if len(enrollment_ids) > limit:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, f"at most {limit} ids at once", "enrollmentIds")
    approved: list[Enrollment] = []
    errors: list[UserError] = []
    for enrollment_id in dict.fromkeys(enrollment_ids):
        try:
            approved.append(await approve(services, admin, enrollment_id))
        except DomainError as failure:
            error = failure.error
            errors.append(UserError(error.code, f"{enrollment_id}: {error.message}", enrollment_id))
    return BulkOutcome(approved, errors)
