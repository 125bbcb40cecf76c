"""`kassa listen --forward-to URL`: stream an account's events to a local URL, signed with
a secret printed at start, as the Stripe CLI's `stripe listen` does. It is an API client:
it polls `GET /v1/events` with the account's secret key, so it works against any Kassa."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from kassa.clock import Clock, unix_seconds
from kassa.ids import new_secret
from kassa.webhook_signing import signature_header

POLL_SECONDS = 0.5
EVENTS_PAGE = 100
PAGES_PER_POLL_MAX = 50
FORWARD_TIMEOUT_SECONDS = 10


class ListenError(RuntimeError):
    pass


async def _events_page(
    session: aiohttp.ClientSession, api_base: str, params: dict[str, str]
) -> dict[str, Any]:
    async with session.get(f"{api_base}/v1/events", params=params) as response:
        try:
            body: dict[str, Any] = await response.json()
        except (aiohttp.ContentTypeError, ValueError):
            raise ListenError(
                f"GET {api_base}/v1/events answered {response.status} with something "
                "other than Kassa's JSON"
            ) from None
        if response.status != 200:
            raise ListenError(f"GET /v1/events answered {response.status}: {body}")
    return body


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
) -> None:
    secret = new_secret("whsec")
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_SECONDS)
    # Two sessions: the API key goes to Kassa only. The local URL gets the signed event and
    # nothing else, as from `stripe listen` (and cookies Kassa sets never reach it either).
    async with (
        aiohttp.ClientSession(headers=headers, timeout=timeout) as api,
        aiohttp.ClientSession(timeout=timeout) as forwarding,
    ):
        newest = await _newest_event_id(api, api_base)
        say(f"Ready! Your webhook signing secret is {secret} (^C to quit)")
        while not stopping.is_set():
            for event in await _events_after(api, api_base, newest):
                newest = event["id"]
                await _forward(forwarding, forward_to, secret, event, say, clock)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_SECONDS)


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
