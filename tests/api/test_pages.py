"""The browser pages' routes and the development sign-in, over real HTTP."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from api.auth import verify_token
from domain.viewer import Role
from sandbox.embedded import ManagedServer
from server.settings import Environment, Settings
from tests import servers
from tests.servers import RunningApp, serve

SIGN_IN = "/app/dev/sign-in"


@pytest.mark.parametrize(
    ("env", "pages", "enabled"),
    [
        (Environment.DEVELOPMENT, None, True),
        (Environment.PRODUCTION, None, False),
        (Environment.PRODUCTION, True, True),
        (Environment.DEVELOPMENT, False, False),
    ],
)
def test_pages_are_on_in_development_only_unless_set(
    env: Environment, pages: bool | None, enabled: bool
) -> None:
    settings = servers.test_settings("mongodb://x", "redis://x", env=env, pages=pages)
    assert settings.pages_enabled is enabled
    assert Settings(env=Environment.DEVELOPMENT).pages_enabled


async def test_page_urls_static_files_and_slash_redirects(http: httpx.AsyncClient) -> None:
    for path, marker in (("/app/", "<h1>Courses</h1>"), ("/app/admin", "<h1>Admin console</h1>")):
        page = await http.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert marker in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
    for path, target in (("/app", "/app/"), ("/app/admin/", "/app/admin")):
        moved = await http.get(path)
        assert moved.status_code == 307 and moved.headers["location"].endswith(target), path
    for path, kind in (
        ("/app/static/catalogue.js", "javascript"),
        ("/app/static/app.css", "text/css"),
        ("/app/static/vendor/graphql-ws/client.js", "javascript"),
    ):
        asset = await http.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], path
        assert asset.headers["cache-control"] == "no-cache"
    licence = await http.get("/app/static/vendor/graphql-ws/LICENSE.md")
    assert "MIT License" in licence.text
    assert (await http.get("/app/static/nothing.js")).status_code == 404


@pytest.mark.parametrize(("role", "user"), [(Role.STUDENT, "demo-student"), (Role.ADMIN, "demo-admin")])
async def test_dev_sign_in_mints_a_token_for_a_demo_user(
    http: httpx.AsyncClient, running: RunningApp, role: Role, user: str
) -> None:
    answer = await http.post(SIGN_IN, json={"role": role.value})
    assert answer.status_code == 200
    body = answer.json()
    viewer = verify_token(running.settings.auth_secret, body["token"])
    assert (viewer.user_id, viewer.role, body["userId"]) == (user, role, user)
    assert body["expiresIn"] > 0


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"role": "root"}', "application/json", 400, "MALFORMED"),
        (b'{"sub": "mallory"}', "application/json", 400, "MALFORMED"),
        (b'["student"]', "application/json", 400, "MALFORMED"),
        (b"role=student", "application/json", 400, "MALFORMED"),
        (b"role=student", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"role": "student", "pad": "' + b"x" * 2000 + b'"}', "application/json", 413, "TOO_LARGE"),
    ],
)
async def test_dev_sign_in_refuses_bad_requests(
    http: httpx.AsyncClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    answer = await http.post(SIGN_IN, content=content, headers={"content-type": content_type})
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


async def test_no_pages_when_disabled_and_no_sign_in_in_production(
    mongo_server: ManagedServer, redis_server: ManagedServer
) -> None:
    off = servers.test_settings(mongo_server.url, redis_server.url, pages=False, job_workers=0)
    production = servers.test_settings(
        mongo_server.url, redis_server.url, env=Environment.PRODUCTION, pages=True, job_workers=0
    )
    for settings, page_status in ((off, 404), (production, 200)):
        async with serve(settings) as app, httpx.AsyncClient(base_url=app.base_url, timeout=10) as client:
            assert (await client.get("/app/")).status_code == page_status
            assert (await client.post(SIGN_IN, json={"role": "admin"})).status_code == 404
