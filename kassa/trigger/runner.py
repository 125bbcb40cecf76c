"""Running a recipe against a Kassa server: each step an API request with the account's secret
key, its `${step:field}` references filled from earlier answers, changed first by the
`--override`/`--add`/`--remove`/`--skip` options as the Stripe CLI's trigger takes them
(`payment_intent:amount=5000`, `customer:metadata[plan]=pro`). At the end, the events the
account got since the first step, oldest first: what the trigger made.

It is an API client like `kassa listen`, so it works against any Kassa it can reach."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from kassa.trigger.recipes import RECIPES, Recipe, Step

REFERENCE: Final = re.compile(r"\$\{([a-z_]+)(?::([A-Za-z0-9_.]+)|\+(\d+))?\}")
"""`${step:dotted.field}`, `${now}` or `${now+SECONDS}`."""
WAIT_POLL_SECONDS: Final = 0.1
WAIT_SECONDS_MAX: Final = 60.0
REQUEST_TIMEOUT_SECONDS: Final = 30.0
EVENTS_PAGE: Final = 100
EVENT_PAGES_MAX: Final = 20
"""A recipe makes a few dozen events at most; twenty pages of a hundred bound the listing."""


class TriggerError(RuntimeError):
    """The trigger cannot run or a step failed: the message says which and why."""


@dataclass(frozen=True)
class Changes:
    """The Stripe CLI's options for changing a recipe, parsed."""

    overrides: Sequence[tuple[str, str, str]] = ()
    """(step, parameter in bracket form, value): `--override` and `--add`."""
    removals: Sequence[tuple[str, str]] = ()
    skipped: Sequence[str] = ()


@dataclass
class Outcome:
    created: list[tuple[str, str, str]] = field(default_factory=list)
    """(step, method and path, the id it answered with)."""
    events: list[tuple[str, str]] = field(default_factory=list)
    """(event id, type) of the events made, oldest first."""


def parse_assignment(option: str, text: str) -> tuple[str, str, str]:
    """`step:param=value` as `--override` and `--add` take it."""
    target, equals, value = text.partition("=")
    step, colon, param = target.partition(":")
    if not (equals and colon and step and param):
        raise TriggerError(
            f"{option} takes step:parameter=value, e.g. payment_intent:amount=5000; got {text!r}"
        )
    return step, param, value


def parse_removal(text: str) -> tuple[str, str]:
    step, colon, param = text.partition(":")
    if not (colon and step and param):
        raise TriggerError(
            f"--remove takes step:parameter, e.g. payment_intent:description; got {text!r}"
        )
    return step, param


def recipe_for(event_type: str) -> Recipe:
    recipe = RECIPES.get(event_type)
    if recipe is None:
        raise TriggerError(
            f"kassa cannot trigger {event_type!r}; `kassa trigger --list` shows the event "
            "types it can"
        )
    return recipe


def changed_steps(recipe: Recipe, changes: Changes) -> list[Step]:
    """The recipe's steps with the options applied; an option naming no step is an error."""
    names = {step.name for step in recipe.steps}
    named = [entry[0] for entry in changes.overrides] + [entry[0] for entry in changes.removals]
    for name in [*named, *changes.skipped]:
        if name not in names:
            raise TriggerError(
                f"this trigger has no step named {name!r}; its steps: {', '.join(sorted(names))}"
            )
    steps = []
    for step in recipe.steps:
        if step.name in changes.skipped:
            continue
        params = copy.deepcopy(dict(step.params))
        for name, param, value in changes.overrides:
            if name == step.name:
                _set(params, _path(param), value)
        for name, param in changes.removals:
            if name == step.name:
                _remove(params, _path(param))
        steps.append(replace(step, params=params))
    return steps


def _path(param: str) -> list[str]:
    """`metadata[plan]` or `metadata.plan` as the keys ['metadata', 'plan']."""
    return [part for part in re.split(r"[\[\].]+", param) if part]


def _set(params: dict[str, Any], keys: list[str], value: str) -> None:
    target = params
    for key in keys[:-1]:
        nested = target.get(key)
        if not isinstance(nested, dict):
            nested = {}
            target[key] = nested
        target = nested
    target[keys[-1]] = value


def _remove(params: dict[str, Any], keys: list[str]) -> None:
    target: Any = params
    for key in keys[:-1]:
        target = target.get(key) if isinstance(target, dict) else None
    if isinstance(target, dict):
        target.pop(keys[-1], None)


def form_pairs(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: `a[b]=c` for hashes, `a[0]=x` for lists."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, Mapping):
            pairs += form_pairs(value, name)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                entry = f"{name}[{index}]"
                pairs += (
                    form_pairs(item, entry) if isinstance(item, Mapping) else [(entry, _text(item))]
                )
        else:
            pairs.append((name, _text(value)))
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Answers:
    """What each step answered, for the references of later steps."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._by_step: dict[str, Any] = {}
        self._now = now

    def record(self, step: str, body: Any) -> None:
        self._by_step[step] = body

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return REFERENCE.sub(self._resolve, value)
        if isinstance(value, Mapping):
            return {key: self.fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        return value

    def _resolve(self, match: re.Match[str]) -> str:
        name, dotted, seconds = match.group(1), match.group(2), match.group(3)
        if name == "now" and dotted is None:
            return str(int(self._now()) + int(seconds or 0))
        if name not in self._by_step or dotted is None:
            raise TriggerError(f"{match.group(0)} names no earlier step (was it skipped?)")
        found: Any = self._by_step[name]
        for key in dotted.split("."):
            if isinstance(found, list) and key.isdigit() and int(key) < len(found):
                found = found[int(key)]
            elif isinstance(found, dict) and key in found:
                found = found[key]
            else:
                raise TriggerError(f"{match.group(0)}: step {name!r} answered without {dotted}")
        if isinstance(found, dict) and "id" in found:
            found = found["id"]
        return str(found)


class _Api:
    def __init__(self, session: aiohttp.ClientSession, api_base: str) -> None:
        self._session = session
        self._base = api_base

    async def call(self, method: str, path: str, params: Mapping[str, Any]) -> tuple[int, Any]:
        pairs = form_pairs(params)
        url = self._base + _quoted(path)
        if method == "get":
            request = self._session.get(url, params=pairs)
        elif method == "delete":
            request = self._session.delete(url, params=pairs)
        else:
            request = self._session.post(url, data=pairs)
        async with request as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                raise TriggerError(
                    f"{method.upper()} {path} answered {response.status} with something other "
                    "than Kassa's JSON"
                ) from None
            return response.status, body


def _quoted(path: str) -> str:
    return quote(path, safe="/_-.")


async def run_recipe(
    api_base: str,
    api_key: str,
    steps: Sequence[Step],
    *,
    say: Callable[[str], None],
    now: Callable[[], float] = time.time,
) -> Outcome:
    """Run `steps` in order; raise TriggerError naming the step that failed."""
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        api = _Api(session, api_base.rstrip("/"))
        newest = await _newest_event(api)
        answers = _Answers(now)
        outcome = Outcome()
        for step in steps:
            path = answers.fill(step.path)
            body = await _run_step(api, answers, step, path, say)
            answers.record(step.name, body)
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                outcome.created.append((step.name, f"{step.method.upper()} {path}", body["id"]))
        outcome.events = await _events_since(api, newest)
        return outcome


async def _run_step(
    api: _Api, answers: _Answers, step: Step, path: str, say: Callable[[str], None]
) -> Any:
    params = answers.fill(dict(step.params))
    say(f"Running fixture for: {step.name} ({step.method.upper()} {path})")
    status, body = await api.call(step.method, path, params)
    if step.expect_card_error and status == 402:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        say(f"  declined as intended: {error.get('code') or error.get('message')}")
        return error.get("payment_intent") or body
    if status >= 400:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        raise TriggerError(
            f"step {step.name!r}: {step.method.upper()} {path} answered {status}: {message}"
        )
    if step.wait_for is not None:
        body = await _wait(api, path, step.wait_for, body)
    return body


async def _wait(api: _Api, path: str, wait_for: tuple[str, str], body: Any) -> Any:
    dotted, wanted = wait_for
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while _field(body, dotted) != wanted:
        if time.monotonic() > deadline:
            raise TriggerError(
                f"GET {path}: {dotted} was not {wanted!r} after {WAIT_SECONDS_MAX:.0f} s"
            )
        await asyncio.sleep(WAIT_POLL_SECONDS)
        status, body = await api.call("get", path, {})
        if status >= 400:
            raise TriggerError(f"GET {path} answered {status} while waiting for {dotted}={wanted}")
    return body


def _field(body: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        body = body.get(key) if isinstance(body, dict) else None
    return body


async def _newest_event(api: _Api) -> str | None:
    status, body = await api.call("get", "/v1/events", {"limit": 1})
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        raise TriggerError(f"GET /v1/events answered {status}: {message}")
    return str(body["data"][0]["id"]) if body["data"] else None


async def _events_since(api: _Api, newest: str | None) -> list[tuple[str, str]]:
    """Events newer than `newest` (every event when None), oldest first. A page lists newest
    first; `ending_before` pages toward newer events, `starting_after` toward older."""
    pages: list[list[tuple[str, str]]] = []
    params: dict[str, Any] = {"limit": EVENTS_PAGE}
    if newest is not None:
        params["ending_before"] = newest
    for _ in range(EVENT_PAGES_MAX):
        status, body = await api.call("get", "/v1/events", params)
        if status != 200:
            break
        page = [(str(event["id"]), str(event["type"])) for event in body["data"]]
        if not page:
            break
        pages.append(page)
        if not body.get("has_more"):
            break
        if newest is not None:
            params["ending_before"] = page[0][0]
        else:
            params["starting_after"] = page[-1][0]
    if newest is None:
        pages.reverse()  # the oldest page was fetched last
    return [event for page in pages for event in reversed(page)]
