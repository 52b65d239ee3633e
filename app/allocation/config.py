"""How the allocation engine is configured for one database (one app): built from the
app's Settings by app/wiring.py, which hands it to the engine it wires into sessions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.allocation.domain import Rule, RuleError, rules_from_document
from app.config import ConfigError, Settings
from app.ledger.strategies import DEFAULT_STRATEGY


@dataclass(frozen=True)
class AllocationConfig:
    mode: str = "off"
    default_strategy: str = DEFAULT_STRATEGY
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
