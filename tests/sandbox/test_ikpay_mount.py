"""`make run` with the ikhokha gateway: iK Pay's stand-in in the development sandbox, over real HTTP."""

from __future__ import annotations

import httpx2 as httpx

from sandbox.embedded import ManagedServer
from sandbox.ikpay_mount import DEV_APP_ID, PREFIX, standin_credentials
from tests.api.card_support import ENROLL_CARD
from tests.api.webhook_support import create_course
from tests.realtime.wsclient import COURSE_CARD, card_of, signed_in
from tests.servers import GraphQLClient, serve, test_settings


async def test_enroll_by_card_pays_on_the_mounted_standin(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    settings = test_settings(mongo_server.url, redis_server.url, payment_gateway="ikhokha")
    assert settings.ikpay_standin and settings.ikhokha_app_id is None
    async with (
        serve(settings) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        gql = GraphQLClient(http, running)
        course = await create_course(gql, running, 49_900)
        token = running.token("dev-card-student")
        async with signed_in(running.ws_url, token) as tab:
            op = await tab.subscribe(COURSE_CARD, {"courseId": course})
            assert (await card_of(tab, op))["buttonText"] == "Enroll Now"
            variables = {"input": {"courseId": course, "paymentMethod": "CARD"}}
            payload = (await gql(ENROLL_CARD, variables, token))["data"]["enroll"]
            assert payload["errors"] == []
            paylink_id = payload["enrollment"]["gatewayTransactionId"]
            pay_page = f"{running.base_url}{PREFIX}/pay/{paylink_id}"
            assert payload["payment"]["redirectUrl"] == pay_page
            assert (await card_of(tab, op))["buttonText"] == "Payment Processing"

            # The student's browser: the hosted page under the sandbox, Pay, our return page.
            page = await http.get(pay_page)
            assert page.status_code == 200 and f'action="{PREFIX}/pay/{paylink_id}/pay"' in page.text
            paid = await http.post(f"{pay_page}/pay")
            assert paid.status_code == 303
            back = paid.headers["location"]
            assert back == f"{running.base_url}/app/checkout/success?course={course}"
            assert (await http.get(back)).status_code == 200

            # The stand-in's signed callback reached /webhooks/ikhokha: the card turns.
            face = await card_of(tab, op, within=15)
            assert (face["buttonText"], face["enrollment"]["status"]) == ("Continue Course", "APPROVED")
        enrollment = await running.app.runtime.collections.enrollments.find_one(
            {"_id": payload["enrollment"]["id"]}
        )
        assert enrollment is not None and enrollment["webhookEventIds"] == [f"ikhokha:{paylink_id}:SUCCESS"]


async def test_the_standin_is_not_mounted_unless_asked_for(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    urls = mongo_server.url, redis_server.url
    assert standin_credentials(test_settings(*urls)) is None  # the sandbox gateway
    explicit = test_settings(
        *urls,
        payment_gateway="ikhokha",
        ikhokha_api_url="https://api.ikhokha.com",
        ikhokha_app_id="REAL",
        ikhokha_app_secret="real-secret",
    )
    assert standin_credentials(explicit) is None  # an API URL of one's own
    no_sandbox = test_settings(
        *urls, payment_gateway="ikhokha", sandbox=False, ikhokha_app_id="A", ikhokha_app_secret="s"
    )
    assert standin_credentials(no_sandbox) is None
    production = test_settings(*urls, env="production")
    assert not production.ikpay_standin and standin_credentials(production) is None
    own = test_settings(*urls, payment_gateway="ikhokha", ikhokha_app_id="MINE", ikhokha_app_secret="x")
    credentials = standin_credentials(own)
    assert credentials is not None and (credentials.app_id, credentials.app_secret) == ("MINE", "x")
    assert credentials.api_url == own.base_url + PREFIX
    default = standin_credentials(test_settings(*urls, payment_gateway="ikhokha"))
    assert default is not None and default.app_id == DEV_APP_ID

    async with (
        serve(no_sandbox) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as http,
    ):
        assert (await http.get(f"{PREFIX}/pay/anything")).status_code == 404
