"""Keyset pagination over (createdAt, _id): pages stay correct while new rows arrive."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo.asynchronous.collection import AsyncCollection

from domain.errors import DomainError, ErrorCode
from domain.ports import Page
from store.database import Doc

T = TypeVar("T")


def created_between(query: dict[str, Any], since: datetime | None, until: datetime | None) -> None:
    """Narrow `query` to `createdAt` in [since, until), the keyset's own field."""
    window: dict[str, Any] = {}
    if since is not None:
        window["$gte"] = since
    if until is not None:
        window["$lt"] = until
    if window:
        query["createdAt"] = window


def encode_cursor(created_at: datetime, row_id: str) -> str:
    millis = int(created_at.timestamp() * 1000)
    return base64.urlsafe_b64encode(f"{millis}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        millis, row_id = raw.split(":", 1)
        return datetime.fromtimestamp(int(millis) / 1000, UTC), row_id
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError):
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "invalid cursor", "after") from None


def encode_code_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(code.encode()).decode().rstrip("=")


def decode_code_cursor(cursor: str) -> str:
    """A cursor over a unique string key (a coupon's code)."""
    try:
        code = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        code = None
    if code is None or encode_code_cursor(code) != cursor:  # the decoder skips stray characters
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "invalid cursor", "after")
    return code


def past_cursor(query: dict[str, Any], after: str | None, *, newest_first: bool = False) -> dict[str, Any]:
    """`query` narrowed to the rows beyond the cursor in the page order."""
    keyset = dict(query)
    if after is None:
        return keyset
    beyond = "$lt" if newest_first else "$gt"
    created_at, row_id = decode_cursor(after)
    keyset["$and"] = [
        *keyset.pop("$and", []),
        {"$or": [{"createdAt": {beyond: created_at}}, {"createdAt": created_at, "_id": {beyond: row_id}}]},
    ]
    return keyset


async def keyset_page(
    collection: AsyncCollection[Doc],
    query: dict[str, Any],
    first: int,
    after: str | None,
    row: Callable[[Doc], T],
    projection: dict[str, Any] | None = None,
    *,
    newest_first: bool = False,
) -> Page[T]:
    """The rows after the cursor (at most `first`), whether more follow, and the total matching."""
    keyset = past_cursor(query, after, newest_first=newest_first)
    direction = -1 if newest_first else 1
    order = [("createdAt", direction), ("_id", direction)]
    cursor = collection.find(keyset, projection).sort(order).limit(first + 1)
    docs = [doc async for doc in cursor]
    total = await collection.count_documents(query)
    shown = docs[:first]
    cursors = [encode_cursor(doc["createdAt"], doc["_id"]) for doc in shown]
    return Page([row(doc) for doc in shown], len(docs) > first, total, cursors)
