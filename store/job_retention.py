"""Retention of finished jobs: SUCCEEDED ones deleted by a TTL index, their number kept in counters.

A job gets `finishedAt` when it succeeds; the partial TTL index deletes it
ENROLLWIRE_JOB_RETENTION_DAYS later. DEAD jobs carry no `finishedAt` and the index covers
SUCCEEDED ones only, so a DEAD job stays until an admin retries it.

Up to that many days of SUCCEEDED jobs are kept: counting them for every `/metrics` scrape and
`jobStats` call would cost more as traffic grows. Each success adds one to its hour's counter;
the count is the sum of the hours the retention window covers, at most `days * 24 + 1` small
documents whatever the history. It follows the TTL index to within an hour (and the TTL
monitor's minute). Jobs that succeeded before these counters existed are not counted.

Successes are counted in memory first and written by each process about once a second: when
its idle pool's scheduler looks for the next job, when counts have waited COUNT_WRITE_EVERY
under load, and when the pool stops. A counter write with every job made each job cost one
more write. A process reads its own unwritten counts with the stored
ones; another sees them within that second. A process that dies loses what it had not written,
as a metric may.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from store.database import Doc

RETENTION_INDEX = "succeeded_retention"
COUNTS_COLLECTION = "job_counts"
DEFAULT_RETENTION = timedelta(days=7)
PREFIX = "succeeded:"
# A counter outlives its jobs by an hour, then expires too (a sweep of this tiny collection).
COUNT_INDEXES = [IndexModel([("expiresAt", ASCENDING)], name="expiry", expireAfterSeconds=0)]
COUNT_WRITE_EVERY = 1.0  # seconds

log = logging.getLogger(__name__)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _key(hour: datetime) -> str:
    return PREFIX + hour.strftime("%Y-%m-%dT%H")


class SucceededCounts:
    def __init__(self, collection: AsyncCollection[Doc], retention: timedelta) -> None:
        self._counts = collection
        self.retention = retention
        self._held: Counter[datetime] = Counter()  # per hour: counted here, not yet written
        self._held_since = 0.0  # time.monotonic() of the oldest count held
        self._writing = asyncio.Lock()

    def add(self, at: datetime, count: int = 1) -> None:
        """Counts `count` successes at `at`, in memory until the next `write`."""
        if not self._held:
            self._held_since = time.monotonic()
        self._held[_hour(at)] += count

    @property
    def write_due(self) -> bool:
        """Counts have been held for COUNT_WRITE_EVERY."""
        return bool(self._held) and time.monotonic() - self._held_since >= COUNT_WRITE_EVERY

    async def write(self) -> None:
        """Adds the counts held to the stored ones: one update per hour they fall in (usually one).

        Never raises: a count that could not be written stays held for the next write.
        """
        async with self._writing:  # two writes at once would both add the same counts
            for hour in sorted(self._held):
                count = self._held[hour]
                try:
                    await self._counts.update_one(
                        {"_id": _key(hour)},
                        {"$inc": {"n": count}, "$setOnInsert": {"expiresAt": self._expiry(hour)}},
                        upsert=True,
                    )
                except Exception:
                    log.warning(
                        "could not write %d job successes to their counter; kept for the next write", count
                    )
                    return
                # Only what was written: a success counted meanwhile waits for the next write.
                self._held[hour] -= count
                if not self._held[hour]:
                    del self._held[hour]

    def _expiry(self, hour: datetime) -> datetime:
        return hour + self.retention + timedelta(hours=2)

    async def total(self, now: datetime) -> int:
        """Successes in the hours since `now - retention` (the hour partly swept included)."""
        since, until = _key(_hour(now - self.retention)), _key(_hour(now))
        pipeline: list[Doc] = [
            {"$match": {"_id": {"$gte": since, "$lte": until}}},
            {"$group": {"_id": None, "n": {"$sum": "$n"}}},
        ]
        async with self._writing:  # a count on its way to the store would be read twice
            held = sum(count for hour, count in self._held.items() if since <= _key(hour) <= until)
            async for row in await self._counts.aggregate(pipeline):
                return int(row["n"]) + held
            return held


async def ensure_retention(
    jobs: AsyncCollection[Doc], counts: AsyncCollection[Doc], retention: timedelta
) -> None:
    """The TTL index on SUCCEEDED jobs for `retention`; a changed setting updates it in place."""
    seconds = int(retention.total_seconds())
    index = IndexModel(
        [("finishedAt", ASCENDING)],
        name=RETENTION_INDEX,
        expireAfterSeconds=seconds,
        partialFilterExpression={"status": "SUCCEEDED"},
    )
    existing = (await jobs.index_information()).get(RETENTION_INDEX)
    if existing is None:
        await jobs.create_indexes([index])
    elif existing.get("expireAfterSeconds") != seconds:
        # create_indexes would refuse the changed option: collMod changes it in place.
        command = {"collMod": jobs.name, "index": {"name": RETENTION_INDEX, "expireAfterSeconds": seconds}}
        await jobs.database.command(command)
    await counts.create_indexes(COUNT_INDEXES)
