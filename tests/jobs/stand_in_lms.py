"""A real HTTP server standing in for the LMS and the notification service in job tests.

It answers from a script (then a default), counts calls per `Idempotency-Key`, and records
every time one key arrives while a call with the same key is still in flight. A 200 from
`/lms` carries what a real LMS answers: the student's `accountId` and a `launchUrl`. A held call
ends when the caller hangs up (a timeout, a killed worker) or when the test releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.embedded import free_port


def launch_url(enrollment_id: str) -> str:
    return f"https://lms.example.test/launch/{enrollment_id}"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    retry_after: str | None = None
    hold: bool = False
    delay: float = 0.0  # answer after this long: widens the window in which overlaps would show
    body: dict[str, Any] | None = None  # instead of the usual answer


OK = Reply()


@dataclass
class Call:
    key: str
    path: str
    body: dict[str, Any]
    at: float
    status: int | None = None  # None: the caller hung up first


@dataclass
class StandInLms:
    port: int = field(default_factory=free_port)
    script: list[Reply] = field(default_factory=list)
    default: Reply = OK
    calls: list[Call] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    answered_ok: set[tuple[str, str]] = field(default_factory=set)  # (path, key) answered 200
    in_flight: Counter[str] = field(default_factory=Counter)
    timeline: list[tuple[str, str]] = field(default_factory=list)  # ("start" | "end", key), in order
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def per_key(self, path: str = "/lms") -> Counter[str]:
        return Counter(c.key for c in self.calls if c.path == path)

    def succeeded(self, path: str = "/lms") -> set[str]:
        return {c.key for c in self.calls if c.path == path and c.status == 200}

    def release(self) -> None:
        self.released.set()

    async def wait_for(self, predicate: Any, seconds: float = 30) -> None:
        """Until `predicate()` holds, re-checked on every call the stand-in sees."""
        async with asyncio.timeout(seconds):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def _handle(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key", "")
        call = Call(key, request.url.path, await request.json(), time.monotonic())
        self.calls.append(call)
        if self.in_flight[key]:
            self.overlaps.append(key)
        self.in_flight[key] += 1
        self.timeline.append(("start", key))
        self._changed()
        try:
            reply = self.script.pop(0) if self.script and call.path == "/lms" else self.default
            if reply.hold:
                await self._hold(request)
                return Response(status_code=499)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            call.status = reply.status
            if reply.status == 200:
                self.answered_ok.add((call.path, key))
            headers = {} if reply.retry_after is None else {"Retry-After": reply.retry_after}
            answer = reply.body if reply.body is not None else self._answer(call, reply.status)
            return JSONResponse(answer, status_code=reply.status, headers=headers)
        finally:
            self.timeline.append(("end", key))
            self.in_flight[key] -= 1
            self._changed()

    def _answer(self, call: Call, status: int) -> dict[str, Any]:
        if status != 200 or call.path != "/lms":
            return {"ok": status == 200}
        return {
            "ok": True,
            "launchUrl": launch_url(call.body["enrollmentId"]),
            "accountId": f"acct-{call.body['userId']}",
        }

    async def _hold(self, request: Request) -> None:
        # Polling the socket is the only way Starlette reports a caller that hung up.
        while not self.released.is_set() and not await request.is_disconnected():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await self.released.wait()

    def _changed(self) -> None:
        self.changed.set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[StandInLms]:
        app = Starlette(
            routes=[
                Route("/lms", self._handle, methods=["POST"]),
                Route("/notify", self._handle, methods=["POST"]),
            ]
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        try:
            yield self
        finally:
            self.release()
            server.should_exit = True
            await task
