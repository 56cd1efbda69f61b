"""Retention of finished jobs: SUCCEEDED ones deleted by a TTL index, their number kept in counters.

A job gets `finishedAt` when it succeeds; the partial TTL index deletes it
ENROLLWIRE_JOB_RETENTION_DAYS later. DEAD jobs carry no `finishedAt` and the index covers
SUCCEEDED ones only, so a DEAD job stays until an admin retries it.

Up to that many days of SUCCEEDED jobs are kept: counting them for every `/metrics` scrape and
`jobStats` call would cost more as traffic grows. Each success adds one to its hour's counter;
the count is the sum of the hours the retention window covers, at most `days * 24 + 1` small
documents whatever the history. It follows the TTL index to within an hour (and the TTL
monitor's minute); a process dying between a job's success and its count misses that one, as a
metric may. Jobs that succeeded before these counters existed are not counted.
"""

from __future__ import annotations

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


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _key(hour: datetime) -> str:
    return PREFIX + hour.strftime("%Y-%m-%dT%H")


class SucceededCounts:
    def __init__(self, collection: AsyncCollection[Doc], retention: timedelta) -> None:
        self._counts = collection
        self.retention = retention

    async def record(self, at: datetime, count: int = 1) -> None:
        hour = _hour(at)
        await self._counts.update_one(
            {"_id": _key(hour)},
            {"$inc": {"n": count}, "$setOnInsert": {"expiresAt": hour + self.retention + timedelta(hours=2)}},
            upsert=True,
        )

    async def total(self, now: datetime) -> int:
        """Successes in the hours since `now - retention` (the hour partly swept included)."""
        since, until = _key(_hour(now - self.retention)), _key(_hour(now))
        pipeline: list[Doc] = [
            {"$match": {"_id": {"$gte": since, "$lte": until}}},
            {"$group": {"_id": None, "n": {"$sum": "$n"}}},
        ]
        async for row in await self._counts.aggregate(pipeline):
            return int(row["n"])
        return 0


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
