"""Production refuses to start with settings that would take no real money or take it unsafely;
each refusal names the setting. Secrets never show in a repr or a refusal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from server.payment_settings import GatewayName
from server.settings import Settings
from tests.servers import AUTH_SECRET, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]
APP_SECRET = "ik-app-secret-never-printed-0123456789"
PRODUCTION: dict[str, Any] = {
    "env": "production",
    "mongodb_url": "mongodb://127.0.0.1:1",
    "redis_url": "redis://127.0.0.1:1",
    "auth_secret": AUTH_SECRET,
    "webhook_secret": WEBHOOK_SECRET,
    "public_url": "https://school.example",
    "ikhokha_app_id": "APP-1",
    "ikhokha_app_secret": APP_SECRET,
    "trusted_documents": "off",
}


def test_production_with_every_payment_setting_starts_on_ikhokha_live() -> None:
    settings = Settings(**PRODUCTION)
    assert (settings.gateway, settings.ikhokha_api_url) == (GatewayName.IKHOKHA, "https://api.ikhokha.com")
    assert APP_SECRET not in repr(settings) and APP_SECRET not in str(settings.model_dump())
    development = Settings()
    assert development.gateway is GatewayName.SANDBOX


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"payment_gateway": "sandbox"}, "ENROLLWIRE_PAYMENT_GATEWAY"),
        ({"sandbox": True}, "ENROLLWIRE_SANDBOX"),
        ({"ikhokha_app_id": None}, "ENROLLWIRE_IKHOKHA_APP_ID"),
        ({"ikhokha_app_secret": None}, "ENROLLWIRE_IKHOKHA_APP_SECRET"),
        ({"ikhokha_app_secret": "  "}, "ENROLLWIRE_IKHOKHA_APP_SECRET"),
        ({"public_url": None}, "ENROLLWIRE_PUBLIC_URL"),
        ({"public_url": "http://school.example"}, "ENROLLWIRE_PUBLIC_URL"),
        ({"ikhokha_api_url": "http://api.ikhokha.com"}, "ENROLLWIRE_IKHOKHA_API_URL"),
    ],
)
def test_production_refuses(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{**PRODUCTION, **change})
    message = str(refused.value)
    assert named in message
    assert APP_SECRET not in message and AUTH_SECRET not in message


def test_the_server_does_not_start_and_says_why() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENROLLWIRE_")}
    env |= {f"ENROLLWIRE_{k.upper()}": str(v) for k, v in PRODUCTION.items()}
    env["ENROLLWIRE_PAYMENT_GATEWAY"] = "sandbox"
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"], env=env, cwd=ROOT, capture_output=True, timeout=60
    )
    assert done.returncode != 0
    output = (done.stdout + done.stderr).decode()
    assert "ENROLLWIRE_PAYMENT_GATEWAY=sandbox is refused in production" in output
    assert APP_SECRET not in output and AUTH_SECRET not in output
