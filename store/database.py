"""The MongoDB collections, the client that reaches them, and the ids the store mints."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Doc = dict[str, Any]


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
