"""Settings read from the environment (CONTRACT §1). No I/O at import time."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALLOCATION_MODES = ("off", "manual", "auto")
ALLOCATION_STRATEGIES = ("fifo", "fefo", "pick_face_first")
NEGATIVE_STOCK_POLICIES = ("flag", "block")
DEFAULT_INSTANCE = Path(__file__).resolve().parent.parent / "instance"


class ConfigError(ValueError):
    """A setting has a value stockmirror cannot use."""


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _stored_secrets(instance: Path) -> dict[str, str]:
    """Secrets a first run generated (see app.instance); the environment wins over them."""
    path = instance / "secrets.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def _number(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path = DEFAULT_INSTANCE
    webhook_secrets: tuple[str, ...] = ()
    api_tokens: tuple[str, ...] = ()
    starshipit_api_url: str = "https://api.starshipit.com"
    starshipit_api_key: str | None = None
    starshipit_subscription_key: str | None = None
    starshipit_rate_limit: float = 2.0
    # Reconciliation / scheduler / polling / tracking (issue 4).
    starshipit_timeout: float = 30.0
    reconcile_cron: str = "0 * * * *"
    reconcile_overlap_minutes: int = 60
    poll_interval_seconds: int = 0
    tracking_max_attempts: int = 8
    reconcile_async: bool = True
    allocation: str = "off"
    # Allocation (issue 5): global default strategy; auto rules file (JSON list).
    allocation_strategy: str = "fifo"
    allocation_rules_file: Path | None = None
    negative_stock: str = "flag"
    max_body_bytes: int = 1024 * 1024
    # Console (web pages): the merchant's timezone for dates shown to people; Secure
    # session cookies (behind HTTPS); the key that signs session cookies (None: generated
    # once into the instance folder, see app.instance.ensure_secret_key).
    timezone: str = "UTC"
    secure_cookies: bool = False
    secret_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        instance = Path(env.get("STOCKMIRROR_INSTANCE_PATH", str(DEFAULT_INSTANCE)))
        stored = _stored_secrets(instance)
        url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'stockmirror.db'}"
        try:
            rate = float(env.get("STARSHIPIT_RATE_LIMIT", "2"))
        except ValueError as exc:
            raise ConfigError(
                "STARSHIPIT_RATE_LIMIT must be a number of requests per second"
            ) from exc
        settings = cls(
            database_url=url,
            instance_path=instance,
            webhook_secrets=_split(
                env.get("STOCKMIRROR_WEBHOOK_SECRETS") or stored.get("STOCKMIRROR_WEBHOOK_SECRETS")
            ),
            api_tokens=_split(
                env.get("STOCKMIRROR_API_TOKENS") or stored.get("STOCKMIRROR_API_TOKENS")
            ),
            starshipit_api_url=env.get("STARSHIPIT_API_URL", "https://api.starshipit.com").rstrip(
                "/"
            ),
            starshipit_api_key=env.get("STARSHIPIT_API_KEY") or None,
            starshipit_subscription_key=env.get("STARSHIPIT_SUBSCRIPTION_KEY") or None,
            starshipit_rate_limit=rate,
            starshipit_timeout=_number(env, "STARSHIPIT_TIMEOUT", 30.0, float),
            reconcile_cron=env.get("STOCKMIRROR_RECONCILE_CRON", "0 * * * *").strip(),
            reconcile_overlap_minutes=_number(env, "STOCKMIRROR_RECONCILE_OVERLAP", 60, int),
            poll_interval_seconds=_number(env, "STOCKMIRROR_POLL_INTERVAL", 0, int),
            tracking_max_attempts=_number(env, "STOCKMIRROR_TRACKING_MAX_ATTEMPTS", 8, int),
            allocation=env.get("STOCKMIRROR_ALLOCATION", "off").strip().lower(),
            allocation_strategy=env.get("STOCKMIRROR_ALLOCATION_STRATEGY", "fifo").strip().lower(),
            allocation_rules_file=(
                Path(env["STOCKMIRROR_ALLOCATION_RULES"])
                if env.get("STOCKMIRROR_ALLOCATION_RULES")
                else None
            ),
            negative_stock=env.get("STOCKMIRROR_NEGATIVE_STOCK", "flag").strip().lower(),
            timezone=env.get("STOCKMIRROR_TIMEZONE", "").strip() or "UTC",
            secure_cookies=_flag(env, "STOCKMIRROR_SECURE_COOKIES"),
            secret_key=env.get("STOCKMIRROR_SECRET_KEY") or stored.get("STOCKMIRROR_SECRET_KEY"),
        )
        settings.validate()
        return settings

    def with_overrides(self, **overrides: Any) -> Settings:
        updated = replace(self, **overrides)
        updated.validate()
        return updated

    def validate(self) -> None:
        if self.allocation not in ALLOCATION_MODES:
            raise ConfigError(
                f"STOCKMIRROR_ALLOCATION must be one of {', '.join(ALLOCATION_MODES)}, "
                f"not {self.allocation!r}"
            )
        if self.allocation_strategy not in ALLOCATION_STRATEGIES:
            raise ConfigError(
                "STOCKMIRROR_ALLOCATION_STRATEGY must be one of "
                f"{', '.join(ALLOCATION_STRATEGIES)}, not {self.allocation_strategy!r}"
            )
        if self.negative_stock not in NEGATIVE_STOCK_POLICIES:
            raise ConfigError(
                "STOCKMIRROR_NEGATIVE_STOCK must be one of "
                f"{', '.join(NEGATIVE_STOCK_POLICIES)}, not {self.negative_stock!r}"
            )
        if self.starshipit_rate_limit <= 0:
            raise ConfigError("STARSHIPIT_RATE_LIMIT must be greater than 0")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"STOCKMIRROR_TIMEZONE must be an IANA zone such as Pacific/Auckland, "
                f"not {self.timezone!r}"
            ) from None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
