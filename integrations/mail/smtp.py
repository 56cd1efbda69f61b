"""Sending one e-mail over SMTP (aiosmtplib), and what the server's answer means for the job.

`smtp://user:pass@host:port` upgrades with STARTTLS when the server offers it, and insists on
it when TLS is required (production, unless ENROLLWIRE_SMTP_ALLOW_PLAINTEXT); `smtps://`
speaks TLS from the first byte. A 5xx is the server's final word (the job is DEAD); a 4xx, a
refused connection or a timeout may pass (the job retries).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

from domain.jobs import SUCCEEDED, Attempt, CallResult, network_failure

SCHEMES = {"smtp": 587, "smtps": 465}


class BadSmtpUrl(ValueError):
    pass


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    require_tls: bool  # STARTTLS must succeed (smtp://); smtps:// is TLS anyway
    timeout: float = 10.0

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.host}:{self.port}, tls={self.implicit_tls or self.require_tls})"


def smtp_server(url: str, require_tls: bool, timeout: float = 10.0) -> SmtpServer:
    """Raises BadSmtpUrl (naming the setting, never echoing the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadSmtpUrl("ENROLLWIRE_SMTP_URL is not a URL") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise BadSmtpUrl("ENROLLWIRE_SMTP_URL must be smtp://user:pass@host:port or smtps://...")
    return SmtpServer(
        host=parts.hostname,
        port=port or SCHEMES[parts.scheme],
        username=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
        implicit_tls=parts.scheme == "smtps",
        require_tls=require_tls and parts.scheme == "smtp",
        timeout=timeout,
    )


class SmtpSender:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def send(self, mail: EmailMessage) -> Attempt:
        server = self._server
        try:
            await aiosmtplib.send(
                mail,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.implicit_tls,
                # None: STARTTLS when offered; True: refuse to go on without it.
                start_tls=True if server.require_tls else None,
                timeout=server.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            return _answer(min(r.code for r in refused.recipients), "recipient refused")
        except aiosmtplib.SMTPResponseException as answer:
            return _answer(answer.code, answer.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as failure:
            return network_failure(f"SMTP {type(failure).__name__}: {failure}")
        return SUCCEEDED


def _answer(code: int, message: str) -> Attempt:
    error = f"SMTP {code} {message}"[:300]
    if 500 <= code < 600:
        return Attempt(CallResult.PERMANENT, error)
    return Attempt(CallResult.RETRYABLE, error)
