"""The one place that builds a database for the app from its Settings and wires into
its sessions (`session.info`): the allocation engine, as the orders' AllocationPort and
the ledger's BalanceObserver (app/orders/ports.py, app/ledger/ports.py), so orders and
ledger never import allocation; and the ledger's store, chosen once from the database's
kind (app/ledger/repository.py: LedgerStore, PostgresLedgerStore).

create_app, the command line and the scheduler build their Database here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from app.allocation.config import AllocationConfig
from app.allocation.hooks import AllocationHooks
from app.config import Settings
from app.db import Database
from app.ledger.ports import OBSERVER_KEY
from app.ledger.repository import STORE_KEY, LedgerStore, store_for
from app.orders.ports import PORT_KEY


def session_info(
    config: AllocationConfig, ledger: LedgerStore | None = None
) -> dict[str, Any]:
    """The ports every session of the app carries.

    The orders' port is the allocation engine in every mode: with allocation off nothing
    new is reserved, but orders still holding units reserved while it was on must have
    them freed on deletion and consumed by shipments; for an order holding nothing each
    method answers without a query, as NoAllocation would. The ledger's observer is
    wired only with allocation on (off: nothing watches balances, as before).
    """
    hooks = AllocationHooks(config)
    info: dict[str, Any] = {PORT_KEY: hooks}
    if ledger is not None:
        info[STORE_KEY] = ledger
    if config.enabled:
        info[OBSERVER_KEY] = hooks
    return info


def database(
    settings: Settings, *, ledger: LedgerStore | None = None, **engine_kwargs: Any
) -> Database:
    """The app's database for these settings, with the allocation engine wired in and
    the ledger store its kind calls for (`ledger` overrides it: the differential test)."""
    config = AllocationConfig.from_settings(settings)
    if ledger is None:
        ledger = store_for(make_url(settings.database_url).get_backend_name())
    return Database(settings.database_url, session_info(config, ledger), **engine_kwargs)


def allocation_config(db: Database) -> AllocationConfig:
    """The allocation configuration a database built by `database()` was wired with
    (allocation off for a Database built without it)."""
    port = db.session_info.get(PORT_KEY)
    return port.config if isinstance(port, AllocationHooks) else AllocationConfig()
