"""Claims on the real store: a job whose worker died is taken again, but looked for at most once
a second per queue rather than with every claim (`store/job_claims.py`, LEASE_CHECK_EVERY)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.enrollment import EnrollmentStatus
from store.job_claims import LEASE_CHECK_EVERY
from store.jobs import MongoJobQueue
from tests.domain.test_card_rules import enrollment
from tests.store.conftest import StoreEnv


async def test_an_expired_lease_is_taken_again_at_the_next_check(store: StoreEnv) -> None:
    # A queue of its own: another test's claims must not have checked the leases for it.
    queue = MongoJobQueue(store.collections)
    approved = enrollment(EnrollmentStatus.APPROVED)
    await queue.enqueue_effects([approved], [], [])
    start = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # after nextRunAt
    lease = LEASE_CHECK_EVERY.total_seconds() / 2

    first = await queue.claim_job("dies", lease, start)
    assert first is not None and first.enrollment_id == approved.id
    # Its lease has run out, but the last look for expired leases is under a second old: the
    # claim takes the other ready job rather than reading the expired ones again.
    soon = start + LEASE_CHECK_EVERY * 0.75
    second = await queue.claim_job("w", 30, soon)
    assert second is not None and second.id != first.id
    assert await queue.claim_job("w", 30, soon) is None
    # A second after the last look, the dead worker's job is found and claimed again.
    again = await queue.claim_job("w", 30, start + LEASE_CHECK_EVERY)
    assert again is not None and again.id == first.id and again.attempts == 2
