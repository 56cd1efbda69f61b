"""Picks the payment gateway the settings name, wired to the process's one outbound client."""

from __future__ import annotations

import httpx2 as httpx

from domain.gateway import PaymentGateway
from domain.ports import Observer
from integrations.ikhokha.gateway import IkhokhaConfig, IkhokhaGateway
from sandbox.gateway import SandboxGateway
from sandbox.ikpay_mount import standin_credentials
from server.payment_settings import GatewayName, ikhokha_mode
from server.settings import Settings


def build_gateway(settings: Settings, http: httpx.AsyncClient | None, observer: Observer) -> PaymentGateway:
    if settings.gateway is GatewayName.SANDBOX:
        return SandboxGateway(f"{settings.base_url}/sandbox/checkout", observer)
    if http is None:
        raise ValueError("the ikhokha gateway needs the process's HTTP client")
    api_url, app_id = settings.ikhokha_api_url, settings.ikhokha_app_id
    secret = settings.ikhokha_app_secret
    app_secret = secret.get_secret_value() if secret is not None else None
    if (standin := standin_credentials(settings)) is not None:  # development: /sandbox/ikpay
        api_url, app_id, app_secret = standin.api_url, standin.app_id, standin.app_secret
    if not app_id or app_secret is None:
        raise ValueError(
            "ENROLLWIRE_IKHOKHA_APP_ID and ENROLLWIRE_IKHOKHA_APP_SECRET must be set for ikhokha"
        )
    config = IkhokhaConfig(
        api_url=api_url,
        app_id=app_id,
        app_secret=app_secret,
        public_url=settings.base_url,
        mode=ikhokha_mode(settings),
        entity_id=settings.ikhokha_entity_id,
        timeout_seconds=settings.ikhokha_timeout_seconds,
    )

    def observe(operation: str, outcome: str, seconds: float) -> None:
        observer.gateway_request(GatewayName.IKHOKHA.value, operation, outcome, seconds)

    return IkhokhaGateway(http, config, observe)
