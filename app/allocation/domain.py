"""Pure allocation rules besides the strategies: auto rules and allocation statuses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.orders.domain import (  # noqa: F401 - one AllocationStatus, on the order side
    ALLOCATED,
    COULD_NOT_ALLOCATE,
    OVERALLOCATED,
    PARTIALLY_ALLOCATED,
    UNALLOCATED,
)

# Statuses under which the order holds no live allocation (no query needed).
HOLDS_NOTHING = (UNALLOCATED, COULD_NOT_ALLOCATE)

MODES = ("off", "manual", "auto")
RULE_FIELDS = ("account_id", "platform", "country")


class RuleError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rule:
    """Auto allocation rule; a criterion left None matches anything (case-insensitive)."""

    id: str
    name: str | None = None
    account_id: str | None = None
    platform: str | None = None
    country: str | None = None
    allow_partial: bool = False
    enabled: bool = True
    source: str = "api"

    def matches(self, facts: Mapping[str, str | None]) -> bool:
        if not self.enabled:
            return False
        for name in RULE_FIELDS:
            wanted = getattr(self, name)
            if wanted is None:
                continue
            actual = facts.get(name)
            if actual is None or actual.strip().casefold() != wanted.strip().casefold():
                return False
        return True

    def describe(self) -> str:
        criteria = [f"{n}={getattr(self, n)}" for n in RULE_FIELDS if getattr(self, n)]
        label = self.name or (", ".join(criteria) if criteria else "all orders")
        return f"rule {self.id} ({label})"


def first_match(rules: Iterable[Rule], facts: Mapping[str, str | None]) -> Rule | None:
    for rule in rules:
        if rule.matches(facts):
            return rule
    return None


def order_facts(
    account_id: str, platform: str | None, destination: Mapping[str, Any] | None
) -> dict[str, str | None]:
    country = None
    if destination:
        raw = destination.get("country") or destination.get("country_code")
        country = str(raw) if raw is not None else None
    return {"account_id": account_id, "platform": platform, "country": country}


def rules_from_document(document: Any, source: str = "file") -> list[Rule]:
    """Rules from a JSON document: a list of {name?, account_id?, platform?, country?,
    allow_partial?, enabled?}, or {"rules": [...]}."""
    if isinstance(document, dict):
        document = document.get("rules")
    if not isinstance(document, list):
        raise RuleError('rules must be a JSON list (or {"rules": [...]})', "rules")
    rules = []
    for n, item in enumerate(document):
        if not isinstance(item, dict):
            raise RuleError(f"rule {n} must be an object", f"rules.{n}")
        unknown = set(item) - {"name", "allow_partial", "enabled", *RULE_FIELDS}
        if unknown:
            raise RuleError(f"rule {n} has unknown keys {sorted(unknown)}", f"rules.{n}")
        for key in ("name", *RULE_FIELDS):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise RuleError(f"rule {n}: {key} must be a string", f"rules.{n}.{key}")
        for key in ("allow_partial", "enabled"):
            if key in item and not isinstance(item[key], bool):
                raise RuleError(f"rule {n}: {key} must be true or false", f"rules.{n}.{key}")
        rules.append(
            Rule(
                id=f"{source}:{n + 1}",
                name=item.get("name"),
                account_id=item.get("account_id"),
                platform=item.get("platform"),
                country=item.get("country"),
                allow_partial=item.get("allow_partial", False),
                enabled=item.get("enabled", True),
                source=source,
            )
        )
    return rules


def allocation_status(demanded: int, allocated: int, *, tried: bool) -> str:
    """Status after a release attempt (or after consumption: `tried`=False)."""
    if allocated <= 0:
        return COULD_NOT_ALLOCATE if tried and demanded > 0 else UNALLOCATED
    if allocated < demanded:
        return PARTIALLY_ALLOCATED
    return ALLOCATED
