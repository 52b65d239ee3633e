"""Who the ledger tells when balances change.

The ledger defines the port; the allocation engine implements it (orders that hold units
at a balance whose on hand fell below allocated become OVERALLOCATED). The app's session
factory puts the observer in `session.info`; a session nobody wired gets NoObserver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.orm import Session

from app.db import wired

OBSERVER_KEY = "ledger.balance_observer"  # session.info key the session factory fills in

BalanceKey = tuple[str, str, str]  # (sku, location, batch)


class BalanceObserver(Protocol):
    def on_balances_changed(self, session: Session, on_hand: Mapping[BalanceKey, int]) -> None:
        """Balances (sku, location, batch) → new on hand were just changed by movements,
        inside the transaction that changed them."""


class NoObserver:
    def on_balances_changed(self, session: Session, on_hand: Mapping[BalanceKey, int]) -> None:
        return None


NO_OBSERVER = NoObserver()


def balance_observer(session: Session) -> BalanceObserver:
    """The balance observer wired into this session (NoObserver if none was)."""
    return wired(session, OBSERVER_KEY, NO_OBSERVER)
