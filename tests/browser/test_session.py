"""A token the server refuses: the pages say the session expired (no retry loop) and sign in again."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, expect

from sandbox.embedded import ManagedServer
from tests.browser.pages import connection, open_page, page_settings, seed, sign_in
from tests.servers import serve

# Once per tab (sessionStorage), so signing in afterwards is not undone by the next load.
FORGED = """
if (!sessionStorage.getItem("forged")) {
  sessionStorage.setItem("forged", "1");
  const forged = {token: "forged.token.value", userId: "mallory", expiresAt: Date.now() + 3600e3};
  localStorage.setItem(%s, JSON.stringify(forged));
}
"""


@pytest.mark.parametrize(("path", "who"), [("/app/admin", "admin"), ("/app/", "student")])
async def test_a_refused_token_shows_session_expired_then_sign_in_works(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer, path: str, who: str
) -> None:
    context = await browser.new_context()
    try:
        await context.add_init_script(FORGED % json.dumps(f"enrollwire.session.{who}"))
        async with serve(page_settings(mongo_server.url, redis_server.url, job_workers=0)) as running:
            await seed(running.app.runtime.services)
            page = await open_page(context, f"{running.base_url}{path}")
            await expect(connection(page)).to_have_text("Session expired: sign in again")
            await expect(page.get_by_role("alert")).to_have_text("Your session expired. Sign in again.")
            await sign_in(page, who)
            await expect(connection(page)).to_have_text("Live")
    finally:
        await context.close()
