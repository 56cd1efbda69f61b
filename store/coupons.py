"""Coupons: every reservation, redemption and release is one conditional update.

A coupon document carries its live holds (`holds: [{enrollmentId, userId, expiresAt}]`) and
`redeemed`. A hold counts while `expiresAt` is null (waits for an admin) or in the future:
the reservation filter compares with the clock itself, so a lapsed hold stops counting at
once, without waiting for a sweeper or a TTL monitor.

A fixed-amount coupon's document carries `currency` (that of `amountOff`); a reservation
filters on it too, so a coupon never holds for a course priced in another currency.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from domain.audit import AuditEntry
from domain.coupon import Coupon, NewCoupon
from domain.money import Money
from domain.ports import Page
from store.audit import outbox_document, outbox_push
from store.database import Collections, Doc
from store.pages import decode_code_cursor, encode_code_cursor

# Coupons stored before coupons carried a currency have none: the school is South African, and
# every fixed amount it had given out was in rand.
LEGACY_CURRENCY = "ZAR"


def _live(now: datetime) -> list[dict[str, Any]]:
    return [{"expiresAt": None}, {"expiresAt": {"$gt": now}}]


def _live_holds(now: datetime) -> dict[str, Any]:
    return {
        "$filter": {
            "input": "$holds",
            "as": "h",
            "cond": {"$or": [{"$eq": ["$$h.expiresAt", None]}, {"$gt": ["$$h.expiresAt", now]}]},
        }
    }


def _applies_in(currency: str) -> dict[str, Any]:
    """A percentage, or a fixed amount in `currency` (an aggregation expression, for `$expr`)."""
    return {
        "$or": [
            {"$eq": [{"$ifNull": ["$amountOff", None]}, None]},
            {"$eq": [{"$ifNull": ["$currency", LEGACY_CURRENCY]}, currency]},
        ]
    }


def _coupon(doc: Doc, now: datetime) -> Coupon:
    live = sum(1 for h in doc["holds"] if h["expiresAt"] is None or h["expiresAt"] > now)
    amount_off = doc.get("amountOff")
    return Coupon(
        code=doc["_id"],
        percent_off=doc.get("percentOff"),
        amount_off=None if amount_off is None else Money(amount_off, doc.get("currency") or LEGACY_CURRENCY),
        max_redemptions=doc["maxRedemptions"],
        redeemed=doc["redeemed"],
        reserved=live,
        expires_at=doc.get("expiresAt"),
        disabled_at=doc.get("disabledAt"),
    )


class MongoCouponStore:
    def __init__(self, collections: Collections) -> None:
        self._coupons = collections.coupons

    async def insert_coupon(self, coupon: NewCoupon, entry: AuditEntry | None = None) -> bool:
        doc: Doc = outbox_document(entry) | {
            "_id": coupon.code,
            "percentOff": coupon.percent_off,
            "amountOff": None if coupon.amount_off is None else coupon.amount_off.amount,
            "currency": None if coupon.amount_off is None else coupon.amount_off.currency,
            "maxRedemptions": coupon.max_redemptions,
            "expiresAt": coupon.expires_at,
            "redeemed": 0,
            "redeemedBy": [],
            "holds": [],
            "released": 0,
            "lapsed": 0,
        }
        try:
            await self._coupons.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get_coupon(self, code: str, now: datetime) -> Coupon | None:
        doc = await self._coupons.find_one({"_id": code})
        return None if doc is None else _coupon(doc, now)

    async def reserve(
        self, code: str, enrollment_id: str, user_id: str, now: datetime, expires_at: datetime, currency: str
    ) -> Coupon | None:
        room = {"$lt": [{"$add": ["$redeemed", {"$size": _live_holds(now)}]}, "$maxRedemptions"]}
        doc = await self._coupons.find_one_and_update(
            {
                "_id": code,
                "$or": _live(now),
                "disabledAt": None,  # withdrawn by an admin (missing on older coupons: null matches)
                "redeemedBy": {"$ne": user_id},
                "holds": {"$not": {"$elemMatch": {"userId": user_id, "$or": _live(now)}}},
                "$expr": {"$and": [room, _applies_in(currency)]},
            },
            {"$push": {"holds": {"enrollmentId": enrollment_id, "userId": user_id, "expiresAt": expires_at}}},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _coupon(doc, now)

    async def disable(self, code: str, now: datetime, entry: AuditEntry) -> Coupon | None:
        doc = await self._coupons.find_one_and_update(
            {"_id": code, "disabledAt": None},
            {"$set": {"disabledAt": now}, "$push": outbox_push(entry)},
            return_document=ReturnDocument.AFTER,
        )
        return None if doc is None else _coupon(doc, now)

    async def page(self, first: int, after: str | None, now: datetime) -> Page[Coupon]:
        # By code, the _id: the keyset is the code itself, and every code is unique.
        query: Doc = {} if after is None else {"_id": {"$gt": decode_code_cursor(after)}}
        cursor = self._coupons.find(query).sort("_id", 1).limit(first + 1)
        docs = [doc async for doc in cursor]
        shown = docs[:first]
        total = await self._coupons.count_documents({})
        cursors = [encode_code_cursor(doc["_id"]) for doc in shown]
        return Page([_coupon(doc, now) for doc in shown], len(docs) > first, total, cursors)

    async def user_holds_or_redeemed(self, code: str, user_id: str, now: datetime) -> bool:
        query = {
            "_id": code,
            "$or": [
                {"redeemedBy": user_id},
                {"holds": {"$elemMatch": {"userId": user_id, "$or": _live(now)}}},
            ],
        }
        return await self._coupons.find_one(query, {"_id": 1}) is not None

    async def pin_hold(self, code: str, enrollment_id: str) -> bool:
        pinned = {
            "$map": {
                "input": "$holds",
                "as": "h",
                "in": {
                    "$cond": [
                        {"$eq": ["$$h.enrollmentId", enrollment_id]},
                        {"$mergeObjects": ["$$h", {"expiresAt": None}]},
                        "$$h",
                    ]
                },
            }
        }
        doc = await self._coupons.find_one_and_update(
            {"_id": code, "holds.enrollmentId": enrollment_id}, [{"$set": {"holds": pinned}}]
        )
        return doc is not None

    async def redeem_hold(self, code: str, enrollment_id: str, user_id: str) -> bool:
        doc = await self._coupons.find_one_and_update(
            {"_id": code, "holds.enrollmentId": enrollment_id},
            {
                "$pull": {"holds": {"enrollmentId": enrollment_id}},
                "$inc": {"redeemed": 1},
                "$addToSet": {"redeemedBy": user_id},
            },
        )
        return doc is not None

    async def release_hold(self, code: str, enrollment_id: str, *, lapsed: bool) -> bool:
        doc = await self._coupons.find_one_and_update(
            {"_id": code, "holds.enrollmentId": enrollment_id},
            {
                "$pull": {"holds": {"enrollmentId": enrollment_id}},
                "$inc": {"lapsed" if lapsed else "released": 1},
            },
        )
        return doc is not None
