"""An admin's record pages in Chromium: one enrollment's timeline kept live, Revoke with a reason,
and the audit log with its filters and Load more."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx
from playwright.async_api import Browser, Locator, Page, expect

from domain.viewer import Role
from sandbox.demo import DEMO_ADMIN, DEMO_STUDENT
from sandbox.embedded import ManagedServer
from tests.browser.pages import (
    ARTIFACTS,
    DESKTOP,
    EXTRA_COURSE,
    Screenshots,
    card,
    connection,
    open_page,
    seed,
    sign_in,
)
from tests.servers import GraphQLClient, serve, test_settings

ENROLL = """
mutation($input: EnrollInput!) { enroll(input: $input) { enrollment { id } errors { code } } }
"""
APPROVE = "mutation($id: ID!) { approveEnrollment(enrollmentId: $id) { errors { code } } }"
MINE = "query($id: ID!) { enrollments(courseId: $id, first: 10) { edges { node { id userId } } } }"
AUDIT = """
query($filter: AuditFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { node { id } } pageInfo { hasNextPage endCursor } totalCount
  }
}
"""
OTHERS = ("student-b", "student-c")
REASON = "Refund agreed on the phone"


def fact(page: Page, name: str) -> Locator:
    return page.locator(f'dd[data-field="{name}"]')


def timeline(page: Page) -> Locator:
    return page.locator("#timeline tbody tr")


def entries(page: Page) -> Locator:
    return page.locator("#entries tbody tr")


async def shown_ids(audit: Page) -> list[str]:
    ids: list[str] = await entries(audit).evaluate_all("rows => rows.map(r => r.dataset.entryId)")
    return ids


async def audit_ids(gql: GraphQLClient, token: str, audit_filter: dict[str, Any]) -> list[str]:
    """Every entry the filter matches, newest first, walked with the API's own paging."""
    ids: list[str] = []
    after = None
    while True:
        variables = {"filter": audit_filter, "first": 100, "after": after}
        page = (await gql(AUDIT, variables, token))["data"]["auditLog"]
        ids += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]


async def apply_filters(audit: Page, **fields: str) -> None:
    for label, value in fields.items():
        await audit.get_by_label(label, exact=True).fill(value)
    await audit.get_by_role("button", name="Apply").click()


async def test_timeline_revoke_and_the_audit_log(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = test_settings(mongo_server.url, redis_server.url, reconcile_after_seconds=3600)
    shot = Screenshots(ARTIFACTS / "audit")
    student = await browser.new_context(viewport=DESKTOP)
    staff = await browser.new_context(viewport=DESKTOP)
    try:
        async with (
            serve(settings) as running,
            httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
        ):
            base = running.base_url
            await seed(running.app.runtime.services)
            for path in ("/app/admin/enrollment?id=x", "/app/admin/audit"):
                served = await http.get(path)
                assert served.status_code == 200, path
                assert "default-src 'self'" in served.headers["content-security-policy"]
                assert "<script>" not in served.text  # module files only: the CSP allows no inline script

            gql = GraphQLClient(http, running)
            admin_token = running.token(DEMO_ADMIN, Role.ADMIN)
            tab = await open_page(student, f"{base}/app/")
            await sign_in(tab, "student")
            websockets = card(tab, EXTRA_COURSE.title)
            await websockets.get_by_label("Bank transfer (EFT)").check()
            await websockets.get_by_role("button", name="Enroll Now").click()
            await expect(websockets.get_by_role("button", name="Pending Approval")).to_be_visible()
            for user in OTHERS:
                variables = {"input": {"courseId": EXTRA_COURSE.id, "paymentMethod": "EFT"}}
                enrolled = await gql(ENROLL, variables, running.token(user))
                assert enrolled["data"]["enroll"]["errors"] == [], enrolled
            listed = await gql(MINE, {"id": EXTRA_COURSE.id}, admin_token)
            ids = {e["node"]["userId"]: e["node"]["id"] for e in listed["data"]["enrollments"]["edges"]}
            for user in (DEMO_STUDENT, *OTHERS):
                approved = await gql(APPROVE, {"id": ids[user]}, admin_token)
                assert approved["data"]["approveEnrollment"]["errors"] == [], approved
            await expect(websockets.get_by_role("button", name="Continue Course")).to_be_visible()
            mine = ids[DEMO_STUDENT]

            # The enrollment page, and a second tab of it that only the live events can update.
            record = await open_page(staff, f"{base}/app/admin/enrollment?id={mine}")
            await sign_in(record, "admin")
            watcher = await open_page(staff, f"{base}/app/admin/enrollment?id={mine}")
            for page in (record, watcher):
                await expect(connection(page)).to_have_text("Live")
                await expect(fact(page, "status")).to_have_text("APPROVED")
            await expect(fact(record, "student")).to_have_text(DEMO_STUDENT)
            await expect(fact(record, "userEmail")).to_contain_text("@")
            await expect(fact(record, "course")).to_have_text(f"{EXTRA_COURSE.title} ({EXTRA_COURSE.id})")
            await expect(fact(record, "amountDue")).to_have_text("99.00 ZAR")
            await expect(fact(record, "paymentReference")).not_to_be_empty()
            await expect(fact(record, "decidedBy")).to_have_text(DEMO_ADMIN)
            await expect(fact(record, "approvedAt")).not_to_be_empty()
            await expect(fact(record, "revokedAt")).to_be_empty()
            await expect(fact(record, "access")).to_have_text(re.compile("^provisioned"))
            await expect(timeline(record).first).to_contain_text(f"student {DEMO_STUDENT}")
            await expect(timeline(record).first).to_contain_text("enroll")
            approved_row = timeline(record).filter(has_text="approveEnrollment")
            await expect(approved_row).to_have_count(1)
            await expect(approved_row).to_contain_text("AWAITING_APPROVAL → APPROVED")
            await expect(approved_row).to_contain_text(f"admin {DEMO_ADMIN}")
            await expect(timeline(record).filter(has_text="revokeEnrollment")).to_have_count(0)
            await shot(record, "enrollment-approved")

            revoke = record.get_by_role("button", name="Revoke")
            await expect(revoke).to_be_disabled()
            await record.get_by_label("Reason").fill(REASON)
            await revoke.click()
            for page in (record, watcher):
                await expect(fact(page, "status")).to_have_text("REVOKED")
                revoked_row = timeline(page).filter(has_text="revokeEnrollment")
                await expect(revoked_row).to_have_count(1)
                await expect(revoked_row).to_contain_text("APPROVED → REVOKED")
                await expect(revoked_row).to_contain_text(f"admin {DEMO_ADMIN}")
                await expect(revoked_row).to_contain_text("revokeEnrollment")
                await expect(revoked_row).to_contain_text(REASON)
                await expect(fact(page, "revokedAt")).not_to_be_empty()
                await expect(fact(page, "access")).to_have_text(re.compile("^revoked"))
                await expect(page.get_by_role("button", name="Revoke")).to_be_hidden()
            await expect(record.locator("#revoke-message")).to_be_empty()
            await expect(websockets.get_by_role("button", name="Enroll Now")).to_be_enabled()
            await shot(record, "enrollment-revoked")
            await shot(tab, "catalogue-after-revocation")

            # The audit log: the revocation on top, then the filters and Load more.
            audit = await open_page(staff, f"{base}/app/admin/audit")
            everything = await audit_ids(gql, admin_token, {})
            total = len(everything)
            await expect(audit.get_by_text(f"Showing {total} of {total} entries")).to_be_visible()
            # Newest first: the LMS's revocation (system), then the admin's.
            revoked = entries(audit).filter(has_text="revokeEnrollment")
            await expect(revoked).to_have_count(1)
            await expect(revoked).to_contain_text(f"admin {DEMO_ADMIN}")
            await expect(revoked).to_contain_text(REASON)
            await expect(revoked.get_by_role("link", name=mine)).to_be_visible()
            await expect(entries(audit).first.locator("td")).to_have_text(
                [re.compile("."), "system", "access_revoked", mine, DEMO_STUDENT, re.compile('"REVOKED"')]
            )
            await shot(audit, "audit-log")

            await apply_filters(audit, Action="revokeEnrollment")
            await expect(entries(audit)).to_have_count(1)
            await expect(entries(audit).first).to_contain_text(mine)
            assert "action=revokeEnrollment" in audit.url

            await apply_filters(audit, Action="", **{"Enrollment id": mine})
            for_mine = await audit_ids(gql, admin_token, {"enrollmentId": mine})
            assert len(for_mine) >= 3, for_mine  # enroll, approve, revoke at least
            await expect(entries(audit)).to_have_count(len(for_mine))
            assert await shown_ids(audit) == for_mine
            links = audit.locator("#entries tbody a")
            await expect(links).to_have_count(len(for_mine))
            for href in await links.evaluate_all("links => links.map(a => a.href)"):
                assert href.endswith(f"/app/admin/enrollment?id={mine}"), href
            await shot(audit, "audit-one-enrollment")

            await apply_filters(audit, **{"From": "2999-01-01T00:00"})
            await expect(audit.get_by_text("No entries match.")).to_be_visible()
            await expect(entries(audit)).to_have_count(0)

            await audit.get_by_role("button", name="Clear").click()
            await apply_filters(audit, **{"Per page": "2"})
            await expect(audit.get_by_text(f"Showing 2 of {total} entries")).to_be_visible()
            more = audit.get_by_role("button", name="Load more")
            shown = 2
            while shown < total:
                await more.click()
                shown = min(shown + 2, total)
                await expect(entries(audit)).to_have_count(shown)
            await expect(more).to_be_hidden()
            assert await shown_ids(audit) == everything

            await revoked.get_by_role("link", name=mine).click()
            await expect(audit).to_have_url(re.compile(rf"/app/admin/enrollment\?id={mine}$"))
            await expect(fact(audit, "status")).to_have_text("REVOKED")

            missing = "0" * 24
            await audit.goto(f"{base}/app/admin/enrollment?id={missing}")
            await expect(audit.get_by_role("alert")).to_have_text(f"There is no enrollment {missing}.")
            await expect(audit.locator("#details")).to_be_hidden()
    finally:
        await student.close()
        await staff.close()
