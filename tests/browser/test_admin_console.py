"""The admin console's decisions in Chromium: reject with a reason, bulk approve, retry a dead job."""

from __future__ import annotations

import re

import httpx2 as httpx
from playwright.async_api import Browser, expect

from sandbox.demo import DEMO_STUDENT
from sandbox.embedded import ManagedServer
from tests.browser.pages import (
    ARTIFACTS,
    ENROLL,
    EXTRA_COURSE,
    Screenshots,
    card,
    connection,
    open_page,
    page_settings,
    seed,
    sign_in,
)
from tests.servers import GraphQLClient, serve

OTHERS = ("student-b", "student-c")


async def test_reject_with_a_reason_bulk_approve_and_retry_a_dead_job(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # The sandbox LMS fails its first call and a job gets one attempt: one provisioning job dies.
    settings = page_settings(mongo_server.url, redis_server.url, sandbox_lms_fail_first=1, job_max_attempts=1)
    shot = Screenshots(ARTIFACTS / "admin")
    student = await browser.new_context()
    staff = await browser.new_context()
    try:
        async with (
            serve(settings) as running,
            httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
        ):
            await seed(running.app.runtime.services)
            tab = await open_page(student, f"{running.base_url}/app/")
            await sign_in(tab, "student")
            admin = await open_page(staff, f"{running.base_url}/app/admin")
            await sign_in(admin, "admin")
            for page in (tab, admin):
                await expect(connection(page)).to_have_text("Live")

            websockets = card(tab, EXTRA_COURSE.title)
            await websockets.get_by_label("Bank transfer (EFT)").check()
            await websockets.get_by_role("button", name="Enroll Now").click()
            gql = GraphQLClient(http, running)
            for user in OTHERS:
                variables = {"input": {"courseId": EXTRA_COURSE.id, "paymentMethod": "EFT"}}
                enrolled = await gql(ENROLL, variables, running.token(user))
                assert enrolled["data"]["enroll"]["errors"] == [], enrolled
            await expect(admin.get_by_text("3 waiting")).to_be_visible()

            mine = admin.get_by_role("row").filter(has_text=DEMO_STUDENT)
            reject = mine.get_by_role("button", name="Reject")
            await expect(reject).to_be_disabled()
            await mine.get_by_label("Reason").fill("Transfer not received")
            await shot(admin, "reject-with-reason")
            await reject.click()
            await expect(mine).to_have_count(0)
            await expect(websockets.get_by_role("button", name="Enroll Now")).to_be_enabled()
            await expect(websockets).to_contain_text("Reason: Transfer not received.")
            await shot(tab, "rejected-card")

            bulk = admin.get_by_role("button", name=re.compile("^Approve selected"))
            await expect(bulk).to_be_disabled()
            for user in OTHERS:
                await admin.get_by_role("row").filter(has_text=user).get_by_role("checkbox").check()
            await expect(bulk).to_have_text("Approve selected (2)")
            await shot(admin, "bulk-selected")
            await bulk.click()
            await expect(admin.get_by_text("Nothing is waiting for approval.")).to_be_visible()

            retry = admin.get_by_role("button", name=re.compile("^Retry Provision access"))
            await expect(retry).to_have_count(1)
            await expect(admin.get_by_text(re.compile("· 1 dead$"))).to_be_visible()
            await shot(admin, "dead-job")
            await retry.click()
            # Three EFT references, a rejection, two accesses and their approvals, each access's
            # outcome told (ready; failed, with the admins' alert) and the retried one ready.
            await expect(admin.get_by_text("0 pending · 0 running · 12 succeeded · 0 dead")).to_be_visible()
            await expect(retry).to_have_count(0)
            await shot(admin, "job-retried")
    finally:
        await student.close()
        await staff.close()
