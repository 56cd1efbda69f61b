"""What e-mail needs from the settings, and what the process refuses to start with.

Kept apart from `server.settings` so the mail rules read in one place; each refusal names the
setting to change and never echoes the SMTP password.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr

from integrations.mail.smtp import BadSmtpUrl, SmtpServer, smtp_server


class MailSettings(Protocol):
    """The part of `server.settings.Settings` read here (a Protocol: no import cycle)."""

    @property
    def production(self) -> bool: ...
    @property
    def smtp_url(self) -> SecretStr | None: ...
    @property
    def smtp_allow_plaintext(self) -> bool: ...
    @property
    def smtp_timeout_seconds(self) -> float: ...
    @property
    def mail_from(self) -> str | None: ...
    @property
    def admin_alert_email(self) -> str | None: ...


def _address(value: str | None, name: str) -> None:
    if value is None:
        return
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in '<>,;"' for c in value):
        raise ValueError(f"{name} must be a plain e-mail address (name@example.org)")


def configured_smtp(settings: MailSettings) -> SmtpServer | None:
    """The SMTP server to send through, if one is configured. In production STARTTLS must succeed
    on smtp:// unless ENROLLWIRE_SMTP_ALLOW_PLAINTEXT=true says otherwise."""
    if settings.smtp_url is None:
        return None
    require_tls = settings.production and not settings.smtp_allow_plaintext
    url = settings.smtp_url.get_secret_value()
    return smtp_server(url, require_tls, settings.smtp_timeout_seconds)


def mail_problems(settings: MailSettings) -> None:
    """Raises ValueError (pydantic reports it, the process does not start)."""
    _address(settings.mail_from, "ENROLLWIRE_MAIL_FROM")
    _address(settings.admin_alert_email, "ENROLLWIRE_ADMIN_ALERT_EMAIL")
    try:
        server = configured_smtp(settings)
    except BadSmtpUrl as bad:
        raise ValueError(str(bad)) from None
    if server is not None and not settings.mail_from:
        raise ValueError("ENROLLWIRE_MAIL_FROM must be set when ENROLLWIRE_SMTP_URL is")
    if not settings.production:
        return
    if settings.admin_alert_email and server is None:
        raise ValueError("ENROLLWIRE_ADMIN_ALERT_EMAIL needs ENROLLWIRE_SMTP_URL in production")
    if server is not None and server.password and not (server.implicit_tls or server.require_tls):
        raise ValueError(
            "ENROLLWIRE_SMTP_ALLOW_PLAINTEXT=true would send the SMTP password unencrypted: "
            "use smtps:// or a server that offers STARTTLS"
        )
