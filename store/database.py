"""The MongoDB collections, the client that reaches them, and the ids the store mints."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, WriteError

Doc = dict[str, Any]

DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Collections:
    db: AsyncDatabase[Doc]
    courses: AsyncCollection[Doc]
    coupons: AsyncCollection[Doc]
    enrollments: AsyncCollection[Doc]
    jobs: AsyncCollection[Doc]
    checkouts: AsyncCollection[Doc]
    audit: AsyncCollection[Doc]

    @classmethod
    def of(cls, client: AsyncMongoClient[Doc], name: str) -> Collections:
        db = client[name]
        return cls(db, db.courses, db.coupons, db.enrollments, db.jobs, db.checkouts, db.audit)


def connect(url: str, **options: Any) -> AsyncMongoClient[Doc]:
    # tz_aware: every datetime leaving the store is UTC-aware, like the clock's.
    return AsyncMongoClient(url, tz_aware=True, connect=False, **options)


def new_id() -> str:
    """A fresh document id, unique without a round trip and unguessable: 96 random bits in the
    shape of an ObjectId. Not ObjectIds themselves, whose time and counter let a student who sees
    her own ids count and time everyone else's (FORBIDDEN for another's, not-found for none)."""
    return secrets.token_hex(12)


@overload
def stored(moment: datetime) -> datetime: ...
@overload
def stored(moment: None) -> None: ...
def stored(moment: datetime | None) -> datetime | None:
    """`moment` as MongoDB keeps it (milliseconds), so a document known without reading it back
    carries exactly the times a read would return."""
    if moment is None:
        return None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


async def insert_each(collection: AsyncCollection[Doc], docs: Sequence[Doc]) -> dict[int, Doc]:
    """Inserts `docs` unordered, in one round trip: every document is tried. The write error of
    each one the store refused (a unique index), by its position; what failed the command as a
    whole is raised."""
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as failed:
        errors: list[Doc] = failed.details.get("writeErrors") or []
        if not errors:
            raise
        return {error["index"]: error for error in errors}
    return {}


async def insert_new(collection: AsyncCollection[Doc], docs: Sequence[Doc]) -> int:
    """Inserts `docs`, each unless its `_id` is already there; how many were new.

    One already written (a retry, a sweep, a copy cut short by a crash) is refused by its id and
    changes nothing. Cheaper than an upsert per document, which first has to look for it."""
    if not docs:
        return 0
    refused = await insert_each(collection, docs)
    for error in refused.values():
        if error.get("code") != DUPLICATE_KEY:
            raise WriteError(error.get("errmsg", "insert refused"), error.get("code"), error)
    return len(docs) - len(refused)
