"""How a person finds things on the pages: by role, label and visible text."""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Locator, Page, ViewportSize, expect

from api.documents import sha256_hex
from domain.course import Course
from domain.money import Money
from domain.services import Services
from sandbox.demo import seed_demo
from server.settings import Settings
from tests.servers import test_settings

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=860)
EXTRA_COURSE = Course("websockets-301", "WebSockets in Depth", Money(99_00, "ZAR"), True)
PAGES_MANIFEST = Path(__file__).resolve().parent.parent.parent / "web" / "trusted-documents.json"
# What a test does behind the pages' backs (another student enrolling): registered beside them.
ENROLL = """
mutation($input: EnrollInput!) { enroll(input: $input) { enrollment { status } errors { code } } }
"""


@cache
def trusted_manifest(*setup: str) -> str:
    """The pages' generated manifest plus the tests' own documents, in a file for the server."""
    manifest = json.loads(PAGES_MANIFEST.read_text()) | {sha256_hex(d): d for d in (ENROLL, *setup)}
    folder = Path(tempfile.mkdtemp(prefix="enrollwire-trusted-"))
    (folder / "trusted.json").write_text(json.dumps(manifest))
    return str(folder / "trusted.json")


def page_settings(mongodb_url: str, redis_url: str, **overrides: Any) -> Settings:
    """The browser tests run with trusted documents on: a page sending a document that is not in
    the generated manifest fails them (and whatever runs in this mode runs without it)."""
    return test_settings(mongodb_url, redis_url, trusted_documents=trusted_manifest(), **overrides)


async def seed(services: Services) -> None:
    """What `make run` seeds (two courses, the WELCOME10 coupon), and a third course."""
    await seed_demo(services.courses, services.coupons)
    await services.courses.insert_course(EXTRA_COURSE)


def connection(page: Page) -> Locator:
    return page.get_by_role("status").and_(page.locator("#connection"))


def card(page: Page, title: str) -> Locator:
    return page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=title))


def pending_row(admin: Page, title: str) -> Locator:
    return admin.get_by_role("row").filter(has_text=title)


async def open_page(context: BrowserContext, path: str, viewport: ViewportSize = DESKTOP) -> Page:
    page = await context.new_page()
    await page.set_viewport_size(viewport)
    await page.goto(path)
    return page


async def sign_in(page: Page, who: str) -> None:
    await page.get_by_role("button", name=f"Sign in as the demo {who}").click()
    await expect(page.get_by_text(f"Signed in as demo-{who}")).to_be_visible()


class Screenshots:
    """Numbered full-page screenshots of every step, in tests/artifacts/ (git-ignored)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    async def __call__(self, page: Page, step: str) -> None:
        self.count += 1
        await page.screenshot(path=self.folder / f"{self.count:02d}-{step}.png", full_page=True)
