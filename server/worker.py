"""`enrollwire worker`: only the job workers, for instances that serve no API."""

from __future__ import annotations

import asyncio
import logging
import signal

from server.settings import Settings

log = logging.getLogger(__name__)


async def run_workers(settings: Settings) -> None:
    from api.app import build_services
    from jobs.pool import start_jobs
    from realtime.hub import Hub
    from store.database import Collections, connect
    from store.indexes import ensure_indexes

    if settings.mongodb_url is None or settings.redis_url is None:
        raise SystemExit("enrollwire worker needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL")
    if settings.job_workers == 0:
        raise SystemExit("enrollwire worker with ENROLLWIRE_JOB_WORKERS=0 would do nothing")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    mongo = connect(settings.mongodb_url)
    hub = Hub(settings.redis_url)
    try:
        collections = Collections.of(mongo, settings.mongodb_db)
        await ensure_indexes(collections)
        # Access changes are pushed to the students' tabs through Redis, like the API's own.
        await hub.start()
        jobs = start_jobs(settings, build_services(settings, collections, hub))
        log.info("job workers running: %d", settings.job_workers)
        try:
            await stop.wait()
        finally:
            await jobs.stop()
    finally:
        await hub.stop()
        await mongo.close()
