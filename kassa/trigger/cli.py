"""What `kassa trigger` prints: the steps as they run, what they created and the events that
followed, or why it could not (exit 1 when a step failed, 2 when it could not start)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import aiohttp

from kassa.trigger.recipes import RECIPES
from kassa.trigger.runner import (
    Changes,
    Outcome,
    TriggerError,
    changed_steps,
    parse_assignment,
    parse_removal,
    recipe_for,
    run_recipe,
)

EXIT_FAILED = 1
EXIT_USAGE = 2


def run_trigger(
    event_type: str | None,
    *,
    list_only: bool,
    api_key: str | None,
    api_base: str,
    assignments: Sequence[tuple[str, str]],
    removals: Sequence[str],
    skipped: Sequence[str],
) -> int:
    if list_only:
        _print_list()
        return 0
    if not event_type:
        print("kassa trigger: name an event type, or --list to see them", file=sys.stderr)
        return EXIT_USAGE
    if not api_key:
        print("kassa trigger: give --api-key sk_test_... (or set KASSA_API_KEY)", file=sys.stderr)
        return EXIT_USAGE
    try:
        recipe = recipe_for(event_type)
        changes = Changes(
            overrides=[parse_assignment(option, text) for option, text in assignments],
            removals=[parse_removal(text) for text in removals],
            skipped=list(skipped),
        )
        steps = changed_steps(recipe, changes)
    except TriggerError as error:
        print(f"kassa trigger: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        outcome = asyncio.run(
            run_recipe(api_base, api_key, steps, say=lambda line: print(line, flush=True))
        )
    except TriggerError as error:
        print(f"Trigger failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (aiohttp.ClientError, OSError) as error:
        print(f"Trigger failed: {error}. Is Kassa running at {api_base}?", file=sys.stderr)
        return EXIT_FAILED
    return 0 if _print_outcome(event_type, outcome) else EXIT_FAILED


def _print_list() -> None:
    width = max(len(name) for name in RECIPES)
    for name, recipe in sorted(RECIPES.items()):
        print(f"{name:<{width}}  {recipe.summary}")


def _print_outcome(event_type: str, outcome: Outcome) -> bool:
    """Print what the trigger made; whether the event it was for is among its events."""
    for step, request, object_id in outcome.created:
        print(f"  {step}: {object_id} ({request})")
    print("Events:")
    for event_id, kind in outcome.events:
        print(f"  {event_id} {kind}")
    if not any(kind == event_type for _, kind in outcome.events):
        print(f"Trigger failed: no {event_type} event followed; the events above did")
        return False
    print("Trigger succeeded! The events go to the account's webhook endpoints.")
    return True
