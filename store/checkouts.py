"""Checkouts opened at the card gateway, keyed by the gateway's own id (`_id`).

A callback names that id (and usually our reference), so both lookups are one indexed read.
"""

from __future__ import annotations

from domain.checkouts import CheckoutRecord
from domain.money import Money
from store.database import Collections, Doc


def checkout_document(checkout: CheckoutRecord) -> Doc:
    return {
        "_id": checkout.transaction_id,
        "enrollmentId": checkout.enrollment_id,
        "reference": checkout.reference,
        "amount": checkout.amount.amount,
        "currency": checkout.amount.currency,
        "gateway": checkout.gateway,
        "redirectUrl": checkout.redirect_url,
        "createdAt": checkout.created_at,
        "expiresAt": checkout.expires_at,
    }


def checkout_from(doc: Doc) -> CheckoutRecord:
    return CheckoutRecord(
        transaction_id=doc["_id"],
        enrollment_id=doc["enrollmentId"],
        reference=doc["reference"],
        amount=Money(doc["amount"], doc["currency"]),
        gateway=doc["gateway"],
        redirect_url=doc.get("redirectUrl", ""),
        created_at=doc["createdAt"],
        expires_at=doc["expiresAt"],
    )


class MongoCheckoutStore:
    def __init__(self, collections: Collections) -> None:
        self._checkouts = collections.checkouts

    async def record(self, checkout: CheckoutRecord) -> None:
        # Insert-only: a gateway that hands out the same id twice cannot rewrite the amount.
        document = checkout_document(checkout)
        del document["_id"]  # the filter's
        await self._checkouts.update_one(
            {"_id": checkout.transaction_id}, {"$setOnInsert": document}, upsert=True
        )

    async def get(self, transaction_id: str) -> CheckoutRecord | None:
        doc = await self._checkouts.find_one({"_id": transaction_id})
        return None if doc is None else checkout_from(doc)

    async def by_reference(self, reference: str) -> CheckoutRecord | None:
        doc = await self._checkouts.find_one({"reference": reference})
        return None if doc is None else checkout_from(doc)
