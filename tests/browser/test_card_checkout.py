"""A card enrollment in headless Chromium: the iK Pay stand-in's hosted page, then our return page.

The gateway is iK Pay's stand-in on a server of its own (`tests.api.card_support.card_app`).
Its callback is held until the student is back on the return page, as a real gateway's often
arrives after the browser does: the page shows Payment Processing, the callback lands, and the
card turns to Continue Course there and in the catalogue's other open tab.
"""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from sandbox.demo import DEMO_STUDENT
from sandbox.embedded import ManagedServer
from tests.api.card_support import card_app
from tests.api.webhook_support import CREATE_COURSE
from tests.browser.pages import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Screenshots,
    card,
    connection,
    open_page,
    sign_in,
    trusted_manifest,
)


async def test_pay_on_the_hosted_page_and_the_return_page_turns_with_the_other_tab(
    browser: Browser, mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    shot = Screenshots(ARTIFACTS / "card")
    student = await browser.new_context(viewport=DESKTOP)
    try:
        async with card_app(
            mongo_server, redis_server, trusted_documents=trusted_manifest(CREATE_COURSE)
        ) as gateway:
            base = gateway.running.base_url
            course = await gateway.course(price=49_900)
            title = f"Course {course}"
            tab1 = await open_page(student, f"{base}/app/")
            await sign_in(tab1, "student")
            tab2 = await open_page(student, f"{base}/app/", PHONE)
            await expect(tab2.get_by_text(f"Signed in as {DEMO_STUDENT}")).to_be_visible()
            for page in (tab1, tab2):
                await expect(connection(page)).to_have_text("Live")

            offer = card(tab1, title)
            await offer.get_by_label("Card", exact=True).check()
            await offer.get_by_role("button", name="Enroll Now").click()
            for page in (tab1, tab2):
                await expect(
                    card(page, title).get_by_role("button", name="Payment Processing")
                ).to_be_disabled()
            await shot(tab1, "card-payment-processing")

            gateway.standin.knobs.hold_callbacks = True
            async with student.expect_page() as opened:
                await offer.get_by_role("link", name="Pay at the checkout").click()
            checkout = await opened.value
            await expect(checkout.get_by_role("heading", name="iK Pay (stand-in)")).to_be_visible()
            await expect(checkout.get_by_text("ZAR 499.00")).to_be_visible()
            assert checkout.url.startswith(f"{gateway.standin_url}/pay/")
            await shot(checkout, "ikpay-hosted-page")

            await checkout.get_by_role("button", name="Pay", exact=True).click()
            back = f"{base}/app/checkout/success?course={course}"
            await expect(checkout).to_have_url(re.compile(re.escape(back) + "$"))
            returned = card(checkout, title)
            await expect(checkout.get_by_text("Thank you. Your payment is being confirmed")).to_be_visible()
            await expect(connection(checkout)).to_have_text("Live")
            await expect(returned.get_by_role("button", name="Payment Processing")).to_be_disabled()
            await shot(checkout, "return-page-processing")

            assert len(gateway.standin.held) == 1
            await gateway.standin.release_callbacks()  # iK Pay's signed callback, answered
            assert [status for _, status in gateway.standin.delivered] == [200]
            for page in (checkout, tab1, tab2):
                await expect(card(page, title).get_by_role("button", name="Continue Course")).to_be_visible()
            await expect(returned.get_by_role("link", name="Pay at the checkout")).to_be_hidden()
            await shot(checkout, "return-page-continue-course")
            await shot(tab2, "other-tab-continue-course-phone")
    finally:
        await student.close()
