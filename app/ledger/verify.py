"""Ledger verify: rebuild every balance from the movements and report each difference.

Bounded memory on any ledger size: the database sums movements per (sku, location,
batch) (GROUP BY, sorted), the balances stream in the same order, and a merge walks
both cursors side by side. Nothing is held but the current row of each and the
differences found. Ordering uses byte order (`COLLATE "C"` on PostgreSQL, SQLite's
default BINARY), which is the order Python compares str in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.ledger import repository as repo

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Difference:
    sku: str
    location: str
    batch: str
    movements: int
    balance: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "location": self.location,
            "batch": self.batch or None,
            "movements": self.movements,
            "balance": self.balance,
            "difference": self.balance - self.movements,
        }


@dataclass
class Report:
    balances_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    truncated: bool = False
    # (sku, serial, units on hand) for serials on hand more than once
    serials_on_hand_twice: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.serials_on_hand_twice

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "balances_checked": self.balances_checked,
            "differences": [d.to_dict() for d in self.differences],
            "truncated": self.truncated,
            "serials_on_hand_twice": [
                {"sku": sku, "serial": code, "on_hand": n}
                for sku, code, n in self.serials_on_hand_twice
            ],
        }


def merge(
    moved: Iterable[tuple[Key, int]], balances: Iterable[tuple[Key, int]]
) -> Iterator[Difference | None]:
    """Walk two key-sorted streams; yield a Difference per mismatch, None per match."""
    a, b = iter(moved), iter(balances)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and x[0] < y[0]):
            assert x is not None
            if x[1] != 0:
                yield Difference(*x[0], movements=x[1], balance=0)
            x = next(a, None)
        elif x is None or y[0] < x[0]:
            if y[1] != 0:
                yield Difference(*y[0], movements=0, balance=y[1])
            else:
                yield None
            y = next(b, None)
        else:
            yield Difference(*x[0], movements=x[1], balance=y[1]) if x[1] != y[1] else None
            x, y = next(a, None), next(b, None)


def verify_ledger(session: Session, *, limit: int = 1000) -> Report:
    """Compare Σ movements with every balance; keeps at most `limit` differences."""
    report = Report()
    moved = repo.stream_movement_sums(session)
    balances = repo.stream_balances(session)
    for diff in merge(moved, balances):
        report.balances_checked += 1
        if diff is None:
            continue
        if len(report.differences) >= limit:
            report.truncated = True
            continue
        report.differences.append(diff)
    report.serials_on_hand_twice = repo.serials_over_one(session, limit)
    return report
