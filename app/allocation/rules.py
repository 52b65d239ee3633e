"""Auto-allocation rules stored through the API (rules from the file are read-only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.allocation import repository as repo
from app.allocation.queries import rule_json
from app.db import Database


def add_rule(db: Database, values: Mapping[str, Any]) -> dict[str, Any]:
    with db.write() as session:
        return rule_json(repo.add_rule(session, values), "api")


def delete_rule(db: Database, rule_id: int) -> bool:
    """Whether a stored rule with that id existed (and is now gone)."""
    with db.write() as session:
        return repo.delete_rule(session, rule_id)
