"""The learning platform and notifier the job workers call during `make bench`, in a process of
their own (production calls services elsewhere, so their CPU is not the server's).

`python -m bench.job_targets PORT` serves `POST /lms` and `POST /notify`, each answering 200.
"""

from __future__ import annotations

import subprocess
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.embedded import free_port


async def accept(request: Request) -> Response:
    await request.body()
    return JSONResponse({"status": "ok"})


def app() -> Starlette:
    return Starlette(routes=[Route(path, accept, methods=["POST"]) for path in ("/lms", "/notify")])


def start() -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """The process, and the settings that point a server's job workers at it."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.job_targets", str(port)])
    base = f"http://127.0.0.1:{port}"
    return process, {"ENROLLWIRE_LMS_URL": f"{base}/lms", "ENROLLWIRE_NOTIFY_URL": f"{base}/notify"}


if __name__ == "__main__":
    uvicorn.run(app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
