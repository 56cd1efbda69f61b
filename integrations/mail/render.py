"""A notification job as an e-mail: text and HTML parts from the package's templates.

The HTML part is autoescaped (a course titled `<script>` arrives as text); the text part is
not HTML and is not escaped. The `Message-ID` is derived from the job id, so a send that is
retried (after a crash, a 4xx) is recognisable as the same mail to the receiving end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from domain.jobs import Job, JobKind
from domain.notifications import Alert, Template

SUBJECTS: dict[str, str] = {
    Template.ENROLLMENT_RECEIVED: "Your enrollment in {course}: pay by bank transfer",
    Template.PAYMENT_RECEIVED: "Payment received for {course}",
    Template.APPROVED: "You are enrolled in {course}",
    Template.REJECTED: "Your enrollment in {course} was not approved",
    Template.PAYMENT_FAILED: "Your payment for {course} failed",
    Template.ACCESS_READY: "Your access to {course} is ready",
    Template.ACCESS_FAILED: "We could not set up your access to {course} yet",
    Template.REVOKED: "Your access to {course} has ended",
}
ALERTS: dict[str, str] = {
    Alert.CURRENCY_MISMATCH: "Payment in the wrong currency for {course}",
    Alert.PAYMENT_ON_CLOSED_ENROLLMENT: "Payment on a closed enrollment for {course}",
    Alert.ACCESS_DEAD: "Access provisioning gave up for {course}",
    Alert.CHECKOUT_EXPIRED: "A card checkout for {course} expired unpaid",
}


@dataclass(frozen=True)
class School:
    name: str
    eft_instructions: str | None
    base_url: str  # the catalogue's links start here


@dataclass(frozen=True)
class Letter:
    """What one notification says, before it is addressed."""

    subject: str
    text: str
    html: str


class UnknownTemplate(ValueError):
    pass


class Renderer:
    def __init__(self, school: School) -> None:
        self._school = school
        self._env = Environment(
            loader=PackageLoader("integrations", "mail/templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        )  # a fact a notice lacks (an older job's data) renders empty rather than failing the job

    def letter(self, job: Job, course_title: str, links: Mapping[str, str | None]) -> Letter:
        template = job.template or Template.APPROVED.value  # approval's job before templates existed
        admin = job.kind is JobKind.NOTIFY_ADMINS
        subjects = ALERTS if admin else SUBJECTS
        if template not in subjects:
            raise UnknownTemplate(f"no template {template!r} for {job.kind.value}")
        # A header cannot span lines: a title with a newline must not add headers.
        subject = " ".join(subjects[template].format(course=course_title).split())
        context: dict[str, Any] = {
            "subject": subject,
            "school": {"name": self._school.name, "eft_instructions": self._school.eft_instructions},
            "course": {"id": job.course_id, "title": course_title},
            "data": dict(job.data or {}),
            "links": {"catalogue": f"{self._school.base_url}/app/", **links},
            "summary": subject,
            "enrollment_id": job.enrollment_id,
        }
        name = "alert" if admin else template
        return Letter(
            subject=subject,
            text=self._env.get_template(f"{name}.txt").render(context),
            html=self._env.get_template(f"{name}.html").render(context),
        )


def message_id(job_id: str, sender: str) -> str:
    """The same for every send of one job: derived from its id, at the sender's domain."""
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2] or "enrollwire.invalid"
    return f"<{digest}.notify@{domain}>"


def message(job: Job, letter: Letter, sender: str, school: str, recipient: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = Address(display_name=school, addr_spec=sender)
    mail["To"] = recipient
    mail["Subject"] = letter.subject
    mail["Message-ID"] = message_id(job.id, sender)
    mail["Date"] = formatdate(localtime=False)
    # Lets a mailbox rule (and a test) tell the notifications apart without reading them.
    mail["X-Enrollwire-Template"] = job.template or Template.APPROVED.value
    mail.set_content(letter.text)
    mail.add_alternative(letter.html, subtype="html")
    return mail
