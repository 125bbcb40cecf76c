"""Settings, from command-line options or `KASSA_*` environment variables (documented in the
README; a test checks that every setting here is)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kassa.money import parse_pricing_table


def default_database_url() -> str:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(data_home) / 'kassa' / 'kassa.db'}"


SQLITE_SYNCHRONOUS_MODES = ("NORMAL", "FULL", "EXTRA")
"""OFF would let a crash lose acknowledged writes, so it is not offered."""
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
PORT_MAX = 65_535
REQUEST_LOG_RETENTION_DAYS_MAX = 3_650
SETTLEMENT_DELAY_DAYS_MAX = 30


class InvalidSetting(ValueError):
    """A setting (option or `KASSA_*` variable) has a value Kassa cannot use."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidSetting(f"{name} must be a whole number, not {raw!r}") from None


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise InvalidSetting(f"{name} must be between {low} and {high}, not {value}")


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: os.environ.get("KASSA_DATABASE_URL") or default_database_url()
    )
    host: str = field(default_factory=lambda: os.environ.get("KASSA_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("KASSA_PORT", 4242))
    request_log_retention_days: int = field(
        default_factory=lambda: _env_int("KASSA_REQUEST_LOG_RETENTION_DAYS", 30)
    )
    sqlite_synchronous: str = field(
        default_factory=lambda: os.environ.get("KASSA_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    )
    log_level: str = field(
        default_factory=lambda: os.environ.get("KASSA_LOG_LEVEL", "info").lower()
    )
    card_pricing: str = field(default_factory=lambda: os.environ.get("KASSA_CARD_PRICING", ""))
    """Card fees by currency, `usd:2.9%+30,eur:1.5%+25,*:2.9%+0`; empty: Stripe's standard."""
    settlement_delay_days: int = field(
        default_factory=lambda: _env_int("KASSA_SETTLEMENT_DELAY_DAYS", 2)
    )
    account_country: str = field(
        default_factory=lambda: os.environ.get("KASSA_ACCOUNT_COUNTRY", "US").upper()
    )
    public_url: str = field(default_factory=lambda: os.environ.get("KASSA_PUBLIC_URL", ""))
    webhook_retry_schedule: str = field(
        default_factory=lambda: os.environ.get("KASSA_WEBHOOK_RETRY_SCHEDULE", "")
    )
    """Seconds before each retry, comma-separated; empty: about three days (see README)."""
    webhook_timeout_seconds: int = field(
        default_factory=lambda: _env_int("KASSA_WEBHOOK_TIMEOUT_SECONDS", 10)
    )
    webhook_workers: int = field(default_factory=lambda: _env_int("KASSA_WEBHOOK_WORKERS", 1))
    """Delivery workers `kassa serve` runs in its own process (0: leave it to `kassa worker`)."""
    """Base URL browsers reach Kassa at; empty: http://{host}:{port}."""

    def __post_init__(self) -> None:
        _check_range("KASSA_PORT (--port)", self.port, 1, PORT_MAX)
        _check_range(
            "KASSA_REQUEST_LOG_RETENTION_DAYS",
            self.request_log_retention_days,
            1,
            REQUEST_LOG_RETENTION_DAYS_MAX,
        )
        if self.sqlite_synchronous not in SQLITE_SYNCHRONOUS_MODES:
            raise InvalidSetting(
                f"KASSA_SQLITE_SYNCHRONOUS must be one of {', '.join(SQLITE_SYNCHRONOUS_MODES)}, "
                f"not {self.sqlite_synchronous!r}"
            )
        _check_range(
            "KASSA_SETTLEMENT_DELAY_DAYS",
            self.settlement_delay_days,
            0,
            SETTLEMENT_DELAY_DAYS_MAX,
        )
        _check_range("KASSA_WEBHOOK_TIMEOUT_SECONDS", self.webhook_timeout_seconds, 1, 60)
        _check_range("KASSA_WEBHOOK_WORKERS", self.webhook_workers, 0, 1)
        retry_schedule(self)
        if self.card_pricing:
            try:
                parse_pricing_table(self.card_pricing)
            except ValueError as error:
                raise InvalidSetting(f"KASSA_CARD_PRICING: {error}") from None
        if not (len(self.account_country) == 2 and self.account_country.isalpha()):
            raise InvalidSetting(
                "KASSA_ACCOUNT_COUNTRY must be a two-letter country code such as US or GB, "
                f"not {self.account_country!r}"
            )
        if self.log_level not in LOG_LEVELS:
            raise InvalidSetting(
                f"KASSA_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}"
            )


ENVIRONMENT_VARIABLES = (
    "KASSA_DATABASE_URL",
    "KASSA_HOST",
    "KASSA_PORT",
    "KASSA_REQUEST_LOG_RETENTION_DAYS",
    "KASSA_SQLITE_SYNCHRONOUS",
    "KASSA_LOG_LEVEL",
    "KASSA_CARD_PRICING",
    "KASSA_SETTLEMENT_DELAY_DAYS",
    "KASSA_ACCOUNT_COUNTRY",
    "KASSA_PUBLIC_URL",
    "KASSA_WEBHOOK_RETRY_SCHEDULE",
    "KASSA_WEBHOOK_TIMEOUT_SECONDS",
    "KASSA_WEBHOOK_WORKERS",
)

DEFAULT_WEBHOOK_RETRY_SCHEDULE = (
    60, 300, 900, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 86_400, 86_400, 86_400,
)  # fmt: skip
"""Seconds before retries 1, 2, ...: exponential at first, then daily; 3.3 days in all,
like Stripe's "up to three days"."""
RETRIES_MAX = 100


def base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://{settings.host}:{settings.port}"


def retry_schedule(settings: Settings) -> tuple[int, ...]:
    text = settings.webhook_retry_schedule.strip()
    if not text:
        return DEFAULT_WEBHOOK_RETRY_SCHEDULE
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= RETRIES_MAX:
        raise InvalidSetting(
            "KASSA_WEBHOOK_RETRY_SCHEDULE must be 1 to 100 whole numbers of seconds separated "
            f"by commas, such as 1,2,4; not {text[:80]!r}"
        )
    return tuple(int(part) for part in parts)
