"""What notification jobs send through, opened for a process by the composition root.

Configured SMTP (ENROLLWIRE_SMTP_URL) when set; in the development sandbox without it, a local
SMTP sink that prints every e-mail to the log (`sandbox.mail_sink`), so `make run` shows them
and never sends anywhere; otherwise the notify webhook alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from domain.ports import CourseStore
from integrations.mail.render import School
from integrations.mail.smtp import SmtpSender
from jobs.notify import Mail, Notifier
from server.mail_settings import configured_smtp
from server.settings import Settings

SANDBOX_FROM = "enrollwire@localhost.localdomain"
SANDBOX_ADMIN = "admin@localhost.localdomain"


@contextlib.asynccontextmanager
async def open_notifier(settings: Settings, courses: CourseStore) -> AsyncIterator[Notifier]:
    school = School(settings.school_name, settings.eft_instructions, settings.base_url)
    server = configured_smtp(settings)
    if server is not None:
        assert settings.mail_from is not None  # the settings refuse SMTP without it
        mail = Mail(SmtpSender(server), settings.mail_from, settings.admin_alert_email)
        yield Notifier(school, courses, mail)
    elif settings.sandbox_enabled:
        # Imported here: aiosmtpd is a development package, absent from the production image.
        from sandbox.mail_sink import mail_sink

        async with mail_sink() as sink:
            sender = settings.mail_from or SANDBOX_FROM
            mail = Mail(SmtpSender(sink), sender, settings.admin_alert_email or SANDBOX_ADMIN)
            yield Notifier(school, courses, mail)
    else:
        yield Notifier(school, courses)
