"""A local SMTP server for `make run`: every notification e-mail is printed to the log, and
nothing is sent anywhere. aiosmtpd is a development package: imported only here, and this
module only when the sandbox is on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from integrations.mail.smtp import SmtpServer

log = logging.getLogger(__name__)


class LoggingHandler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        text = mail.get_body(("plain",))
        log.info(
            "sandbox mail to %s: %s\n%s",
            ", ".join(envelope.rcpt_tos),
            mail["Subject"],
            "" if text is None else text.get_content(),
        )
        return "250 OK (sandbox: logged, not sent)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def mail_sink() -> AsyncIterator[SmtpServer]:
    controller = Controller(LoggingHandler(), hostname="127.0.0.1", port=_free_port())
    # Its own thread and loop: start() waits until the server answers.
    await asyncio.to_thread(controller.start)
    log.info("sandbox mail sink on 127.0.0.1:%d: e-mails are printed here, never sent", controller.port)
    try:
        yield SmtpServer("127.0.0.1", controller.port, None, None, implicit_tls=False, require_tls=False)
    finally:
        await asyncio.to_thread(controller.stop)
