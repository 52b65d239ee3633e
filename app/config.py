"""Settings read from the environment (CONTRACT §1). No I/O at import time."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.ledger.strategies import DEFAULT_STRATEGY, STRATEGIES

ALLOCATION_MODES = ("off", "manual", "auto")
ALLOCATION_STRATEGIES = STRATEGIES
NEGATIVE_STOCK_POLICIES = ("flag", "block")
INSTANCE_FOLDER = "instance"  # relative to the working directory, like `make run`'s checkout
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """A setting has a value stockmirror cannot use."""


def default_instance_path(env: Mapping[str, str]) -> Path:
    """STOCKMIRROR_INSTANCE_PATH, else `instance/` in the working directory (never beside
    the installed code): first-run secrets and the SQLite default live there."""
    return Path(env.get("STOCKMIRROR_INSTANCE_PATH") or INSTANCE_FOLDER).absolute()


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


ACCOUNT_FIELDS = frozenset(
    {"id", "webhook_secrets", "starshipit_api_key", "starshipit_subscription_key", "rate_limit"}
)


@dataclass(frozen=True)
class Account:
    """One Starshipit account: the secrets that sign its webhooks, its API keys and the
    requests per second its keys may make (CONTRACT §7 Accounts)."""

    id: str
    webhook_secrets: tuple[str, ...] = ()
    starshipit_api_key: str | None = None
    starshipit_subscription_key: str | None = None
    rate_limit: float = 2.0

    def __repr__(self) -> str:  # never the secrets or keys
        return f"Account({self.id!r})"

    @property
    def api_configured(self) -> bool:
        return bool(self.starshipit_api_key and self.starshipit_subscription_key)


def load_accounts(path: Path, default_rate: float) -> tuple[Account, ...]:
    """The accounts file named by STOCKMIRROR_ACCOUNTS, validated (ConfigError)."""
    where = f"STOCKMIRROR_ACCOUNTS ({path})"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{where}: cannot read the file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: the file is not UTF-8 text") from None
    except ValueError as error:
        raise ConfigError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{where}: must be a JSON list with at least one account")
    accounts = tuple(_account(entry, n, where, default_rate) for n, entry in enumerate(data, 1))
    _check_unique(accounts, where)
    return accounts


def _account(entry: Any, n: int, where: str, default_rate: float) -> Account:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: account #{n} must be a JSON object")
    account_id = entry.get("id")
    if not isinstance(account_id, str) or not 1 <= len(account_id.strip()) <= 100:
        raise ConfigError(f'{where}: account #{n} needs an "id" of 1..100 characters')
    if account_id != account_id.strip() or not account_id.isprintable():
        raise ConfigError(
            f"{where}: account #{n}: id {account_id!r} has spaces or control characters"
        )
    name = f"{where}: account {account_id!r}"
    unknown = sorted(set(entry) - ACCOUNT_FIELDS)
    if unknown:
        raise ConfigError(f"{name}: unknown field(s) {', '.join(unknown)}")
    secrets = entry.get("webhook_secrets")
    if (
        not isinstance(secrets, list)
        or not secrets
        or not all(isinstance(x, str) and x.strip() for x in secrets)
    ):
        raise ConfigError(f'{name}: "webhook_secrets" must be a list of non-empty strings')
    keys = {}
    for key in ("starshipit_api_key", "starshipit_subscription_key"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f'{name}: "{key}" must be a string')
        keys[key] = value or None
    rate = entry.get("rate_limit", default_rate)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ConfigError(f'{name}: "rate_limit" must be a number of requests per second > 0')
    return Account(
        id=account_id,
        webhook_secrets=tuple(x.strip() for x in secrets),
        rate_limit=float(rate),
        **keys,
    )


def _check_unique(accounts: tuple[Account, ...], where: str) -> None:
    ids: set[str] = set()
    owner: dict[str, str] = {}
    for account in accounts:
        if account.id in ids:
            raise ConfigError(f"{where}: account id {account.id!r} appears twice")
        ids.add(account.id)
        for secret in account.webhook_secrets:
            other = owner.setdefault(secret, account.id)
            if other != account.id:
                raise ConfigError(
                    f"{where}: accounts {other!r} and {account.id!r} share a webhook secret; "
                    "the signature must tell the account"
                )


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path = field(default_factory=lambda: default_instance_path({}))
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
    allocation_strategy: str = DEFAULT_STRATEGY
    allocation_rules_file: Path | None = None
    negative_stock: str = "flag"
    max_body_bytes: int = 1024 * 1024
    # STOCKMIRROR_ACCOUNTS: the accounts file's accounts; empty = single-account mode.
    account_list: tuple[Account, ...] = ()
    # Minutes a running reconciliation's lease lasts without being renewed.
    reconcile_lease_seconds: int = 300
    # Operations: log format, proxy hops trusted for X-Forwarded-*, retry job interval,
    # and the folder prometheus_client shares between gunicorn workers (multiprocess).
    log_format: str = "text"
    proxy_hops: int = 0
    retry_interval_seconds: int = 60
    metrics_multiproc_dir: str | None = None
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
        instance = default_instance_path(env)
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
            allocation_strategy=env.get("STOCKMIRROR_ALLOCATION_STRATEGY", DEFAULT_STRATEGY)
            .strip()
            .lower(),
            allocation_rules_file=(
                Path(env["STOCKMIRROR_ALLOCATION_RULES"])
                if env.get("STOCKMIRROR_ALLOCATION_RULES")
                else None
            ),
            negative_stock=env.get("STOCKMIRROR_NEGATIVE_STOCK", "flag").strip().lower(),
            account_list=(
                load_accounts(Path(env["STOCKMIRROR_ACCOUNTS"]), rate)
                if env.get("STOCKMIRROR_ACCOUNTS", "").strip()
                else ()
            ),
            reconcile_lease_seconds=_number(env, "STOCKMIRROR_RECONCILE_LEASE", 300, int),
            log_format=env.get("STOCKMIRROR_LOG_FORMAT", "text").strip().lower(),
            proxy_hops=_number(env, "STOCKMIRROR_PROXY_HOPS", 0, int),
            retry_interval_seconds=_number(env, "STOCKMIRROR_RETRY_INTERVAL", 60, int),
            metrics_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
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
        if self.reconcile_lease_seconds < 5:
            raise ConfigError("STOCKMIRROR_RECONCILE_LEASE must be at least 5 seconds")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"STOCKMIRROR_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                f"not {self.log_format!r}"
            )
        if self.proxy_hops < 0:
            raise ConfigError("STOCKMIRROR_PROXY_HOPS must be 0 or more")
        if self.retry_interval_seconds < 1:
            raise ConfigError("STOCKMIRROR_RETRY_INTERVAL must be at least 1 second")
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

    @property
    def multi_account(self) -> bool:
        """Accounts come from STOCKMIRROR_ACCOUNTS (the signing secret picks one)."""
        return bool(self.account_list)

    @property
    def accounts(self) -> tuple[Account, ...]:
        """Every account: the file's, or `default` from the single-account variables."""
        if self.account_list:
            return self.account_list
        return (
            Account(
                id="default",
                webhook_secrets=self.webhook_secrets,
                starshipit_api_key=self.starshipit_api_key,
                starshipit_subscription_key=self.starshipit_subscription_key,
                rate_limit=self.starshipit_rate_limit,
            ),
        )

    def account(self, account_id: str) -> Account:
        """The account with this id; LookupError names the known ones. In single-account
        mode every account id uses the single-account variables (as envelopes may name
        their account there)."""
        if not self.account_list:
            return replace(self.accounts[0], id=account_id)
        for account in self.account_list:
            if account.id == account_id:
                return account
        known = ", ".join(a.id for a in self.accounts)
        raise LookupError(f"unknown account {account_id!r} (accounts: {known})")
