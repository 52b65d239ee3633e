"""How the allocation engine is configured for one database (one app).

The order mirror calls the hooks with a session only; `config_of(session)` finds the
configuration registered for the session's engine by `configure()` (create_app does it).
An engine nobody configured (a script that builds its own Database) falls back to the
environment (STOCKMIRROR_ALLOCATION, ..._STRATEGY, ..._RULES).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.allocation.domain import Rule, RuleError, rules_from_document
from app.config import ConfigError, Settings


@dataclass(frozen=True)
class AllocationConfig:
    mode: str = "off"
    default_strategy: str = "fifo"
    file_rules: tuple[Rule, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @classmethod
    def from_settings(cls, settings: Settings) -> AllocationConfig:
        return cls(
            mode=settings.allocation,
            default_strategy=settings.allocation_strategy,
            file_rules=tuple(load_rules_file(settings.allocation_rules_file)),
        )


def load_rules_file(path: Path | None) -> list[Rule]:
    if path is None:
        return []
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"STOCKMIRROR_ALLOCATION_RULES {path}: {error}") from error
    try:
        return rules_from_document(document, source="file")
    except RuleError as error:
        raise ConfigError(f"STOCKMIRROR_ALLOCATION_RULES {path}: {error}") from error


_configs: weakref.WeakKeyDictionary[Engine, AllocationConfig] = weakref.WeakKeyDictionary()


def configure(engine: Engine, config: AllocationConfig) -> None:
    _configs[engine] = config


@lru_cache(maxsize=1)
def _from_environment() -> AllocationConfig:
    env: Mapping[str, str] = os.environ
    rules = env.get("STOCKMIRROR_ALLOCATION_RULES")
    return AllocationConfig(
        mode=env.get("STOCKMIRROR_ALLOCATION", "off").strip().lower(),
        default_strategy=env.get("STOCKMIRROR_ALLOCATION_STRATEGY", "fifo").strip().lower(),
        file_rules=tuple(load_rules_file(Path(rules) if rules else None)),
    )


def config_of(session: Session) -> AllocationConfig:
    bind = session.get_bind()
    engine = getattr(bind, "_proxied", bind)  # read sessions use an options-engine
    config = _configs.get(engine) if isinstance(engine, Engine) else None
    return config if config is not None else _from_environment()


def config_for_engine(engine: Engine) -> AllocationConfig:
    config = _configs.get(engine)
    return config if config is not None else _from_environment()
