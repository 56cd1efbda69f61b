"""E-mail settings are checked before the process starts: each refusal names the setting, the
SMTP password never shows, and production insists on TLS unless told otherwise."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from server.mail_settings import configured_smtp
from server.settings import Settings
from tests.server.test_payment_settings import PRODUCTION

PASSWORD = "smtp-password-never-printed-42"
SMTP: dict[str, Any] = {
    "smtp_url": f"smtp://mailer:{PASSWORD}@mail.example.org:587",
    "mail_from": "school@example.org",
}


def test_production_requires_starttls_on_smtp_unless_plaintext_is_allowed() -> None:
    production = configured_smtp(Settings(**PRODUCTION, **SMTP))
    assert production is not None and production.require_tls and not production.implicit_tls
    assert (production.host, production.port, production.username) == ("mail.example.org", 587, "mailer")
    assert PASSWORD not in repr(production) and PASSWORD not in repr(Settings(**PRODUCTION, **SMTP))
    development = configured_smtp(Settings(**SMTP))
    assert development is not None and not development.require_tls  # STARTTLS when offered
    implicit_tls: dict[str, Any] = {"smtp_url": "smtps://m:p@mail.example.org", "mail_from": "a@b.org"}
    implicit = configured_smtp(Settings(**PRODUCTION, **implicit_tls))
    assert implicit is not None and implicit.implicit_tls and implicit.port == 465
    no_password: dict[str, Any] = {"smtp_url": "smtp://relay.internal:25", "mail_from": "school@example.org"}
    relay = configured_smtp(Settings(**PRODUCTION, **no_password, smtp_allow_plaintext=True))
    assert relay is not None and not relay.require_tls
    assert configured_smtp(Settings(**PRODUCTION)) is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"smtp_url": SMTP["smtp_url"]}, "ENROLLWIRE_MAIL_FROM"),
        ({**SMTP, "smtp_url": f"http://u:{PASSWORD}@mail.example.org"}, "ENROLLWIRE_SMTP_URL"),
        ({**SMTP, "smtp_url": f"smtp://u:{PASSWORD}@:25"}, "ENROLLWIRE_SMTP_URL"),
        ({**SMTP, "smtp_url": f"smtp://u:{PASSWORD}@mail.example.org:99999"}, "ENROLLWIRE_SMTP_URL"),
        ({**SMTP, "mail_from": "not an address"}, "ENROLLWIRE_MAIL_FROM"),
        ({**SMTP, "mail_from": "a@b.org\r\nBcc: x@y.org"}, "ENROLLWIRE_MAIL_FROM"),
        ({**SMTP, "admin_alert_email": "alerts"}, "ENROLLWIRE_ADMIN_ALERT_EMAIL"),
        ({**SMTP, "smtp_allow_plaintext": True}, "ENROLLWIRE_SMTP_ALLOW_PLAINTEXT"),
        ({"admin_alert_email": "alerts@example.org"}, "ENROLLWIRE_ADMIN_ALERT_EMAIL"),
    ],
)
def test_production_refuses_unsafe_mail_settings_naming_them(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**(PRODUCTION | change))
    assert named in str(refused.value)
    assert PASSWORD not in str(refused.value)
