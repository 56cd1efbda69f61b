"""Two tabs of one student and an admin console, live in headless Chromium, through a server restart."""

from __future__ import annotations

import httpx2 as httpx
from playwright.async_api import Browser, Page, expect

from sandbox.demo import DEMO_STUDENT
from sandbox.embedded import ManagedServer, free_port
from tests.browser.pages import (
    ARTIFACTS,
    DESKTOP,
    ENROLL,
    EXTRA_COURSE,
    PHONE,
    Screenshots,
    card,
    connection,
    open_page,
    page_settings,
    pending_row,
    seed,
    sign_in,
)
from tests.servers import GraphQLClient, serve

PYTHON = "Python for Beginners"
GRAPHQL = "Real-time GraphQL"
WEBSOCKETS = EXTRA_COURSE.title
# Hang guard for reconnecting: the client's backoff is capped at 8 s.
RECONNECT_MS = 30_000


async def _all_show(pages: list[Page], title: str, button: str) -> None:
    for page in pages:
        await expect(card(page, title).get_by_role("button", name=button)).to_be_visible()


async def test_two_student_tabs_and_an_admin_stay_live_through_a_restart(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    # The card checkout's reconciliation waits out this test (its first look is an hour on), so
    # the job counts below do not depend on how long the test takes.
    settings = page_settings(mongo_server.url, redis_server.url, reconcile_after_seconds=3600)
    shot = Screenshots(ARTIFACTS / "live")
    student = await browser.new_context(viewport=DESKTOP)
    staff = await browser.new_context(viewport=DESKTOP)
    try:
        async with serve(settings) as running:
            await seed(running.app.runtime.services)
            base = running.base_url

            anonymous = await open_page(student, f"{base}/app/")
            await expect(
                card(anonymous, PYTHON).get_by_role("button", name="Register To Enroll")
            ).to_be_enabled()
            await shot(anonymous, "catalogue-anonymous")
            await sign_in(anonymous, "student")
            tab1 = anonymous
            tab2 = await open_page(student, f"{base}/app/", PHONE)
            await expect(tab2.get_by_text(f"Signed in as {DEMO_STUDENT}")).to_be_visible()
            admin = await open_page(staff, f"{base}/app/admin")
            await sign_in(admin, "admin")
            tabs = [tab1, tab2]
            for page in (*tabs, admin):
                await expect(connection(page)).to_have_text("Live")
            await _all_show(tabs, PYTHON, "Enroll Now")
            await shot(tab1, "catalogue-signed-in")
            await shot(admin, "admin-empty-queue")

            # EFT with a coupon: tab 2 and the admin see it without a reload.
            python = card(tab1, PYTHON)
            await python.get_by_label("Bank transfer (EFT)").check()
            await python.get_by_label("Coupon code").fill("welcome10")
            await python.get_by_role("button", name="Enroll Now").click()
            await expect(card(tab2, PYTHON).get_by_role("button", name="Pending Approval")).to_be_disabled()
            await expect(card(tab2, PYTHON)).to_contain_text("Coupon WELCOME10: 116.10 ZAR due.")
            row = pending_row(admin, PYTHON)
            await expect(row).to_contain_text(DEMO_STUDENT)
            await expect(row).to_contain_text("116.10 ZAR")
            await shot(tab1, "eft-pending-tab1")
            await shot(tab2, "eft-pending-tab2-phone")
            await shot(admin, "admin-new-row")

            await row.get_by_role("button", name="Approve").click()
            await expect(row).to_have_count(0)
            await _all_show(tabs, PYTHON, "Continue Course")
            for page in tabs:
                await expect(card(page, PYTHON)).to_contain_text("Access: ready.")
            await shot(tab1, "eft-approved-tab1")
            await shot(tab2, "eft-approved-tab2-phone")

            # CARD through the sandbox checkout, opened from the card in a new tab.
            graphql = card(tab1, GRAPHQL)
            await graphql.get_by_label("Card", exact=True).check()
            await graphql.get_by_role("button", name="Enroll Now").click()
            await expect(
                card(tab2, GRAPHQL).get_by_role("button", name="Payment Processing")
            ).to_be_disabled()
            await shot(tab1, "card-payment-processing")
            async with student.expect_page() as opened:
                await graphql.get_by_role("link", name="Pay at the checkout").click()
            checkout = await opened.value
            await expect(checkout.get_by_role("heading", name="Sandbox checkout")).to_be_visible()
            await shot(checkout, "sandbox-checkout")
            await checkout.get_by_role("button", name="Pay", exact=True).click()
            await expect(checkout.get_by_text("processed")).to_be_visible()
            await checkout.close()
            await _all_show(tabs, GRAPHQL, "Continue Course")
            await expect(graphql.get_by_role("link", name="Pay at the checkout")).to_be_hidden()
            await shot(tab1, "card-approved-tab1")

        # Server down: every page says so, and a change is made behind their backs through
        # another instance on the same databases, so only a real resync can show it.
        for page in (*tabs, admin):
            await expect(connection(page)).to_have_text("Reconnecting…")
        await shot(tab1, "server-down-tab1")
        async with (
            serve(settings.model_copy(update={"port": free_port(), "job_workers": 0})) as other,
            httpx.AsyncClient(base_url=other.base_url, timeout=30) as http,
        ):
            gql = GraphQLClient(http, other)
            variables = {"input": {"courseId": EXTRA_COURSE.id, "paymentMethod": "EFT"}}
            enrolled = await gql(ENROLL, variables, other.token(DEMO_STUDENT))
            assert enrolled["data"]["enroll"]["errors"] == [], enrolled

        async with serve(settings):  # the same port, MongoDB and Redis
            for page in (*tabs, admin):
                await expect(connection(page)).to_have_text("Live", timeout=RECONNECT_MS)
            await _all_show(tabs, WEBSOCKETS, "Pending Approval")
            await _all_show(tabs, PYTHON, "Continue Course")
            await _all_show(tabs, GRAPHQL, "Continue Course")
            row = pending_row(admin, WEBSOCKETS)
            await expect(row).to_contain_text(DEMO_STUDENT)
            await expect(admin.get_by_text("1 waiting")).to_be_visible()
            await shot(tab1, "after-restart-tab1")
            await shot(tab2, "after-restart-tab2-phone")
            await shot(admin, "after-restart-admin")

            await row.get_by_role("button", name="Approve").click()
            await _all_show(tabs, WEBSOCKETS, "Continue Course")
            await expect(card(tab1, WEBSOCKETS)).to_contain_text("Access: ready.")
            # Three approvals (access, approval notice, access ready) and two EFT references.
            await expect(admin.get_by_text("1 pending · 0 running · 11 succeeded · 0 dead")).to_be_visible()
            await shot(tab1, "after-restart-approved-tab1")
            await shot(admin, "after-restart-admin-jobs")
    finally:
        await student.close()
        await staff.close()
