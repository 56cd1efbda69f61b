"""The audit log: an append-only collection. Entries are only ever inserted (a duplicate id is
the same entry again, and changes nothing); no function here or elsewhere updates or deletes one,
which `tests/store/test_audit_append_only.py` checks over the code that names the collection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from domain.actors import Actor, ActorKind
from domain.audit import AuditEntry, AuditFilter, AuditSource, entry_of
from domain.enrollment import Enrollment
from domain.ports import Page
from store.database import Collections, Doc, insert_new
from store.pages import created_between, keyset_page

# A course's, coupon's or job's entries waiting to be copied, written with the change itself.
OUTBOX = "auditOutbox"


def _document(entry: AuditEntry) -> Doc:
    return {
        "_id": entry.id,
        # `createdAt` is the keyset's time, as in every other collection.
        "createdAt": entry.at,
        "actor": {"kind": entry.actor.kind.value, "id": entry.actor.id},
        "action": entry.action,
        "enrollmentId": entry.enrollment_id,
        "targetId": entry.target_id,
        "detail": entry.detail,
    }


def outbox_document(entry: AuditEntry | None) -> Doc:
    """The fields that put `entry` in a new document's audit outbox (none without an entry)."""
    return {} if entry is None else {OUTBOX: [_document(entry)]}


def outbox_push(entry: AuditEntry) -> Doc:
    """The `$push` that puts `entry` in an existing document's audit outbox."""
    return {OUTBOX: {"$each": [_document(entry)]}}


def _entry(doc: Doc) -> AuditEntry:
    actor = doc["actor"]
    return AuditEntry(
        id=doc["_id"],
        at=doc["createdAt"],
        actor=Actor(ActorKind(actor["kind"]), actor.get("id")),
        action=doc["action"],
        enrollment_id=doc.get("enrollmentId"),
        target_id=doc.get("targetId"),
        detail=doc.get("detail"),
    )


def _query(where: AuditFilter) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if where.actor_id is not None:
        query["actor.id"] = where.actor_id
    if where.action is not None:
        query["action"] = where.action
    if where.enrollment_id is not None:
        query["enrollmentId"] = where.enrollment_id
    created_between(query, where.since, where.until)
    return query


class MongoAuditLog:
    def __init__(self, collections: Collections) -> None:
        self._audit = collections.audit
        self._sources = {
            AuditSource.COURSES: collections.courses,
            AuditSource.COUPONS: collections.coupons,
            AuditSource.JOBS: collections.jobs,
        }

    async def _insert(self, entry: AuditEntry) -> bool:
        try:
            await self._audit.insert_one(_document(entry))
        except DuplicateKeyError:
            return False
        return True

    async def materialise(self, enrollments: Sequence[Enrollment]) -> None:
        await insert_new(
            self._audit,
            [
                _document(entry_of(enrollment, change))
                for enrollment in enrollments
                for change in enrollment.unaudited()
            ],
        )

    async def append(self, entry: AuditEntry) -> bool:
        return await self._insert(entry)

    async def settle(self, source: AuditSource, doc_id: str) -> None:
        collection = self._sources[source]
        doc = await collection.find_one({"_id": doc_id}, {OUTBOX: 1})
        waiting: list[Doc] = [] if doc is None else doc.get(OUTBOX, [])
        if not waiting:
            return
        await insert_new(self._audit, waiting)
        # Only what was copied: an entry a later change put there meanwhile waits for its writer.
        copied = [entry["_id"] for entry in waiting]
        await collection.update_one({"_id": doc_id}, {"$pull": {OUTBOX: {"_id": {"$in": copied}}}})

    async def settle_stale(self, older_than: datetime, limit: int) -> int:
        settled = 0
        for source, collection in self._sources.items():
            stale = collection.find({f"{OUTBOX}.createdAt": {"$lt": older_than}}, {"_id": 1}).limit(limit)
            for doc_id in [doc["_id"] async for doc in stale]:
                await self.settle(source, doc_id)
                settled += 1
        return settled

    async def page(self, where: AuditFilter, first: int, after: str | None) -> Page[AuditEntry]:
        return await keyset_page(self._audit, _query(where), first, after, _entry, newest_first=True)
