"""Per-account request rate limits as Stripe has them (25 requests per second in a sandbox,
100 in live mode): off unless `KASSA_RATE_LIMIT` sets the requests per second.

A request over the limit is answered 429 with Stripe's error (`invalid_request_error`, code
`rate_limit`), before its body is read or any unit of work opens. The official SDKs raise
their `RateLimitError` for it and, as with Stripe, do not retry it by themselves (they
retry only a 429 whose code is `lock_timeout`): the caller backs off.

The window is a moving one second (the `limits` library's moving-window strategy: never more
than the limit in any one-second span), on real time: a test clock does not slow it. In one
process the counts live in memory; with `KASSA_REDIS_URL` they live in Redis, shared by every
`kassa serve` process that names the same Redis. If Redis cannot be reached the API keeps
serving (fail open) and `kassa_rate_limiter_failures_total` counts each request let through
unchecked; after a failure the limiter leaves Redis alone for STORE_RETRY_SECONDS (a Redis
that times out would otherwise add its timeout to every request), and a warning is logged at
most every FAILURE_LOG_INTERVAL_SECONDS.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter

from kassa.config import Settings
from kassa.errors import RateLimited

RATE_LIMIT_MESSAGE: Final = (
    "Request rate limit exceeded. Learn more about rate limits here "
    "https://stripe.com/docs/rate-limits."
)
KEY_NAMESPACE: Final = "kassa-api"
"""Redis keys are `LIMITER/kassa-api/<account>/...`: one counter per account."""
FAILURE_LOG_INTERVAL_SECONDS: Final = 10.0
STORE_RETRY_SECONDS: Final = 1.0
REDIS_TIMEOUT_SECONDS: Final = 0.25
"""A Redis that does not answer in this time counts as down for that request: a stalled
limiter must not stall the API."""

log = logging.getLogger("kassa.rate_limits")


class RateLimiter:
    """Checks and counts one request per call, per account."""

    def __init__(
        self, per_second: int, registry: CollectorRegistry, redis_url: str | None = None
    ) -> None:
        self._item = RateLimitItemPerSecond(per_second)
        self._storage: Storage = (
            MemoryStorage()
            if redis_url is None
            else RedisStorage(
                _async_redis_uri(redis_url),
                implementation="redispy",
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        )
        self._strategy = MovingWindowRateLimiter(self._storage)
        self.shared = redis_url is not None
        self._limited = Counter(
            "kassa_rate_limited_requests",
            "API requests answered 429 by the per-account rate limiter",
            registry=registry,
        )
        self._failures = Counter(
            "kassa_rate_limiter_failures",
            "API requests let through unchecked because the rate limiter's store failed",
            registry=registry,
        )
        self._last_failure_log = -FAILURE_LOG_INTERVAL_SECONDS
        self._store_down_until = 0.0

    async def check(self, account_id: str) -> None:
        """Count one request of `account_id`; raise RateLimited when it is over the limit."""
        if self._store_down_until and time.monotonic() < self._store_down_until:
            self._failures.inc()
            return
        try:
            allowed = await self._strategy.hit(self._item, KEY_NAMESPACE, account_id)
        except Exception as error:  # fail open: any storage failure lets the request in
            self._failures.inc()
            self._store_down_until = time.monotonic() + STORE_RETRY_SECONDS
            self._log_failure(error)
            return
        self._store_down_until = 0.0
        if not allowed:
            self._limited.inc()
            raise RateLimited(RATE_LIMIT_MESSAGE)

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= FAILURE_LOG_INTERVAL_SECONDS:
            self._last_failure_log = now
            log.warning("rate limiter store failed (%s); serving without limits", error)


def _async_redis_uri(redis_url: str) -> str:
    """`limits` names its asyncio Redis driver `async+redis://`."""
    return f"async+{redis_url}"


def rate_limiter(settings: Settings, registry: CollectorRegistry) -> RateLimiter | None:
    """The limiter `KASSA_RATE_LIMIT` asks for (in Redis with `KASSA_REDIS_URL`), or None."""
    if settings.rate_limit == 0:
        return None
    return RateLimiter(settings.rate_limit, registry, settings.redis_url or None)
