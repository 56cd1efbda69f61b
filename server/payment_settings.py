"""What card payments need from the settings, and what production refuses to start with.

Kept apart from `server.settings` so the payment rules read in one place; each refusal names
the setting to change.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr


class GatewayName(StrEnum):
    SANDBOX = "sandbox"
    IKHOKHA = "ikhokha"


class PaymentSettings(Protocol):
    """The part of `server.settings.Settings` read here (a Protocol: no import cycle)."""

    @property
    def production(self) -> bool: ...
    @property
    def gateway(self) -> GatewayName: ...
    @property
    def sandbox(self) -> bool | None: ...
    @property
    def ikhokha_app_id(self) -> str | None: ...
    @property
    def ikhokha_app_secret(self) -> SecretStr | None: ...
    @property
    def ikhokha_api_url(self) -> str: ...
    @property
    def ikhokha_mode(self) -> str | None: ...
    @property
    def public_url(self) -> str | None: ...


def card_payment_problems(settings: PaymentSettings) -> None:
    """Raises ValueError (pydantic reports it, the process does not start) in production for a
    setting that would take no real money, or take it without a way to check it."""
    if not settings.production:
        return
    if settings.gateway is GatewayName.SANDBOX:
        raise ValueError("ENROLLWIRE_PAYMENT_GATEWAY=sandbox is refused in production: use ikhokha")
    if settings.sandbox:
        raise ValueError("ENROLLWIRE_SANDBOX=true is refused in production")
    if not settings.ikhokha_app_id:
        raise ValueError("ENROLLWIRE_IKHOKHA_APP_ID must be set when the payment gateway is ikhokha")
    secret = settings.ikhokha_app_secret
    if secret is None or not secret.get_secret_value().strip():
        raise ValueError("ENROLLWIRE_IKHOKHA_APP_SECRET must be set when the payment gateway is ikhokha")
    # The gateway sends callbacks and browsers to this URL: over plain HTTP both could be forged
    # or read on the way.
    public = settings.public_url
    if not public or urlsplit(public).scheme != "https" or not urlsplit(public).netloc:
        raise ValueError("ENROLLWIRE_PUBLIC_URL must be an https:// URL in production")
    if urlsplit(settings.ikhokha_api_url).scheme != "https":
        raise ValueError("ENROLLWIRE_IKHOKHA_API_URL must be an https:// URL in production")


def ikhokha_mode(settings: PaymentSettings) -> str:
    return settings.ikhokha_mode or ("live" if settings.production else "test")
