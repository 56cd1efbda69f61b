"""Every event the student must hear of sends one e-mail (and one notify webhook call), through a
real SMTP server in the test process; SMTP's answers decide retry or DEAD."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from domain.viewer import Role
from integrations.mail.render import message_id
from sandbox.embedded import ManagedServer, free_port
from server.settings import Settings
from tests.api.webhook_support import deliver, event
from tests.jobs.job_flows import (
    Instance,
    approve,
    database,
    eventually,
    instance,
    job_settings,
)
from tests.jobs.smtp_server import RecordingSmtp
from tests.jobs.stand_in_lms import Reply, StandInLms, launch_url
from tests.processes import kill_group, settings_env

TITLE = "<script>alert(1)</script> & Friends"
BANK = "Example Bank, account 1234567, branch 250655"
FROM = "school@example.org"
ADMIN = "alerts@example.org"
CREATE_COURSE = """
mutation($input: CreateCourseInput!) { createCourse(input: $input) { course { id } errors { code } } }
"""
REJECT = """
mutation($id: ID!, $reason: String!) {
  rejectEnrollment(enrollmentId: $id, reason: $reason) { errors { code } }
}
"""
ENROLL_CARD = """
mutation($input: EnrollInput!) {
  enroll(input: $input) { enrollment { id status paymentReference } errors { code } }
}
"""


def mail_settings(
    mongo: ManagedServer, redis: ManagedServer, lms: StandInLms, smtp: RecordingSmtp
) -> Settings:
    return job_settings(
        mongo.url,
        redis.url,
        lms,
        smtp_url=smtp.url,
        mail_from=FROM,
        admin_alert_email=ADMIN,
        school_name="Example School",
        eft_instructions=BANK,
    )


async def course(app: Instance) -> None:
    body = await app.gql(CREATE_COURSE, {"input": {"id": "c1", "title": TITLE, "price": 1000}}, app.admin)
    assert body["data"]["createCourse"]["errors"] == [], body


async def enroll(app: Instance, student: str, method: str = "EFT") -> dict[str, Any]:
    token = app.running.token(student, email=f"{student}@example.com")
    body = await app.gql(ENROLL_CARD, {"input": {"courseId": "c1", "paymentMethod": method}}, token)
    payload: dict[str, Any] = body["data"]["enroll"]
    assert payload["errors"] == [], body
    enrollment: dict[str, Any] = payload["enrollment"]
    return enrollment


async def notify_jobs_done(db: Any) -> bool:
    kinds = {"$in": ["NOTIFY_STUDENT", "NOTIFY_ADMINS"]}
    return bool(await db.jobs.count_documents({"kind": kinds, "status": {"$ne": "SUCCEEDED"}}) == 0)


async def test_every_template_is_sent_once_for_its_event(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms, smtp = StandInLms(), RecordingSmtp()
    settings = mail_settings(mongo_server, redis_server, lms, smtp)
    with smtp.serving():
        async with lms.serving(), instance(settings) as app, database(settings) as db:
            await course(app)
            paid = await enroll(app, "stu-a")
            paying = await deliver(app.gql.http, event(paid["paymentReference"], 500))
            assert paying.json()["status"] == "processed"
            await approve(app, paid["id"])
            rejected = await enroll(app, "stu-b")
            refusal = await app.gql(
                REJECT, {"id": rejected["id"], "reason": "No transfer arrived"}, app.admin
            )
            assert refusal["data"]["rejectEnrollment"]["errors"] == []
            card = await enroll(app, "stu-c", "CARD")
            failing = await deliver(
                app.gql.http, event(card["paymentReference"], 1000, type="payment.failed")
            )
            assert failing.json()["status"] == "processed"

            expected = {
                ("stu-a@example.com", "enrollment_received"),
                ("stu-a@example.com", "payment_received"),
                ("stu-a@example.com", "approved"),
                ("stu-a@example.com", "access_ready"),
                ("stu-b@example.com", "enrollment_received"),
                ("stu-b@example.com", "rejected"),
                ("stu-c@example.com", "payment_failed"),
            }

            async def all_sent() -> bool:
                return len(smtp.accepted()) >= len(expected) and await notify_jobs_done(db)

            await eventually(all_sent)
            sent = {(str(d.mail["To"]), d.template): d for d in smtp.accepted()}
            assert set(sent) == expected and len(smtp.accepted()) == len(expected)  # each once
            assert all(d.recipients == (str(d.mail["To"]),) for d in smtp.accepted())

            received = sent[("stu-a@example.com", "enrollment_received")]
            assert (
                str(received.mail["Subject"]).strip() == f"Your enrollment in {TITLE}: pay by bank transfer"
            )
            assert str(received.mail["From"]) == f"Example School <{FROM}>"
            job_id = f"{paid['id']}:notify_student:enrollment_received:1"
            assert received.mail["Message-ID"] == message_id(job_id, FROM)
            for part in (received.part("plain"), received.part("html")):
                assert paid["paymentReference"] in part and BANK in part and "10.00 ZAR" in part
            # Autoescaped in HTML only: the title is text in both.
            assert TITLE in received.part("plain")
            assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Friends" in received.part("html")
            assert "<script>" not in received.part("html")

            assert "5.00 ZAR" in sent[("stu-a@example.com", "payment_received")].part("plain")
            ready = sent[("stu-a@example.com", "access_ready")].part("plain")
            assert launch_url(paid["id"]) in ready
            assert "Reason: No transfer arrived" in sent[("stu-b@example.com", "rejected")].part("plain")
            retry = sent[("stu-c@example.com", "payment_failed")].part("html")
            assert f'<a href="{app.running.base_url}/app/">Retry Payment</a>' in retry

            # The notify webhook heard the same notices, with their template and data.
            bodies = [c.body for c in lms.calls if c.path == "/notify" and c.status == 200]
            told = {(b["userId"], b["template"]) for b in bodies}
            assert told == {(to.split("@")[0], template) for to, template in expected}
            eft = next(b for b in bodies if b["template"] == "enrollment_received" and b["userId"] == "stu-a")
            assert eft["data"]["paymentReference"] == paid["paymentReference"]
            assert eft["data"]["eftInstructions"] == BANK and eft["data"]["courseTitle"] == TITLE


async def test_a_4xx_from_the_mail_server_retries_and_a_5xx_is_dead(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms = StandInLms()
    smtp = RecordingSmtp(answers=["451 4.3.0 Mailbox busy, try later"])
    settings = mail_settings(mongo_server, redis_server, lms, smtp)
    with smtp.serving():
        async with lms.serving(), instance(settings) as app, database(settings) as db:
            await course(app)
            first = await enroll(app, "stu-busy")
            job_id = f"{first['id']}:notify_student:enrollment_received:1"

            async def status_of(wanted: str) -> bool:
                doc = await db.jobs.find_one({"_id": job_id})
                return doc is not None and doc["status"] == wanted

            await eventually(lambda: status_of("SUCCEEDED"))
            job = await db.jobs.find_one({"_id": job_id})
            assert job is not None and job["attempts"] == 2
            assert job["errors"][0]["error"] == "SMTP 451 4.3.0 Mailbox busy, try later"
            assert [d.answer[:3] for d in smtp.deliveries] == ["451", "250"]

            smtp.answers.append("550 5.1.1 No such mailbox")
            second = await enroll(app, "stu-gone")
            job_id = f"{second['id']}:notify_student:enrollment_received:1"
            await eventually(lambda: status_of("DEAD"))
            job = await db.jobs.find_one({"_id": job_id})
            assert job is not None and job["attempts"] == 1
            assert job["lastError"] == "SMTP 550 5.1.1 No such mailbox"


async def test_money_that_does_not_apply_alerts_the_admins_once_per_event(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms, smtp = StandInLms(), RecordingSmtp()
    settings = mail_settings(mongo_server, redis_server, lms, smtp)
    with smtp.serving():
        async with lms.serving(), instance(settings) as app, database(settings) as db:
            await course(app)
            wrong = await enroll(app, "stu-usd")
            dollars = event(wrong["paymentReference"], 1000, currency="USD")
            cancelled = await enroll(app, "stu-cancel", "CARD")
            token = app.running.token("stu-cancel", Role.STUDENT)
            cancel = "mutation($id: ID!) { cancelEnrollment(enrollmentId: $id) { errors { code } } }"
            assert (await app.gql(cancel, {"id": cancelled["id"]}, token))["data"]["cancelEnrollment"][
                "errors"
            ] == []
            late = event(cancelled["paymentReference"], 1000)
            assert (await deliver(app.gql.http, dollars)).json()["reason"] == "currency_mismatch"
            assert (await deliver(app.gql.http, late)).json()["status"] == "processed"
            for _ in range(3):  # the gateway redelivers both
                assert (await deliver(app.gql.http, dollars)).json()["status"] == "duplicate"
                assert (await deliver(app.gql.http, late)).json()["status"] == "duplicate"

            def alerts() -> list[str]:
                return sorted(d.template for d in smtp.accepted() if d.recipients == (ADMIN,))

            async def alerted() -> bool:
                return len(alerts()) >= 2 and await notify_jobs_done(db)

            await eventually(alerted)
            assert alerts() == ["currency_mismatch", "payment_on_closed_enrollment"]
            assert await db.jobs.count_documents({"kind": "NOTIFY_ADMINS"}) == 2
            mismatch = next(d for d in smtp.accepted() if d.template == "currency_mismatch")
            assert dollars["id"] in mismatch.part("plain") and "USD" in mismatch.part("plain")
            assert str(mismatch.mail["Subject"]).strip() == f"Payment in the wrong currency for {TITLE}"


async def test_a_send_retried_after_a_crash_carries_the_same_message_id(
    mongo_server: ManagedServer, redis_server: ManagedServer, tmp_path: Path
) -> None:
    lms, smtp = StandInLms(), RecordingSmtp(hold=True)  # the first mail is never answered
    settings = mail_settings(mongo_server, redis_server, lms, smtp).model_copy(
        update={"job_workers": 0, "job_lease_seconds": 3}
    )
    env = settings_env(settings) | {"ENROLLWIRE_SMTP_URL": smtp.url, "ENROLLWIRE_JOB_WORKERS": "1"}
    with smtp.serving():
        async with lms.serving(), instance(settings) as app, database(settings) as db:
            await course(app)
            enrolled = await enroll(app, "stu-crash")
            job_id = f"{enrolled['id']}:notify_student:enrollment_received:1"
            with (tmp_path / "worker.log").open("ab") as out:
                worker = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "server.cli",
                    "worker",
                    env=env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            try:
                await eventually(lambda: _true(len(smtp.deliveries) == 1))
            finally:
                await kill_group(worker)  # mid-send: the mail was handed over, never answered
            other = settings.model_copy(update={"job_workers": 1, "port": free_port()})
            async with instance(other):

                async def sent() -> bool:
                    doc = await db.jobs.find_one({"_id": job_id})
                    return doc is not None and doc["status"] == "SUCCEEDED"

                await eventually(sent)
            ids = [d.mail["Message-ID"] for d in smtp.deliveries]
            assert ids == [message_id(job_id, FROM)] * 2
            assert [d.answer[:3] for d in smtp.deliveries] == ["451", "250"]


async def _true(value: bool) -> bool:
    return value


async def test_access_that_dies_tells_the_student_and_alerts_the_admins(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    lms, smtp = StandInLms(script=[Reply(400)]), RecordingSmtp()
    settings = mail_settings(mongo_server, redis_server, lms, smtp)
    with smtp.serving():
        async with lms.serving(), instance(settings) as app, database(settings) as db:
            await course(app)
            enrolled = await enroll(app, "stu-dies")
            await approve(app, enrolled["id"])

            def told() -> set[tuple[str, str]]:
                return {(str(d.mail["To"]), d.template) for d in smtp.accepted()}

            async def failed_and_alerted() -> bool:
                wanted = {("stu-dies@example.com", "access_failed"), (ADMIN, "access_dead")}
                return wanted <= told() and await notify_jobs_done(db)

            await eventually(failed_and_alerted)
            assert told() == {
                ("stu-dies@example.com", "enrollment_received"),
                ("stu-dies@example.com", "approved"),
                ("stu-dies@example.com", "access_failed"),
                (ADMIN, "access_dead"),
            }
            alert = next(d for d in smtp.accepted() if d.template == "access_dead").part("plain")
            assert f"{enrolled['id']}:provision_access" in alert and "HTTP 400" in alert
