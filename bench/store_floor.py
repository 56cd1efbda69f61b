"""The store's floor: what each document write an enroll makes costs SecantusDB, alone.

The side-by-side run compares whole requests. This says how much of the gap the writes
themselves account for, whatever the server does around them: on a fresh store of its own, the
enroll's writes are made one at a time through the real store code (the enrollment, its audit
entry, its e-mail job, the outbox clear, the job's claim and outcome), each `FLOOR_WRITES` times,
beside the peer's one insert with the peer's indexes and a write to a collection with no index
but `_id`. The store process's CPU is read around each step.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from bench.harness import process_cpu
from domain.course import Course
from domain.enrollment import Enrollment, PaymentMethod
from domain.jobs import Decision, Job, Verdict
from domain.money import Money
from domain.notifications import history_notices
from domain.ports import NewEnrollment
from domain.services import Policy
from domain.student_actions import draft_enrollment
from domain.viewer import Role, Viewer
from sandbox.embedded import ManagedServer, start_mongo
from store.audit import MongoAuditLog
from store.database import Collections, Doc, connect, new_id
from store.enrollments import MongoEnrollmentStore
from store.indexes import ensure_indexes
from store.jobs import MongoJobQueue

FLOOR_WRITES = 300
# The peer's enrollments collection (../shared/peer-bench/peer-node/store.js), and its document.
PEER_INDEXES = [
    IndexModel(
        [("userId", ASCENDING), ("courseId", ASCENDING)],
        unique=True,
        partialFilterExpression={"active": True},
    ),
    IndexModel([("userId", ASCENDING), ("courseId", ASCENDING), ("createdAt", DESCENDING)]),
    IndexModel([("paymentReference", ASCENDING)], unique=True),
]


def peer_document(n: int, now: datetime) -> Doc:
    price = {"amount": 12_900, "currency": "ZAR"}
    return {
        "_id": new_id(),
        "userId": f"peer-{n}",
        "courseId": "floor",
        "status": "AWAITING_APPROVAL",
        "active": True,
        "paymentMethod": "EFT",
        "amountDue": price,
        "amountPaid": {"amount": 0, "currency": "ZAR"},
        "paymentReference": f"pay_{new_id()}",
        "version": 1,
        "createdAt": now,
        "updatedAt": now,
        "webhookEventIds": [],
        "webhookDeliveries": [],
    }


def eft_enrollment(n: int, now: datetime) -> NewEnrollment:
    """What an EFT enroll without a coupon writes, drafted by the domain's own code."""
    student = Viewer(f"student-{n}", Role.STUDENT, f"student-{n}@example.test")
    course = Course("floor", "Floor", Money(12_900, "ZAR"), published=True)
    return draft_enrollment(Policy(), student, course, PaymentMethod.EFT, new_id(), None, now, 0)


@dataclass(frozen=True)
class Step:
    name: str
    ms_per_write: float
    enroll: bool  # one of the writes an enroll makes (not a point of comparison)


class Floor:
    def __init__(self, store: ManagedServer) -> None:
        assert store.pid is not None
        self._pid = store.pid
        self.steps: list[Step] = []

    async def step(
        self, name: str, write: Callable[[int], Awaitable[Any]], *, enroll: bool = True
    ) -> list[Any]:
        before = process_cpu(self._pid)
        results = [await write(n) for n in range(FLOOR_WRITES)]
        self.steps.append(Step(name, (process_cpu(self._pid) - before) / FLOOR_WRITES * 1000, enroll))
        return results


async def _measure(store: ManagedServer) -> list[Step]:
    client = connect(store.url)  # the server's own client settings (retryable writes on)
    try:
        collections = Collections.of(client, "floor")
        await ensure_indexes(collections)
        floor = Floor(store)
        enrollments, audit = MongoEnrollmentStore(collections), MongoAuditLog(collections)
        jobs = MongoJobQueue(collections)
        now = datetime.now(UTC)

        bare = collections.db["floor_bare"]
        await bare.insert_one({"_id": "created"})
        await floor.step(
            "insert, `_id` index only", lambda n: bare.insert_one({"_id": new_id(), "n": n}), enroll=False
        )
        peer = collections.db["floor_peer"]
        await peer.create_indexes(PEER_INDEXES)
        await floor.step(
            "peer: enrollment insert", lambda n: peer.insert_one(peer_document(n, now)), enroll=False
        )

        async def enroll(n: int) -> Enrollment:
            created = await enrollments.insert(eft_enrollment(n, now))
            assert created is not None
            return created

        created: list[Enrollment] = await floor.step("enrollment insert", enroll)
        await floor.step("audit entry", lambda n: audit.materialise([created[n]]))

        def notify(n: int) -> Awaitable[None]:
            notices = [(created[n], notice) for notice in history_notices(created[n])]
            return jobs.enqueue_effects(approved=[], revoked=[], notices=notices)

        await floor.step("e-mail job insert", notify)
        await floor.step("outbox clear", lambda n: enrollments.clear_pending([created[n]]))

        async def claim(_: int) -> Job:
            [job] = await jobs.claim_jobs("floor-worker", 60, datetime.now(UTC), 1)
            return job

        claimed: list[Job] = await floor.step("e-mail job claim", claim)
        done = Decision(Verdict.SUCCEEDED)
        await floor.step(
            "e-mail job outcome", lambda n: jobs.finish_jobs([(claimed[n], done)], datetime.now(UTC))
        )
        return floor.steps
    finally:
        await client.close()


async def store_floor() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        store = start_mongo(Path(data) / "mongo")
        try:
            steps = await _measure(store)
        finally:
            store.stop()
    return {
        "scenario": f"store floor ({FLOOR_WRITES} of each write, store CPU ms per write)",
        **{step.name: round(step.ms_per_write, 2) for step in steps},
        "enroll writes summed": round(sum(step.ms_per_write for step in steps if step.enroll), 2),
    }
