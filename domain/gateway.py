"""The payment-gateway port: what enrolling and reconciliation need from whoever takes cards.

Adapters: `sandbox` (the built-in checkout, for development) and `ikhokha` (iK Pay). A gateway
that cannot be reached or refuses raises GatewayUnavailable: nothing was charged, and the
enrollment goes to PAYMENT_FAILED with Retry Payment on offer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.money import Money


@dataclass(frozen=True)
class CheckoutRequest:
    reference: str  # our payment reference: the gateway echoes it back
    amount: Money  # what is still due, in minor units
    user_id: str
    course_id: str
    description: str


@dataclass(frozen=True)
class Checkout:
    transaction_id: str  # the gateway's id for this checkout (iK Pay's paylinkID)
    redirect_url: str  # where the student pays


class CheckoutState(StrEnum):
    OPEN = "OPEN"  # not paid yet: keep asking until the checkout's TTL
    PAID = "PAID"
    FAILED = "FAILED"


@dataclass(frozen=True)
class CheckoutStatus:
    state: CheckoutState
    transaction_id: str
    reference: str | None = None


@dataclass(frozen=True)
class GatewayCallback:
    """A verified callback: the event id makes its effect exactly-once across redeliveries."""

    event_id: str
    transaction_id: str
    reference: str | None
    state: CheckoutState


class GatewayUnavailable(Exception):
    """Unreachable, timed out, 5xx, or refused (`outcome` says which, for metrics and logs)."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome


class CallbackRejected(Exception):
    """A callback that must change nothing; `code` is the contract's webhook error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PaymentGateway(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> Checkout: ...

    async def checkout_status(self, transaction_id: str) -> CheckoutStatus: ...

    def parse_callback(self, path: str, headers: Mapping[str, str], body: bytes) -> GatewayCallback:
        """Verifies the signature (constant time), then parses; CallbackRejected otherwise."""
