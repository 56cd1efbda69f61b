"""A real SMTP server (aiosmtpd) in the test process, answering from a script.

Every DATA it receives is recorded with the answer it gave; `answers` scripts the next
answers (then 250), and `hold` keeps the next DATA unanswered until `release()`, so a test
can kill the sender mid-send. aiosmtpd runs its own thread and loop: tests poll `received`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from sandbox.embedded import free_port

ACCEPTED = "250 OK"


@dataclass(frozen=True)
class Delivery:
    recipients: tuple[str, ...]
    mail: EmailMessage
    answer: str

    @property
    def template(self) -> str:
        return str(self.mail["X-Enrollwire-Template"])

    def part(self, subtype: str) -> str:
        body = self.mail.get_body((subtype,))
        assert body is not None and isinstance(body, EmailMessage)
        return str(body.get_content())


@dataclass
class RecordingSmtp:
    port: int = field(default_factory=free_port)
    answers: list[str] = field(default_factory=list)
    hold: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.answer == ACCEPTED]

    def release(self) -> None:
        self._released.set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        answer = self.answers.pop(0) if self.answers else ACCEPTED
        if self.hold:
            self.hold = False
            answer = "451 4.3.0 held by the test"
            self.deliveries.append(Delivery(tuple(envelope.rcpt_tos), mail, answer))
            # The test's loop sets a threading.Event: this loop (aiosmtpd's thread) can only poll it.
            while not self._released.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            return answer
        self.deliveries.append(Delivery(tuple(envelope.rcpt_tos), mail, answer))
        return answer

    @contextlib.contextmanager
    def serving(self) -> Iterator[RecordingSmtp]:
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        try:
            yield self
        finally:
            self.release()
            controller.stop()
