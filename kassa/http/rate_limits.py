"""Per-account request rate limits as Stripe has them (25 requests per second in a sandbox,
100 in live mode): off unless `KASSA_RATE_LIMIT` sets the requests per second.

A request over the limit is answered 429 with Stripe's error (`invalid_request_error`, code
`rate_limit`), before its body is read or any unit of work opens. The official SDKs raise
their `RateLimitError` for it and, as with Stripe, do not retry it by themselves (they
retry only a 429 whose code is `lock_timeout`): the caller backs off.

The window is a moving one second (never more than the limit in any one-second span), on real
time (`time.monotonic` in memory, Redis's clock in Redis): a test clock does not slow it. In
one process the counts live in memory (`MemoryWindows`, written here: the `limits`
library's memory storage sweeps expired entries from a background task that hops to a
thread for every key, and halved customer creates at concurrency 32 (bench/README.md),
where this costs a few microseconds); with `KASSA_REDIS_URL` they live in Redis through
`limits`' moving-window strategy, shared by every `kassa serve` process that names the same
Redis. If Redis cannot be reached the API keeps serving (fail open) and
`kassa_rate_limiter_failures_total` counts each request let through unchecked; after a
failure the limiter leaves Redis alone for STORE_RETRY_SECONDS (a Redis that times out would
otherwise add its timeout to every request), and a warning is logged at most every
FAILURE_LOG_INTERVAL_SECONDS.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Final

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter

from kassa.config import Settings
from kassa.errors import RateLimited
from kassa.invariants import InvariantViolated

RATE_LIMIT_MESSAGE: Final = (
    "Request rate limit exceeded. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)
KEY_NAMESPACE: Final = "kassa-api"
"""Redis keys are `LIMITER/kassa-api/<account>/...`: one counter per account."""
FAILURE_LOG_INTERVAL_SECONDS: Final = 10.0
STORE_RETRY_SECONDS: Final = 1.0
WINDOW_SECONDS: Final = 1.0
PRUNE_EVERY_CHECKS: Final = 10_000
"""How often the in-memory windows forget accounts idle for a whole window, so that memory
follows the accounts in use (each window holds at most the limit's request times)."""


class MemoryWindows:
    """Per account, the times of its latest requests, at most `limit` of them: a request
    is let in when fewer than `limit` fall within the last WINDOW_SECONDS."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._windows: dict[str, deque[float]] = {}
        self._checks = 0

    def hit(self, key: str, now: float) -> bool:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque(maxlen=self._limit)
        if len(window) == self._limit and window[0] > now - WINDOW_SECONDS:
            return False
        window.append(now)
        self._checks += 1
        if self._checks % PRUNE_EVERY_CHECKS == 0:
            self._forget_idle(now)
        return True

    def _forget_idle(self, now: float) -> None:
        idle = [key for key, window in self._windows.items() if window[-1] <= now - WINDOW_SECONDS]
        for key in idle:
            del self._windows[key]


REDIS_TIMEOUT_SECONDS: Final = 0.25
"""A Redis that does not answer in this time counts as down for that request: a stalled
limiter must not stall the API."""

log = logging.getLogger("kassa.rate_limits")


class RedisWindows:
    """The moving windows in Redis (`limits`' moving-window strategy), shared by every
    process naming the same Redis; fails open, counted by the caller's `failures`."""

    def __init__(self, per_second: int, redis_url: str, failures: Counter) -> None:
        self._item = RateLimitItemPerSecond(per_second)
        self._strategy = MovingWindowRateLimiter(
            RedisStorage(
                _async_redis_uri(redis_url),
                implementation="redispy",
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        )
        self._failures = failures
        self._last_failure_log = -FAILURE_LOG_INTERVAL_SECONDS
        self._down_until = 0.0

    async def hit(self, key: str) -> bool:
        if self._down_until and time.monotonic() < self._down_until:
            self._failures.inc()
            return True
        try:
            allowed = await self._strategy.hit(self._item, KEY_NAMESPACE, key)
        except Exception as error:  # fail open: any storage failure lets the request in
            self._failures.inc()
            self._down_until = time.monotonic() + STORE_RETRY_SECONDS
            self._log_failure(error)
            return True
        self._down_until = 0.0
        return allowed

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_INTERVAL_SECONDS:
            self._last_failure_log = now
            log.warning("rate limiter store failed (%s); serving without limits", error)


class RateLimiter:
    """Checks and counts one request per call, per account."""

    def __init__(
        self, per_second: int, registry: CollectorRegistry, redis_url: str | None = None
    ) -> None:
        self._limited = Counter(
            "kassa_rate_limited_requests",
            "API requests answered 429 by the per-account rate limiter",
            registry=registry,
        )
        failures = Counter(
            "kassa_rate_limiter_failures",
            "API requests let through unchecked because the rate limiter's store failed",
            registry=registry,
        )
        self._memory = MemoryWindows(per_second) if redis_url is None else None
        self._redis = None if redis_url is None else RedisWindows(per_second, redis_url, failures)
        self.shared = redis_url is not None

    async def check(self, account_id: str) -> None:
        """Count one request of `account_id`; raise RateLimited when it is over the limit."""
        if self._redis is not None:
            allowed = await self._redis.hit(account_id)
        elif self._memory is not None:
            allowed = self._memory.hit(account_id, time.monotonic())
        else:
            raise InvariantViolated("a rate limiter counts in memory or in Redis")
        if not allowed:
            self._limited.inc()
            raise RateLimited(RATE_LIMIT_MESSAGE)


def _async_redis_uri(redis_url: str) -> str:
    """`limits` names its asyncio Redis driver `async+redis://`."""
    return f"async+{redis_url}"


def rate_limiter(settings: Settings, registry: CollectorRegistry) -> RateLimiter | None:
    """The limiter `KASSA_RATE_LIMIT` asks for (in Redis with `KASSA_REDIS_URL`), or None."""
    if settings.rate_limit == 0:
        return None
    return RateLimiter(settings.rate_limit, registry, settings.redis_url or None)
