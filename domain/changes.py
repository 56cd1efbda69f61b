"""The one place every enrollment change passes through: its conditional write, then what follows.

`transition` applies one action of the state table as one conditional write and says why
it was refused. `record_change` publishes the change and then does the follow-up work the
write recorded in the enrollment's outbox (`pending`): settling the coupon hold and enqueuing
the jobs that approval needs. Each follow-up is idempotent and clears its outbox entry only
when done, so a crash in between is repaired by `resume_pending` on the next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property

from domain.actors import SYSTEM, Cause, SystemAction
from domain.enrollment import Action, Effect, Enrollment, EnrollmentStatus, HoldState
from domain.errors import DomainError, ErrorCode
from domain.events import EnrollmentChange, EventType
from domain.group_commit import GroupCommit
from domain.notifications import history_notices
from domain.ports import (
    AuditLog,
    Clock,
    CouponStore,
    EnrollmentStore,
    EventPublisher,
    JobQueue,
    TransitionExtras,
)

log = logging.getLogger(__name__)

HOLD_LAPSED = Cause(SYSTEM, SystemAction.HOLD_LAPSED.value)

# An outbox entry younger than this is still being handled by the request that wrote it. It is
# compared with `updatedAt`, the database's clock: the grace dwarfs any skew between the two.
PENDING_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Changes:
    """What every enrollment change needs: the store that writes it, the publisher that tells the
    audiences, and what its outbox settles (coupon holds, jobs)."""

    enrollments: EnrollmentStore
    coupons: CouponStore
    jobs: JobQueue
    publisher: EventPublisher
    clock: Clock
    audit: AuditLog

    @cached_property
    def _settling(self) -> GroupCommit[Enrollment]:
        return GroupCommit(lambda batch: settle_effects(self, batch))

    async def settle(self, enrollment: Enrollment) -> None:
        """Settle the enrollment's outbox, together with those of the changes made meanwhile."""
        await self._settling.submit(enrollment)


_REFUSALS: dict[Action, str] = {
    Action.APPROVE: "only an enrollment awaiting approval can be approved",
    Action.REJECT: "only an enrollment awaiting approval can be rejected",
    Action.CANCEL: "this enrollment can no longer be cancelled",
    Action.RETRY_PAYMENT: "only a failed payment can be retried",
    Action.REVOKE: "only an approved enrollment can be revoked",
}


async def transition(
    changes: Changes, enrollment_id: str, action: Action, cause: Cause, extras: TransitionExtras
) -> Enrollment:
    """Apply `action` in one conditional write, with its cause, and publish the change; a refusal
    says why and records nothing."""
    changed = await changes.enrollments.apply_transition(
        enrollment_id, action, replace(extras, cause=cause), now=changes.clock.now()
    )
    if changed is None:
        if await changes.enrollments.get(enrollment_id) is None:
            raise not_found()
        raise DomainError.of(ErrorCode.INVALID_TRANSITION, _REFUSALS[action], "enrollmentId")
    await record_change(changes, changed, EventType.STATUS_CHANGED, changed.previous_status)
    return changed


def not_found() -> DomainError:
    return DomainError.of(ErrorCode.ENROLLMENT_NOT_FOUND, "no such enrollment", "enrollmentId")


async def record_change(
    changes: Changes,
    enrollment: Enrollment,
    event: EventType,
    previous_status: EnrollmentStatus | None,
) -> None:
    change = EnrollmentChange(event, enrollment, previous_status, changes.clock.now())
    await changes.publisher.publish(change)
    await changes.settle(enrollment)


async def settle_effects(changes: Changes, enrollments: Sequence[Enrollment]) -> None:
    """Do the follow-up work the enrollments' outboxes hold, a round trip per kind for all of them."""
    settled = [enrollment for enrollment in enrollments if enrollment.pending]
    if not settled:
        return
    # Every change puts AUDIT in its outbox: its entry and the student's notice follow from its history.
    audited = [enrollment for enrollment in settled if Effect.AUDIT in enrollment.pending]
    await changes.audit.materialise(audited)
    for enrollment in settled:
        if Effect.COUPON in enrollment.pending:
            await _settle_coupon(changes.coupons, enrollment)
    await changes.jobs.enqueue_effects(
        approved=[enrollment for enrollment in settled if Effect.JOBS in enrollment.pending],
        revoked=[enrollment for enrollment in settled if Effect.REVOKE in enrollment.pending],
        notices=[(enrollment, notice) for enrollment in audited for notice in history_notices(enrollment)],
    )
    # One write clears them all: each follow-up is idempotent, so a crash before it only means
    # the sweep does them again.
    await changes.enrollments.clear_pending(settled)


async def _settle_coupon(coupons: CouponStore, enrollment: Enrollment) -> None:
    coupon = enrollment.coupon
    if coupon is None:
        return
    store = coupons
    if coupon.state is HoldState.REDEEMED:
        await store.redeem_hold(coupon.code, enrollment.id, enrollment.user_id)
    elif coupon.state is HoldState.RELEASED:
        await store.release_hold(coupon.code, enrollment.id, lapsed=False)
    elif coupon.state is HoldState.LAPSED:
        await store.release_hold(coupon.code, enrollment.id, lapsed=True)
    elif coupon.expires_at is None:
        # A hold that waits for an admin must not lapse on the coupon document either.
        await store.pin_hold(coupon.code, enrollment.id)


async def lapse_due_holds(changes: Changes, limit: int = 100) -> int:
    """Take the discount away from enrollments whose coupon hold ran out while unpaid."""
    now = changes.clock.now()
    lapsed = 0
    for enrollment_id in await changes.enrollments.due_lapses(now, limit):
        enrollment = await changes.enrollments.lapse_hold(enrollment_id, now, HOLD_LAPSED)
        if enrollment is not None:
            lapsed += 1
            await record_change(changes, enrollment, EventType.STATUS_CHANGED, enrollment.status)
    return lapsed


async def resume_pending(changes: Changes, limit: int = 100) -> int:
    """Finish follow-up work a crashed process left in an outbox."""
    stuck = await changes.enrollments.with_pending_effects(changes.clock.now() - PENDING_GRACE, limit)
    for enrollment in stuck:
        log.warning(
            "resuming follow-up work",
            extra={"enrollment_id": enrollment.id, "pending": sorted(enrollment.pending)},
        )
    await settle_effects(changes, stuck)
    # Courses, coupons and jobs carry their audit entries in an outbox of their own.
    settled = await changes.audit.settle_stale(changes.clock.now() - PENDING_GRACE, limit)
    if settled:
        log.warning("copied audit entries a crash left behind", extra={"documents": settled})
    return len(stuck) + settled
