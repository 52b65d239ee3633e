"""The one place that builds a database for the app from its Settings and wires into
its sessions (`session.info`): the allocation engine, as the orders' AllocationPort and
the ledger's BalanceObserver (app/orders/ports.py, app/ledger/ports.py), so orders and
ledger never import allocation; and the ledger's store, chosen once from the database's
kind (app/ledger/repository.py: LedgerStore, PostgresLedgerStore), and so is allocation's
(app/allocation/repository.py: AllocationStore, PostgresAllocationStore).

create_app, the command line and the scheduler build their Database here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from app.allocation.config import AllocationConfig
from app.allocation.hooks import AllocationHooks
from app.allocation.repository import STORE_KEY as ALLOCATION_STORE_KEY
from app.allocation.repository import AllocationStore
from app.allocation.repository import store_for as allocation_store_for
from app.config import Settings
from app.db import Database
from app.ledger.ports import OBSERVER_KEY
from app.ledger.repository import STORE_KEY, LedgerStore, store_for
from app.orders.ports import PORT_KEY


def session_info(
    config: AllocationConfig,
    ledger: LedgerStore | None = None,
    allocation: AllocationStore | None = None,
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
    if allocation is not None:
        info[ALLOCATION_STORE_KEY] = allocation
    if config.enabled:
        info[OBSERVER_KEY] = hooks
    return info


def database(
    settings: Settings,
    *,
    ledger: LedgerStore | None = None,
    allocation: AllocationStore | None = None,
    **engine_kwargs: Any,
) -> Database:
    """The app's database for these settings, with the allocation engine wired in and
    the ledger and allocation stores its kind calls for (`ledger` and `allocation`
    override them: the differential test)."""
    config = AllocationConfig.from_settings(settings)
    kind = make_url(settings.database_url).get_backend_name()
    if ledger is None:
        ledger = store_for(kind)
    if allocation is None:
        allocation = allocation_store_for(kind)
    info = session_info(config, ledger, allocation)
    return Database(settings.database_url, info, **engine_kwargs)


def allocation_config(db: Database) -> AllocationConfig:
    """The allocation configuration a database built by `database()` was wired with
    (allocation off for a Database built without it)."""
    port = db.session_info.get(PORT_KEY)
    return port.config if isinstance(port, AllocationHooks) else AllocationConfig()
