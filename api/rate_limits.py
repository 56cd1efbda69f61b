"""Rate limits held in Redis, so every instance sees every other's count (`limits`' moving window).

`RateLimiter.hit(rule, key)` answers None (go on) or the seconds to wait. Redis unreachable, slow
or erroring: the request goes on (fail open) and `failed_open(rule)` counts it, because a limit
that fails closed would turn a Redis outage into a full outage. Open sockets per user are not a
rate: `SocketSlots` keeps one sorted set per user of the sockets open on every instance.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import redis.asyncio as redis
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.rate_limit_rules import Rate, RateLimitRules, Rule

log = logging.getLogger(__name__)

# A limit check waits at most this long for Redis before the request goes on without it.
REDIS_TIMEOUT_SECONDS = 0.5
# At most one warning per this many seconds while Redis is down (every request would log one).
WARN_EVERY_SECONDS = 60.0
_ITEMS: dict[int, type[RateLimitItem]] = {
    1: RateLimitItemPerSecond,
    60: RateLimitItemPerMinute,
    3600: RateLimitItemPerHour,
}
T = TypeVar("T")


class LimitCounters(Protocol):
    def rate_limited(self, rule: str) -> None: ...
    def rate_limit_failed_open(self, rule: str) -> None: ...


class RateLimiter:
    """One per app. `prefix` names the deployment's keys (instances of one deployment share it)."""

    def __init__(self, redis_url: str, rules: RateLimitRules, prefix: str, counters: LimitCounters) -> None:
        self.rules = rules
        self._counters = counters
        self._client: redis.Redis = redis.Redis.from_url(
            redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
        )
        storage = RedisStorage(
            "async+" + redis_url.removeprefix("async+"),
            implementation="redispy",
            key_prefix=f"{prefix}:limits",
            connection_pool=self._client.connection_pool,  # type: ignore[arg-type]  # handed to redis-py as is
        )
        self._strategy = MovingWindowRateLimiter(storage)
        self._items = {rule: self._item(rate) for rule, rate in rules.rates.items()}
        self.sockets = SocketSlots(self._client, f"{prefix}:sockets", rules.sockets_per_user, self._guard)
        self._warned_at = -math.inf

    @staticmethod
    def _item(rate: Rate) -> RateLimitItem:
        return _ITEMS[rate.seconds](rate.amount)

    async def hit(self, rule: Rule, key: str, cost: int = 1) -> float | None:
        """Counts `cost` against `rule` for `key`: None when allowed, else seconds until it would be."""
        if not self.rules.enabled:
            return None
        item = self._items[rule]

        async def check() -> float | None:
            if await self._strategy.hit(item, key, cost=cost):
                return None
            stats = await self._strategy.get_window_stats(item, key)
            return max(1.0, math.ceil(stats.reset_time - time.time()))

        wait = await self._guard(rule, check, None)
        if wait is not None:
            self.count_limited(rule)
        return wait

    def count_limited(self, rule: Rule) -> None:
        self._counters.rate_limited(rule.value)

    async def _guard(self, rule: Rule, check: Callable[[], Awaitable[T]], fallback: T) -> T:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                return await check()
        except Exception as error:  # whatever Redis or the library raise: the request goes on
            self._counters.rate_limit_failed_open(rule.value)
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_SECONDS:
                self._warned_at = now
                log.warning("rate limits fail open: Redis unavailable (%s)", type(error).__name__)
            return fallback

    async def aclose(self) -> None:
        await self._client.aclose()


Guard = Callable[[Rule, Callable[[], Awaitable[T]], T], Awaitable[T]]


class SocketSlots:
    """The sockets a user has open on any instance: one sorted set per user, a member per socket,
    scored with the moment it stops counting (its token's expiry: an open socket is closed then).
    An instance that dies without releasing its members leaves them counted until that moment."""

    def __init__(self, client: redis.Redis, prefix: str, limit: int, guard: Guard[bool]) -> None:
        self._client = client
        self._prefix = prefix
        self.limit = limit
        self._guard = guard

    async def acquire(self, user_id: str, until: float) -> str | None:
        """A slot for one more socket of `user_id`, held until `until` (epoch seconds) at the latest;
        None when the user already has `limit` open. Fails open like every limit."""
        slot = uuid.uuid4().hex
        key = f"{self._prefix}:{user_id}"

        async def take() -> bool:
            now = time.time()
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zadd(key, {slot: until})
                pipe.zcard(key)
                pipe.expireat(key, math.ceil(max(until, now + 1)), gt=True)
                pipe.expire(key, math.ceil(max(until - now, 1)), nx=True)
                results = await pipe.execute()
            if int(results[2]) <= self.limit:
                return True
            await self._client.zrem(key, slot)
            return False

        return slot if await self._guard(Rule.WS_SOCKETS_PER_USER, take, True) else None

    async def release(self, user_id: str, slot: str) -> None:
        async def drop() -> bool:
            await self._client.zrem(f"{self._prefix}:{user_id}", slot)
            return True

        await self._guard(Rule.WS_SOCKETS_PER_USER, drop, True)
