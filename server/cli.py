"""`enrollwire serve | token | seed-demo`."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from api.auth import issue_token
from domain.viewer import Role
from server.logs import configure_logging
from server.settings import Settings
from server.websocket_protocol import UVICORN_WEBSOCKET_OPTIONS


def _resolve_servers(settings: Settings) -> Settings:
    """Starts the embedded store and Redis for whatever URL is not configured."""
    from sandbox.embedded import start_mongo, start_redis

    updates: dict[str, str] = {}
    data = Path(settings.data_dir)
    if settings.mongodb_url is None:
        mongo = start_mongo(data / "mongo")
        updates["mongodb_url"] = mongo.url
        print(
            f"embedded MongoDB-compatible store (SecantusDB): {mongo.url}  data: {data / 'mongo'}", flush=True
        )
    if settings.redis_url is None:
        redis = start_redis(data / "redis")
        updates["redis_url"] = redis.url
        print(f"embedded Redis: {redis.url}", flush=True)
    return settings.model_copy(update=updates) if updates else settings


async def _seed(settings: Settings) -> None:
    from sandbox.demo import seed_demo
    from server.runtime import open_runtime

    async with open_runtime(settings, sweeps=False, jobs=False) as runtime:
        await seed_demo(runtime.services.courses, runtime.services.coupons)


def _print_welcome(settings: Settings) -> None:
    from sandbox.demo import DEMO_ADMIN, DEMO_STUDENT

    day = 24 * 3600
    student = issue_token(settings.token_policy, DEMO_STUDENT, Role.STUDENT, day, "student@example.com")
    admin = issue_token(settings.token_policy, DEMO_ADMIN, Role.ADMIN, day, "admin@example.com")
    print(f"\nGraphiQL:      {settings.base_url}/graphql")
    if settings.pages_enabled:
        print(f"catalogue:     {settings.base_url}/app/")
        print(f"admin console: {settings.base_url}/app/admin")
    print(f"student token: {student}")
    # Flushed: piped (`make run | tee`), stdout is block-buffered and the tokens would wait for exit.
    print(f"admin token:   {admin}\n", flush=True)


def _stop_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _as_sigterm(signum: int, frame: FrameType | None) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def serve(settings: Settings, seed: bool) -> None:
    import uvicorn

    from api.app import create_app
    from server.draining import DrainingServer

    # uvicorn shuts down gracefully on SIGTERM, then restores the handler it found and raises
    # the signal again: under the default handler the process would die by SIGTERM (exit -15)
    # and skip atexit, leaving the embedded servers to PDEATHSIG. This one makes it exit 0,
    # and also covers a SIGTERM that arrives before uvicorn is listening.
    signal.signal(signal.SIGTERM, _stop_cleanly)
    # A closed terminal sends SIGHUP, whose default ends Python at once: no graceful shutdown and
    # no atexit, so the embedded servers would be stopped only by PDEATHSIG. Treat it as SIGTERM
    # (uvicorn's handler while it serves, ours before).
    signal.signal(signal.SIGHUP, _as_sigterm)
    settings = _resolve_servers(settings)
    if seed:
        asyncio.run(_seed(settings))
        _print_welcome(settings)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        **UVICORN_WEBSOCKET_OPTIONS,
        timeout_graceful_shutdown=10,
        # Idle keep-alive connections close after 5 s, and a request's headers are bounded in size;
        # uvicorn has no header-read timeout (the proxy's client_header_timeout is that), and a
        # slow body is cut by api.limits (ENROLLWIRE_BODY_TIMEOUT_SECONDS).
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
        log_config=None,  # uvicorn logs through our handlers (JSON in production)
        server_header=False,
        # The client address is the peer's; X-Forwarded-For counts only from
        # ENROLLWIRE_TRUSTED_PROXIES (api.client_ip), not from whatever uvicorn would trust.
        proxy_headers=False,
    )
    DrainingServer(config, app.stop_job_workers).serve_until_stopped()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enrollwire")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the API (embedded servers when no URLs are set)")
    run.add_argument("--seed-demo", action="store_true", help="seed demo data and print tokens first")
    token = commands.add_parser("token", help="print a signed token for development and tests")
    token.add_argument("--sub", required=True)
    token.add_argument("--role", choices=[r.value for r in Role], required=True)
    token.add_argument("--ttl", type=int, default=3600)
    token.add_argument("--email")
    commands.add_parser("seed-demo", help="insert the demo courses and coupon (idempotent)")
    commands.add_parser("worker", help="run only the job workers (needs the MongoDB and Redis URLs)")
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as error:
        # Unsafe or malformed settings: one clear line naming the setting, no traceback.
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        print(f"enrollwire: refusing to start: {reasons}", file=sys.stderr, flush=True)
        return 2
    configure_logging(settings.log_level, json_lines=settings.log_json)
    if args.command == "token":
        print(issue_token(settings.token_policy, args.sub, Role(args.role), args.ttl, args.email))
    elif args.command == "serve":
        serve(settings, args.seed_demo)
    elif args.command == "worker":
        from server.worker import run_workers

        asyncio.run(run_workers(settings))
    elif args.command == "seed-demo":
        asyncio.run(_seed(_resolve_servers(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
