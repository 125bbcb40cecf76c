"""`kassa listen --forward-to URL`: stream an account's events to a local URL, signed with
a secret printed at start, as the Stripe CLI's `stripe listen` does. It is an API client:
it polls `GET /v1/events` with the account's secret key, so it works against any Kassa."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from kassa.clock import Clock, unix_seconds
from kassa.ids import new_secret
from kassa.webhook_signing import signature_header

POLL_SECONDS = 0.5
EVENTS_PAGE = 100
PAGES_PER_POLL_MAX = 50
FORWARD_TIMEOUT_SECONDS = 10
RECONNECT_DELAY_SECONDS_FIRST = 0.5
RECONNECT_DELAY_SECONDS_MAX = 10.0
RECONNECT_ATTEMPTS_MAX = 60
"""Polls in a row that may fail to reach Kassa (a restart, a network blip) before `listen`
gives up: with delays doubling up to 10 s, about nine minutes."""


class ListenError(RuntimeError):
    pass


class CursorGone(ListenError):
    """The event `listen` pages from is gone: the account was reset or a snapshot of it
    restored."""


class KassaUnreachable(ListenError):
    """Kassa did not answer (not running, restarting, or answering 5xx meanwhile)."""


async def _events_page(
    session: aiohttp.ClientSession, api_base: str, params: dict[str, str]
) -> dict[str, Any]:
    try:
        async with session.get(f"{api_base}/v1/events", params=params) as response:
            if response.status >= 500:
                raise KassaUnreachable(f"GET /v1/events answered {response.status}")
            try:
                body: dict[str, Any] = await response.json()
            except (aiohttp.ContentTypeError, ValueError):
                raise ListenError(
                    f"GET {api_base}/v1/events answered {response.status} with something "
                    "other than Kassa's JSON"
                ) from None
    except (aiohttp.ClientConnectionError, TimeoutError) as error:
        reason = str(error) or type(error).__name__
        raise KassaUnreachable(f"GET {api_base}/v1/events failed: {reason}") from None
    if response.status == 404 and _names_a_cursor(body):
        raise CursorGone(f"GET /v1/events answered 404: {body}")
    if response.status != 200:
        raise ListenError(f"GET /v1/events answered {response.status}: {body}")
    return body


def _names_a_cursor(body: dict[str, Any]) -> bool:
    error = body.get("error")
    return isinstance(error, dict) and error.get("param") in ("ending_before", "starting_after")


async def _newest_event_id(session: aiohttp.ClientSession, api_base: str) -> str | None:
    body = await _events_page(session, api_base, {"limit": "1"})
    return str(body["data"][0]["id"]) if body["data"] else None


async def _events_after(
    session: aiohttp.ClientSession, api_base: str, newest: str | None
) -> list[dict[str, Any]]:
    """Events newer than `newest`, oldest first; every event when `newest` is None (the
    account had none when listening began).

    Kassa lists only events that no earlier transaction can still overtake, so following
    with `ending_before` sees each event once and in order however writers commit."""
    if newest is None:
        return await _every_event(session, api_base)
    found: list[dict[str, Any]] = []
    cursor = newest
    for _ in range(PAGES_PER_POLL_MAX):
        body = await _events_page(
            session, api_base, {"limit": str(EVENTS_PAGE), "ending_before": cursor}
        )
        page = list(reversed(body["data"]))
        found.extend(page)
        if not body["has_more"] or not page:
            break
        cursor = page[-1]["id"]
    return found


async def _every_event(session: aiohttp.ClientSession, api_base: str) -> list[dict[str, Any]]:
    """The account's events, oldest first, paging down from the newest. Past
    PAGES_PER_POLL_MAX pages (more events than a burst between two polls makes) the oldest
    are left out."""
    newest_first: list[dict[str, Any]] = []
    for _ in range(PAGES_PER_POLL_MAX):
        params = {"limit": str(EVENTS_PAGE)}
        if newest_first:
            params["starting_after"] = newest_first[-1]["id"]
        body = await _events_page(session, api_base, params)
        newest_first.extend(body["data"])
        if not body["has_more"] or not body["data"]:
            break
    return newest_first[::-1]


async def listen(
    api_base: str,
    api_key: str,
    forward_to: str,
    *,
    say: Callable[[str], None],
    stopping: asyncio.Event,
    clock: Clock,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Forward new events until `stopping` is set. `say` tells what is forwarded; `warn`
    (default: `say`) what `listen` rides out: a vanished cursor, Kassa out of reach."""
    secret = new_secret("whsec")
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_SECONDS)
    # Two sessions: the API key goes to Kassa only. The local URL gets the signed event and
    # nothing else, as from `stripe listen` (and cookies Kassa sets never reach it either).
    async with (
        aiohttp.ClientSession(headers=headers, timeout=timeout) as api,
        aiohttp.ClientSession(timeout=timeout) as forwarding,
    ):
        follower = _Follower(api, api_base, await _newest_event_id(api, api_base), warn or say)
        say(f"Ready! Your webhook signing secret is {secret} (^C to quit)")
        while not stopping.is_set():
            wait_seconds = await follower.poll(
                lambda event: _forward(forwarding, forward_to, secret, event, say, clock)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), wait_seconds)


class _Follower:
    """Where `listen` is in the account's events, and how it rides out a vanished cursor
    and Kassa out of reach."""

    def __init__(
        self,
        api: aiohttp.ClientSession,
        api_base: str,
        newest: str | None,
        warn: Callable[[str], None],
    ) -> None:
        self.api = api
        self.api_base = api_base
        self.newest = newest
        self.warn = warn
        self.resync = False
        self.failures = 0

    async def poll(self, forward: Callable[[dict[str, Any]], Awaitable[None]]) -> float:
        """Forward the events new since the last poll; how long to wait for the next."""
        try:
            if self.resync:
                self.newest = await _newest_event_id(self.api, self.api_base)
                self.resync = False
            for event in await _events_after(self.api, self.api_base, self.newest):
                self.newest = event["id"]
                await forward(event)
        except CursorGone:
            self.warn(
                f"kassa listen: event {self.newest} is gone (the account was reset or a "
                "snapshot restored); resuming from the newest event"
            )
            self.resync = True
            return 0
        except KassaUnreachable as error:
            self.failures += 1
            if self.failures > RECONNECT_ATTEMPTS_MAX:
                raise
            wait_seconds = reconnect_delay_seconds(self.failures)
            self.warn(
                f"kassa listen: {error}; retrying in {wait_seconds:g} s "
                f"({self.failures} of {RECONNECT_ATTEMPTS_MAX})"
            )
            return wait_seconds
        if self.failures:
            self.warn(f"kassa listen: reached Kassa at {self.api_base} again")
            self.failures = 0
        return POLL_SECONDS


def reconnect_delay_seconds(failures: int) -> float:
    """The wait after the `failures`th poll in a row that could not reach Kassa."""
    doubled: float = RECONNECT_DELAY_SECONDS_FIRST * 2.0 ** (failures - 1)
    return min(doubled, RECONNECT_DELAY_SECONDS_MAX)


async def _forward(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    event: dict[str, Any],
    say: Callable[[str], None],
    clock: Clock,
) -> None:
    payload = json.dumps(event).encode()
    say(f"--> {event['type']} [{event['id']}]")
    signature = signature_header(payload, secret, unix_seconds(clock))
    try:
        async with session.post(
            url,
            data=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            allow_redirects=False,  # shown as the 3xx it is, as Kassa's deliveries record it
        ) as response:
            say(f"<-- [{response.status}] POST {url} [{event['id']}]")
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        say(f"<-- failed: POST {url} [{event['id']}]: {error}")
