"""Every template renders, in both parts, with the facts its notice carries; HTML is escaped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.jobs import Job, JobKind, JobStatus
from domain.notifications import Alert, Template
from integrations.mail.render import ALERTS, SUBJECTS, Renderer, School, UnknownTemplate, message, message_id

NOW = datetime(2026, 12, 6, tzinfo=UTC)
SCHOOL = School("Example <School>", "Bank: Example & Co", "https://school.example")


def notice(kind: JobKind, template: str, **data: object) -> Job:
    return Job(
        id=f"e1:{kind.value.lower()}:{template}:3",
        kind=kind,
        enrollment_id="e1",
        user_id="u1",
        course_id="c1",
        email="u1@example.org",
        status=JobStatus.RUNNING,
        attempts=1,
        next_run_at=None,
        last_error=None,
        created_at=NOW,
        updated_at=NOW,
        template=template,
        data=data,
    )


def test_the_templates_cover_the_contracts_lists() -> None:
    assert set(SUBJECTS) == set(Template) and set(ALERTS) == set(Alert)


@pytest.mark.parametrize("template", list(Template))
def test_every_student_template_renders_escaped_html(template: Template) -> None:
    facts = {"reason": "<b>late</b>", "paymentReference": "EFT-1", "amountDue": "1.00 ZAR", "amountPaid": "0"}
    job = notice(JobKind.NOTIFY_STUDENT, template.value, **facts)
    letter = Renderer(SCHOOL).letter(job, "<script>x</script>", {"continue": "https://lms.example/go"})
    assert "<script>x</script>" in letter.subject and "<script>x</script>" in letter.text
    assert "&lt;script&gt;x&lt;/script&gt;" in letter.html and "<script>" not in letter.html
    assert "Example &lt;School&gt;" in letter.html and "Example <School>" in letter.text
    mail = message(job, letter, "school@example.org", SCHOOL.name, "u1@example.org")
    assert mail["Message-ID"] == message_id(job.id, "school@example.org")
    assert mail["X-Enrollwire-Template"] == template.value


def test_a_revocation_says_why() -> None:
    letter = Renderer(SCHOOL).letter(notice(JobKind.NOTIFY_STUDENT, "revoked", reason="refunded"), "Py", {})
    assert letter.subject == "Your access to Py has ended" and "Reason: refunded" in letter.text


def test_an_unknown_template_is_refused() -> None:
    with pytest.raises(UnknownTemplate):
        Renderer(SCHOOL).letter(notice(JobKind.NOTIFY_STUDENT, "nonsense"), "Py", {})


def test_message_ids_are_stable_per_job_and_differ_between_jobs() -> None:
    first = message_id("e1:notify_student:approved:1", "school@example.org")
    assert first == message_id("e1:notify_student:approved:1", "school@example.org")
    assert first != message_id("e2:notify_student:approved:1", "school@example.org")
    assert first.startswith("<") and first.endswith("@example.org>")
