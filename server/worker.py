"""`enrollwire worker`: only the job workers, for instances that serve no API."""

from __future__ import annotations

import asyncio
import logging
import signal

from server.settings import Settings

log = logging.getLogger(__name__)


async def run_workers(settings: Settings) -> None:
    from server.runtime import open_runtime

    if settings.mongodb_url is None or settings.redis_url is None:
        raise SystemExit("enrollwire worker needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL")
    if settings.job_workers == 0:
        raise SystemExit("enrollwire worker with ENROLLWIRE_JOB_WORKERS=0 would do nothing")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Access changes are pushed to the students' tabs through Redis, like the API's own.
    async with open_runtime(settings, sweeps=False):
        log.info("job workers running: %d", settings.job_workers)
        await stop.wait()
