"""The `sandbox` adapter of the payment-gateway port: today's built-in checkout (`sandbox.checkout`).

Nothing leaves the process: the checkout is our own `/sandbox/checkout` page, which pays through
the generic signed webhook. Its transaction id derives from the reference; its status stays
OPEN (the webhook, not a status lookup, settles it), so reconciliation only expires it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

from domain.gateway import (
    CallbackRejected,
    Checkout,
    CheckoutRequest,
    CheckoutState,
    CheckoutStatus,
    GatewayCallback,
)
from domain.ports import Observer

PREFIX = "sandbox_"


class SandboxGateway:
    name = "sandbox"

    def __init__(self, checkout_url: str, observer: Observer) -> None:
        self._checkout_url = checkout_url
        self._observer = observer

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        started = time.perf_counter()
        url = f"{self._checkout_url}?{urlencode({'reference': request.reference})}"
        checkout = Checkout(transaction_id=PREFIX + request.reference, redirect_url=url)
        self._observer.gateway_request(self.name, "create_checkout", "ok", time.perf_counter() - started)
        return checkout

    async def checkout_status(self, transaction_id: str) -> CheckoutStatus:
        self._observer.gateway_request(self.name, "checkout_status", "ok", 0.0)
        return CheckoutStatus(CheckoutState.OPEN, transaction_id, transaction_id.removeprefix(PREFIX))

    def parse_callback(self, path: str, headers: Mapping[str, str], body: bytes) -> GatewayCallback:
        # The sandbox pays through /webhooks/payments; it never calls back on this port.
        raise CallbackRejected("BAD_SIGNATURE", "the sandbox gateway sends no callbacks")
