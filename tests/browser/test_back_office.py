"""The admin back office in Chromium: search by e-mail, bulk reject with a reason, export CSV,
change a course's price while two student tabs show its card, withdraw a coupon, and the
dashboard following events live. Screenshots of each step go to tests/artifacts/browser/
(docs/screenshots/ holds copies of the enrollments, courses and dashboard ones)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path

import httpx2 as httpx
from playwright.async_api import Browser, Page, expect

from domain.viewer import Role
from sandbox.demo import DEMO_COURSES
from sandbox.embedded import ManagedServer
from tests.browser.pages import ARTIFACTS, Screenshots, card, connection, open_page, seed, sign_in
from tests.servers import GraphQLClient, RunningApp, serve, test_settings

ENROLL = """
mutation($input: EnrollInput!) { enroll(input: $input) { enrollment { id } errors { code } } }
"""
STUDENTS = {"stu-zoe": "Zoe.Adams@School.org", "stu-zak": "zak@school.org", "stu-amy": "amy@school.org"}
PYTHON = DEMO_COURSES[0]


async def enroll(gql: GraphQLClient, running: RunningApp, user: str, email: str, course: str) -> None:
    variables = {"input": {"courseId": course, "paymentMethod": "EFT"}}
    body = await gql(ENROLL, variables, running.token(user, email=email))
    assert body["data"]["enroll"]["errors"] == [], body


async def admin_page(browser: Browser, running: RunningApp, path: str) -> Page:
    context = await browser.new_context(accept_downloads=True)
    page = await open_page(context, f"{running.base_url}{path}")
    await sign_in(page, "admin")
    return page


async def test_search_bulk_reject_and_export(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    shot = Screenshots(ARTIFACTS / "back-office")
    async with (
        serve(test_settings(mongo_server.url, redis_server.url)) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        await seed(running.app.runtime.services)
        gql = GraphQLClient(http, running)
        for user, email in STUDENTS.items():
            await enroll(gql, running, user, email, PYTHON.id)
        page = await admin_page(browser, running, "/app/admin/enrollments")
        await expect(connection(page)).to_have_text("Live")
        await expect(page.get_by_text("1 to 3 of 3")).to_be_visible()
        await expect(page.get_by_role("cell", name="Zoe.Adams@School.org", exact=True)).to_be_visible()

        await page.get_by_label("E-mail starts with").fill("ZO")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_text("1 to 1 of 1")).to_be_visible()
        await page.get_by_label("E-mail starts with").fill("z")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_text("1 to 2 of 2")).to_be_visible()
        await page.get_by_label("Select all").check()
        await page.get_by_label("Reason").fill("Course full")
        await shot(page, "bulk-reject")
        await page.get_by_role("button", name="Reject selected (2)").click()
        await expect(page.get_by_role("alert")).to_have_text("2 rejected.")
        await expect(page.get_by_role("cell", name="REJECTED")).to_have_count(2)

        await page.get_by_label("E-mail starts with").fill("")
        await page.get_by_label("Status").select_option("REJECTED")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_text("1 to 2 of 2")).to_be_visible()
        async with page.expect_download() as started:
            await page.get_by_role("button", name="Export CSV").click()
        download = await started.value
        saved = await download.path()
        text = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert sorted(r["email"] for r in rows) == ["Zoe.Adams@School.org", "zak@school.org"]
        assert {r["rejectionReason"] for r in rows} == {"Course full"}
        await page.context.close()


async def test_a_price_change_reaches_both_tabs_and_the_dashboard_follows_events(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    shot = Screenshots(ARTIFACTS / "courses-dashboard")
    async with (
        serve(test_settings(mongo_server.url, redis_server.url)) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        await seed(running.app.runtime.services)
        gql = GraphQLClient(http, running)
        students = await browser.new_context()
        tabs = [await open_page(students, f"{running.base_url}/app/") for _ in range(2)]
        await sign_in(tabs[0], "student")
        # The other tab follows the sign-in by itself (it reloads on the session's storage event).
        await expect(tabs[1].get_by_text("Signed in as demo-student")).to_be_visible()
        for tab in tabs:
            await expect(connection(tab)).to_have_text("Live")
            await expect(card(tab, PYTHON.title)).to_contain_text("129.00 ZAR")
        await card(tabs[0], PYTHON.title).get_by_label("Bank transfer (EFT)").check()
        await card(tabs[0], PYTHON.title).get_by_role("button", name="Enroll Now").click()
        for tab in tabs:
            await expect(card(tab, PYTHON.title)).to_contain_text("Pending Approval")

        courses = await admin_page(browser, running, "/app/admin/catalogue")
        await expect(courses.get_by_role("cell", name="WELCOME10", exact=True)).to_be_visible()
        editor = courses.get_by_role("form", name="Change a course")
        await editor.get_by_label("Course id").fill(PYTHON.id)
        await editor.get_by_label("New price (minor units)").fill("15000")
        await editor.get_by_role("button", name="Save course").click()
        await expect(courses.get_by_role("alert")).to_have_text(f"Saved {PYTHON.title}: 150.00 ZAR.")
        for tab in tabs:
            await expect(card(tab, PYTHON.title)).to_contain_text("150.00 ZAR")
            await expect(card(tab, PYTHON.title)).to_contain_text("Pending Approval")
        await shot(tabs[1], "card-after-price-change")
        mine = await gql(
            "{ enrollments(first: 5) { edges { node { amountDue { amount } } } } }",
            {},
            running.token("admin-check", Role.ADMIN),
        )
        assert [e["node"]["amountDue"]["amount"] for e in mine["data"]["enrollments"]["edges"]] == [129_00]

        await courses.get_by_role("button", name="Withdraw WELCOME10").click()
        await expect(courses.get_by_role("row").filter(has_text="WELCOME10")).to_contain_text("withdrawn")
        await shot(courses, "courses-and-coupons")

        board = await admin_page(browser, running, "/app/admin/dashboard")
        await expect(connection(board)).to_have_text("Live")
        pending = board.locator("#pending strong")
        await expect(pending).to_have_text("1")
        await expect(board.get_by_text("EFT: 0 of 1 approved (0%)")).to_be_visible()
        await enroll(gql, running, "stu-late", "late@school.org", DEMO_COURSES[1].id)
        await expect(pending).to_have_text("2")  # pushed: the page re-reads on the event
        await expect(board.get_by_text("EFT: 0 of 2 approved (0%)")).to_be_visible()
        await expect(board.locator("#per-day canvas")).to_have_count(1)
        await expect(board.locator("#updated")).to_have_text(re.compile("^Updated"))
        await shot(board, "dashboard")
        await students.close()
