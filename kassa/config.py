"""Settings, from command-line options or `KASSA_*` environment variables (documented in the
README; a test checks that every setting here is)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

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
    """Base URL browsers reach Kassa at; empty: http://{host}:{port}."""
    webhook_retry_schedule: str = field(
        default_factory=lambda: os.environ.get("KASSA_WEBHOOK_RETRY_SCHEDULE", "")
    )
    """Seconds before each retry, comma-separated; empty: the default, about four days (see
README)."""
    webhook_timeout_seconds: int = field(
        default_factory=lambda: _env_int("KASSA_WEBHOOK_TIMEOUT_SECONDS", 10)
    )
    webhook_workers: int = field(default_factory=lambda: _env_int("KASSA_WEBHOOK_WORKERS", 1))
    """Delivery workers `kassa serve` runs in its own process (0: leave it to `kassa worker`)."""
    smtp_url: str = field(default_factory=lambda: os.environ.get("KASSA_SMTP_URL", ""))
    """`smtp://[user:password@]host[:port]` or `smtps://...`; empty: emails are captured in
    the database (the captured mailbox) instead of sent."""
    mail_from: str = field(
        default_factory=lambda: os.environ.get("KASSA_MAIL_FROM", DEFAULT_MAIL_FROM)
    )
    mail_retry_schedule: str = field(
        default_factory=lambda: os.environ.get("KASSA_MAIL_RETRY_SCHEDULE", "")
    )
    """Seconds before each retry of an email the SMTP server did not take; empty: about
    three days, as for webhooks."""
    invoice_reminder_days: str = field(
        default_factory=lambda: os.environ.get(
            "KASSA_INVOICE_REMINDER_DAYS", DEFAULT_INVOICE_REMINDER_DAYS
        )
    )
    """Days relative to an invoice's due date on which reminders go out, comma-separated."""
    subscription_final_action: str = field(
        default_factory=lambda: os.environ.get("KASSA_SUBSCRIPTION_FINAL_ACTION", "cancel")
    )
    """What a subscription becomes once its renewal's last retry fails: canceled, unpaid, or
    left past_due (Stripe's "manage failed payments" setting)."""
    upcoming_renewal_days: str = field(
        default_factory=lambda: os.environ.get(
            "KASSA_UPCOMING_RENEWAL_DAYS", DEFAULT_UPCOMING_RENEWAL_DAYS
        )
    )
    """Days before a subscription's renewal that `invoice.upcoming` is sent (Stripe's
    "upcoming renewal events" setting); `off` (or empty): never."""
    db_pool_size: int = field(
        default_factory=lambda: _env_int("KASSA_DB_POOL_SIZE", DB_POOL_SIZE_DEFAULT)
    )
    """PostgreSQL connections one process may hold (each unit of work holds one)."""
    rate_limit: int = field(default_factory=lambda: _env_int("KASSA_RATE_LIMIT", 0))
    """API requests per second per account before a 429 (Stripe: 25 in a sandbox, 100 live);
    0, the default: no limit."""
    redis_url: str = field(default_factory=lambda: os.environ.get("KASSA_REDIS_URL", ""))
    """redis://host:port/db: the rate limiter's counts, shared by every process naming it;
    empty: each process counts in memory."""
    subscription_final_invoice: str = field(
        default_factory=lambda: os.environ.get("KASSA_SUBSCRIPTION_FINAL_INVOICE", "open")
    )
    """What that renewal's invoice becomes: left open, or marked uncollectible."""
    instance_id: str = field(default_factory=lambda: os.environ.get("KASSA_INSTANCE_ID", ""))
    """Echoed by `/healthz` in its `Kassa-Instance-Id` header: whoever started this process
    (the pytest plugin) tells it from another server answering at the same address."""

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
        _check_range("KASSA_RATE_LIMIT", self.rate_limit, 0, RATE_LIMIT_MAX)
        _check_range("KASSA_DB_POOL_SIZE", self.db_pool_size, 1, DB_POOL_SIZE_MAX)
        if self.redis_url and not self.redis_url.startswith(REDIS_URL_SCHEMES):
            raise InvalidSetting(
                "KASSA_REDIS_URL must be a Redis URL such as redis://127.0.0.1:6379/0, "
                f"not {self.redis_url[:80]!r}"
            )
        retry_schedule(self)
        mail_retry_schedule(self)
        smtp_server(self)
        invoice_reminder_days(self)
        upcoming_renewal_days(self)
        _check_choice(
            "KASSA_SUBSCRIPTION_FINAL_ACTION",
            self.subscription_final_action,
            SUBSCRIPTION_FINAL_ACTIONS,
        )
        _check_choice(
            "KASSA_SUBSCRIPTION_FINAL_INVOICE",
            self.subscription_final_invoice,
            SUBSCRIPTION_FINAL_INVOICE_STATES,
        )
        if not _MAIL_ADDRESS.fullmatch(self.mail_from):
            raise InvalidSetting(
                f"KASSA_MAIL_FROM must be an email address such as billing@example.com, "
                f"not {self.mail_from[:80]!r}"
            )
        if self.card_pricing:
            try:
                parse_pricing_table(self.card_pricing)
            except ValueError as error:
                raise InvalidSetting(f"KASSA_CARD_PRICING: {error}") from None
        if not _INSTANCE_ID.fullmatch(self.instance_id):
            raise InvalidSetting(
                f"KASSA_INSTANCE_ID must be up to {INSTANCE_ID_LENGTH_MAX} letters, digits, "
                f"'.', '_' or '-', not {self.instance_id[:80]!r}"
            )
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
    "KASSA_SMTP_URL",
    "KASSA_MAIL_FROM",
    "KASSA_MAIL_RETRY_SCHEDULE",
    "KASSA_INVOICE_REMINDER_DAYS",
    "KASSA_SUBSCRIPTION_FINAL_ACTION",
    "KASSA_SUBSCRIPTION_FINAL_INVOICE",
    "KASSA_UPCOMING_RENEWAL_DAYS",
    "KASSA_RATE_LIMIT",
    "KASSA_REDIS_URL",
    "KASSA_DB_POOL_SIZE",
    "KASSA_INSTANCE_ID",
)

SUBSCRIPTION_FINAL_ACTIONS = ("cancel", "unpaid", "past_due")
RATE_LIMIT_MAX = 1_000_000
DB_POOL_SIZE_DEFAULT = 20
"""PostgreSQL connections one Kassa process may hold; several processes share the server's
own limit (`max_connections`, 100 by default)."""
DB_POOL_SIZE_MAX = 1_000
REDIS_URL_SCHEMES = ("redis://", "rediss://")
SUBSCRIPTION_FINAL_INVOICE_STATES = ("open", "uncollectible")
INSTANCE_ID_LENGTH_MAX = 64
_INSTANCE_ID = re.compile(rf"[A-Za-z0-9._-]{{0,{INSTANCE_ID_LENGTH_MAX}}}")
"""What a header value may carry as it is (no space, no line break)."""

DEFAULT_WEBHOOK_RETRY_SCHEDULE = (
    60, 300, 900, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 86_400, 86_400, 86_400,
)  # fmt: skip
"""Seconds before retries 1, 2, ...: exponential at first, then daily; 4.16 days in all
(100,260 s, then three days), longer than Stripe's "up to three days"."""
RETRIES_MAX = 100


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidSetting(f"{name} must be one of {', '.join(choices)}, not {value[:80]!r}")


def base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    # An IPv6 address is bracketed in a URL (`http://[::1]:4242`).
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def retry_schedule(settings: Settings) -> tuple[int, ...]:
    return _parse_retry_schedule("KASSA_WEBHOOK_RETRY_SCHEDULE", settings.webhook_retry_schedule)


def mail_retry_schedule(settings: Settings) -> tuple[int, ...]:
    """Seconds before each retry of an email; the webhooks' schedule unless set."""
    return _parse_retry_schedule("KASSA_MAIL_RETRY_SCHEDULE", settings.mail_retry_schedule)


def _parse_retry_schedule(name: str, raw: str) -> tuple[int, ...]:
    text = raw.strip()
    if not text:
        return DEFAULT_WEBHOOK_RETRY_SCHEDULE
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= RETRIES_MAX:
        raise InvalidSetting(
            f"{name} must be 1 to 100 whole numbers of seconds separated "
            f"by commas, such as 1,2,4; not {text[:80]!r}"
        )
    return tuple(int(part) for part in parts)


# --- email ----------------------------------------------------------------------------------

DEFAULT_MAIL_FROM = "billing@kassa.localhost"
_MAIL_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")
SMTP_PORTS = {"smtp": 25, "smtps": 465}
"""The standard port of each scheme, when the URL names none."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    """`smtps://`: TLS from the first byte. `smtp://` upgrades with STARTTLS when the server
    offers it, and sends in the clear otherwise (a local relay, a test server)."""
    username: str | None
    password: str | None


def smtp_server(settings: Settings) -> SmtpServer | None:
    """Where emails go; None: nowhere, they are captured in the database."""
    url = settings.smtp_url.strip()
    if not url:
        return None
    problem = (
        "KASSA_SMTP_URL must look like smtp://host:port, smtps://host:port or "
        f"smtp://user:password@host:port, not {_redacted(url)!r}"
    )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidSetting(problem) from None
    if parts.scheme not in SMTP_PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidSetting(problem)
    return SmtpServer(
        host=parts.hostname,
        port=port or SMTP_PORTS[parts.scheme],
        implicit_tls=parts.scheme == "smtps",
        username=None if parts.username is None else unquote(parts.username),
        password=None if parts.password is None else unquote(parts.password),
    )


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url[:120]
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{host}"[:120]


# --- invoice reminders ----------------------------------------------------------------------

DEFAULT_INVOICE_REMINDER_DAYS = "-7,0,7,14,30"
REMINDER_OFFSETS_MAX = 20
REMINDER_OFFSET_DAYS_MAX = 365


def invoice_reminder_days(settings: Settings) -> tuple[int, ...]:
    """Days relative to the due date on which reminders are sent, ascending (negative:
    before it). Empty text: no reminders."""
    text = settings.invoice_reminder_days.strip()
    if not text:
        return ()
    problem = (
        f"KASSA_INVOICE_REMINDER_DAYS must be up to {REMINDER_OFFSETS_MAX} distinct whole "
        f"numbers of days between -{REMINDER_OFFSET_DAYS_MAX} and {REMINDER_OFFSET_DAYS_MAX} "
        f"separated by commas, such as -7,0,7; not {text[:80]!r}"
    )
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > REMINDER_OFFSETS_MAX or not all(_INTEGER.fullmatch(p) for p in parts):
        raise InvalidSetting(problem)
    days = [int(part) for part in parts]
    if len(set(days)) != len(days) or any(abs(d) > REMINDER_OFFSET_DAYS_MAX for d in days):
        raise InvalidSetting(problem)
    return tuple(sorted(days))


_INTEGER = re.compile(r"[+-]?[0-9]{1,4}")


# --- upcoming renewal events ----------------------------------------------------------------

DEFAULT_UPCOMING_RENEWAL_DAYS = "7"
UPCOMING_RENEWAL_DAYS_MAX = 365
UPCOMING_RENEWAL_OFF = "off"


def upcoming_renewal_days(settings: Settings) -> int | None:
    """Days before a renewal that `invoice.upcoming` is sent; None: `off` (or empty), never."""
    text = settings.upcoming_renewal_days.strip().lower()
    if text in ("", UPCOMING_RENEWAL_OFF):
        return None
    if not text.isdigit() or not 1 <= int(text) <= UPCOMING_RENEWAL_DAYS_MAX:
        raise InvalidSetting(
            f"KASSA_UPCOMING_RENEWAL_DAYS must be a whole number of days from 1 to "
            f"{UPCOMING_RENEWAL_DAYS_MAX}, or {UPCOMING_RENEWAL_OFF}; not {text[:80]!r}"
        )
    return int(text)
