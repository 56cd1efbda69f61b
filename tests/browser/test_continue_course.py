"""Continue Course opens the course on the learning platform, at the launch URL it answered."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from sandbox.embedded import ManagedServer
from tests.browser.pages import ARTIFACTS, DESKTOP, Screenshots, card, open_page, pending_row, seed, sign_in
from tests.servers import serve, test_settings

PYTHON = "Python for Beginners"


async def test_continue_course_opens_the_launch_url(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = test_settings(mongo_server.url, redis_server.url, reconcile_after_seconds=3600)
    shot = Screenshots(ARTIFACTS / "continue")
    student = await browser.new_context(viewport=DESKTOP)
    staff = await browser.new_context(viewport=DESKTOP)
    try:
        async with serve(settings) as running:
            await seed(running.app.runtime.services)
            base = running.base_url
            page = await open_page(student, f"{base}/app/")
            await sign_in(page, "student")
            admin = await open_page(staff, f"{base}/app/admin")
            await sign_in(admin, "admin")

            python = card(page, PYTHON)
            await python.get_by_label("Bank transfer (EFT)").check()
            await python.get_by_role("button", name="Enroll Now").click()
            row = pending_row(admin, PYTHON)
            await row.get_by_role("button", name="Approve").click()
            await expect(python).to_contain_text("Access: ready.")
            await shot(page, "access-ready")

            await python.get_by_role("button", name="Continue Course").click()
            # The sandbox LMS's launch page for this enrollment (its id is the last path segment).
            await expect(page).to_have_url(re.compile(re.escape(f"{base}/sandbox/lms/launch/") + r"[\w-]+$"))
            await expect(page.get_by_role("heading", name="Sandbox learning platform")).to_be_visible()
            await shot(page, "launched")
            enrollment_id = page.url.rsplit("/", 1)[-1]
            launched = running.app.runtime.services.changes.enrollments
            shown = await launched.get(enrollment_id)
            assert shown is not None and shown.access.launch_url == page.url
    finally:
        await student.close()
        await staff.close()
