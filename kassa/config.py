"""Settings, from command-line options or `KASSA_*` environment variables (documented in the
README; a test checks that every setting here is)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_database_url() -> str:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(data_home) / 'kassa' / 'kassa.db'}"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    database_url: str = field(
        default_factory=lambda: os.environ.get("KASSA_DATABASE_URL") or default_database_url()
    )
    host: str = field(default_factory=lambda: os.environ.get("KASSA_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("KASSA_PORT", 4242))
    idempotency_lock_seconds: int = field(
        default_factory=lambda: _env_int("KASSA_IDEMPOTENCY_LOCK_SECONDS", 60)
    )
    request_log_retention_days: int = field(
        default_factory=lambda: _env_int("KASSA_REQUEST_LOG_RETENTION_DAYS", 30)
    )
    sqlite_synchronous: str = field(
        default_factory=lambda: os.environ.get("KASSA_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    )
    log_level: str = field(default_factory=lambda: os.environ.get("KASSA_LOG_LEVEL", "info"))


ENVIRONMENT_VARIABLES = (
    "KASSA_DATABASE_URL",
    "KASSA_HOST",
    "KASSA_PORT",
    "KASSA_IDEMPOTENCY_LOCK_SECONDS",
    "KASSA_REQUEST_LOG_RETENTION_DAYS",
    "KASSA_SQLITE_SYNCHRONOUS",
    "KASSA_LOG_LEVEL",
)
