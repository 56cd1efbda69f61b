"""Running a notification job (NOTIFY_STUDENT, NOTIFY_ADMINS): the notify webhook, then e-mail.

Each attempt POSTs the job's body with its `template` and `data` (the school's and the course's
facts added) to the notify URL, then, when mail is configured and the job has a recipient,
sends the e-mail. A retry repeats both: the webhook dedupes by `Idempotency-Key`, a mail
reader by `Message-ID` (both the job id).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from domain.backoff import Uniform
from domain.changes import Changes
from domain.jobs import Attempt, CallResult, Decision, Job, JobKind, RetryPolicy, Verdict
from domain.notifications import Template
from domain.ports import CourseStore
from integrations.job_endpoints import JobEndpoints
from integrations.mail.render import Renderer, School, UnknownTemplate, message
from integrations.mail.smtp import SmtpSender

NOTIFY_KINDS = (JobKind.NOTIFY_STUDENT, JobKind.NOTIFY_ADMINS)


@dataclass(frozen=True)
class Mail:
    sender: SmtpSender
    mail_from: str
    admin_email: str | None  # NOTIFY_ADMINS by e-mail goes here


@dataclass(frozen=True)
class Notifier:
    """What notification jobs need besides the pool's: the school, the courses, mail if any."""

    school: School
    courses: CourseStore
    mail: Mail | None = None


class NotifyJob:
    def __init__(
        self,
        endpoints: JobEndpoints | None,
        notifier: Notifier,
        changes: Changes,
        policy: RetryPolicy,
        uniform: Uniform = random.uniform,
    ) -> None:
        self._endpoints = endpoints
        self._notifier = notifier
        self._renderer = Renderer(notifier.school)
        self._changes = changes
        self._policy = policy
        self._uniform = uniform

    async def run(self, job: Job) -> Decision:
        try:
            attempt = await self._attempt(job)
        except UnknownTemplate as unknown:
            return Decision(Verdict.DEAD, error=str(unknown))
        return self._policy.decide(job, attempt, self._uniform, self._changes.clock.now())

    async def _attempt(self, job: Job) -> Attempt:
        course = await self._notifier.courses.get_course(job.course_id)
        title = job.course_id if course is None else course.title
        links = await self._links(job)
        letter = self._renderer.letter(job, title, links)
        if self._endpoints is not None:
            data: dict[str, Any] = {
                **(job.data or {}),
                "courseTitle": title,
                "schoolName": self._notifier.school.name,
                "links": links,
            }
            if job.template == Template.ENROLLMENT_RECEIVED:
                data["eftInstructions"] = self._notifier.school.eft_instructions
            body = job.body() | {"template": job.template or Template.APPROVED.value, "data": data}
            posted = await self._endpoints.call(job, self._changes.clock, body)
            if posted.outcome is not CallResult.SUCCESS:
                return posted
        mail = self._notifier.mail
        recipient = job.email if job.kind is JobKind.NOTIFY_STUDENT else (mail and mail.admin_email)
        if mail is None or not recipient:
            return Attempt(CallResult.SUCCESS)
        school = self._notifier.school.name
        return await mail.sender.send(message(job, letter, mail.mail_from, school, recipient))

    async def _links(self, job: Job) -> dict[str, str | None]:
        base = self._notifier.school.base_url
        links: dict[str, str | None] = {"retry": f"{base}/app/"}
        launch = (job.data or {}).get("launchUrl")
        if launch is None and job.template in (None, Template.APPROVED):
            # Approval's notice goes out beside provisioning: the launch URL, once known.
            enrollment = await self._changes.enrollments.get(job.enrollment_id)
            launch = None if enrollment is None else enrollment.access.launch_url
        links["continue"] = launch
        return links
