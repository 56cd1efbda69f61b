"""The catalogue shows prices by the currency's minor-unit exponent, as the server formats them."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from domain.course import Course
from domain.money import Money, format_money
from sandbox.embedded import ManagedServer
from tests.browser.pages import DESKTOP, card, open_page, page_settings
from tests.servers import serve

COURSES = (
    Course("yen", "Priced in yen", Money(1000, "JPY"), True),
    Course("dinar", "Priced in dinar", Money(1234, "KWD"), True),
    Course("rand", "Priced in rand", Money(12905, "ZAR"), True),
    Course("fils", "Priced in fils", Money(5, "BHD"), True),
)
SHOWN = {"yen": "1000 JPY", "dinar": "1.234 KWD", "rand": "129.05 ZAR", "fils": "0.005 BHD"}


async def test_catalogue_prices_follow_the_currency_exponent(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    context = await browser.new_context(viewport=DESKTOP)
    try:
        async with serve(page_settings(mongo_server.url, redis_server.url)) as running:
            for course in COURSES:
                assert await running.app.runtime.services.courses.insert_course(course)
            page = await open_page(context, f"{running.base_url}/app/")
            for course in COURSES:
                shown = SHOWN[course.id]
                assert format_money(course.price) == shown  # the server's pages agree with the browser's
                await expect(card(page, course.title).locator(".price")).to_have_text(shown)
    finally:
        await context.close()
