"""Every setting and every command-line option is documented in the README, and the figures
the README derives from a default are that default's."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kassa import config
from kassa.cli import build_parser
from kassa.clock import DAY_SECONDS
from kassa.config import DEFAULT_WEBHOOK_RETRY_SCHEDULE, ENVIRONMENT_VARIABLES, Settings

README = Path(__file__).resolve().parent.parent / "README.md"
CONFIG_SOURCE = Path(config.__file__)


def _readme() -> str:
    assert README.exists(), f"{README} is missing"
    return README.read_text(encoding="utf-8")


def _commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command with its parser: ("serve",), ("accounts", "create"), ..."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield (*prefix, name), subparser
                yield from _commands(subparser, (*prefix, name))


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]


COMMANDS = dict(_commands(build_parser()))


def test_the_cli_has_commands_to_document() -> None:
    assert {("serve",), ("migrate",), ("accounts", "create")} <= set(COMMANDS)


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES)
def test_environment_variable_is_documented(variable: str) -> None:
    assert re.search(rf"\b{variable}\b", _readme()), f"README.md does not mention {variable}"


def test_every_setting_has_an_environment_variable() -> None:
    """Each field of Settings is read from the KASSA_ variable named after it."""
    expected = {f"KASSA_{name.upper()}" for name in Settings.__dataclass_fields__}
    assert expected == set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize(
    ("command", "option"),
    [
        pytest.param(" ".join(name), option, id=f"kassa {' '.join(name)} {option}")
        for name, parser in COMMANDS.items()
        for option in _long_options(parser)
    ],
)
def test_command_line_option_is_documented(command: str, option: str) -> None:
    readme = _readme()
    assert f"kassa {command}" in readme, f"README.md does not mention `kassa {command}`"
    assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", readme), (
        f"README.md does not mention `kassa {command} {option}`"
    )


def test_the_default_webhook_retry_window_is_stated_as_it_is() -> None:
    """The README and the schedule's docstring give the default schedule's span as its sum."""
    days = f"{sum(DEFAULT_WEBHOOK_RETRY_SCHEDULE) / DAY_SECONDS:.2f}"
    for path in (README, CONFIG_SOURCE):
        text = " ".join(path.read_text(encoding="utf-8").split())  # as if on one line
        stated = re.findall(r"(\d+(?:\.\d+)?) days in all", text)
        assert stated == [days], f"{path.name} gives the retry window as {stated}, not {days}"
