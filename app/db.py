"""Engine, sessions and explicit transactions for PostgreSQL and SQLite.

`Database.write()` is the unit of work: it opens a transaction (BEGIN IMMEDIATE on
SQLite, so writers queue instead of failing mid-way), commits only when the block ends
without an exception, and rolls back otherwise. `Database.read()` is for reads only
(it ends with COMMIT so psycopg keeps its prepared statements).
`Database.run()` retries a whole unit of work on PostgreSQL deadlocks and
serialization failures, a bounded number of times.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row, no_result
from sqlalchemy import event, exc
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from app.timeutil import as_utc

log = logging.getLogger(__name__)
T = TypeVar("T")
M = TypeVar("M")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

RETRYABLE_PG_CODES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


class StorageUnavailable(RuntimeError):
    """The database cannot be reached or refused the work; the caller must retry later."""


def is_retryable(error: BaseException) -> bool:
    orig = getattr(error, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in RETRYABLE_PG_CODES


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    return sa.create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (see below); pysqlite's own handling defers it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = "BEGIN" if conn.get_execution_options().get("sm_readonly") else "BEGIN IMMEDIATE"
        conn.exec_driver_sql(mode)


class Database:
    """`session_info` is copied into every session's `info`: how the app hands its
    services to the code below them (the ports in orders and ledger, see app/wiring.py)."""

    def __init__(
        self, url: str, session_info: Mapping[str, Any] | None = None, **engine_kwargs: Any
    ) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        info = dict(session_info or {})
        self.session_info: Mapping[str, Any] = info
        self._sessions = sessionmaker(
            self.engine, expire_on_commit=False, autoflush=False, info=info
        )
        self._read_sessions = sessionmaker(
            self.engine.execution_options(sm_readonly=True),
            expire_on_commit=False,
            autoflush=False,
            info=info,
        )

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            with _storage_errors():
                session.begin()
            yield session
            with _storage_errors():
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        session = self._read_sessions()
        try:
            with _storage_errors():
                session.begin()
            yield session
            # COMMIT, not ROLLBACK: equivalent for a read, and psycopg keeps the statements
            # it prepared in the transaction (a rollback discards them, so every API read
            # would be planned again).
            with _storage_errors():
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def rehearse(self) -> Iterator[Session]:
        """A write transaction that is always rolled back: to show what a change would
        do (the console's repair preview) through the very code that would do it."""
        session = self._sessions()
        try:
            with _storage_errors():
                session.begin()
            yield session
        finally:
            session.rollback()
            session.close()

    def run(self, work: Callable[[Session], T], attempts: int = 5) -> T:
        """Run `work` in one write transaction, retrying deadlocks/serialization failures."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return work(session)
            except exc.DBAPIError as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                delay = min(0.2, 0.005 * 2**attempt) * random.random()  # noqa: S311
                log.info("retrying transaction after %s (attempt %d)", type(error.orig), attempt)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as error:
        if is_retryable(error):
            raise
        raise StorageUnavailable(str(error.orig or error).splitlines()[0]) from error


class byte_order(ColumnElement[Any]):  # noqa: N801 - used like a SQL function
    """The column ordered by code point, on both databases: SQLite compares text bytewise;
    PostgreSQL gets COLLATE "C" (its default collation may order SKUs otherwise). Every
    writer locks balance rows in this order, as Python sorts the keys."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any) -> None:
        self.column = column
        self.type = column.type


@compiles(byte_order)
def _byte_order_default(element: byte_order, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(byte_order, "postgresql")
def _byte_order_postgresql(element: byte_order, compiler: Any, **kw: Any) -> str:
    return f'{compiler.process(element.column, **kw)} COLLATE "C"'


def wired(session: Session, key: str, default: T) -> T:
    """What the app wired into this session's `info` under `key` (see Database's
    `session_info`), or `default` for a session nobody wired."""
    found: T | None = session.info.get(key)
    return found if found is not None else default


def table_of(model: type[Base]) -> sa.Table:
    """The Core table behind a model (for cached executemany statements on hot paths)."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


def insert_for(session: Session, table: Any) -> Any:
    """A dialect insert() that knows ON CONFLICT (PostgreSQL and SQLite share the API)."""
    return dialect_insert(session.get_bind().dialect.name, table)


def dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


_DRIVER = "db.pg_driver"  # session.info: the psycopg connection of the open transaction


def pg_driver(session: Session) -> Any | None:
    """The psycopg connection under the session's transaction on PostgreSQL (else None).

    Hot paths (webhook ingest) run fixed SQL through it: the same connection and
    transaction as the session, without statement compilation or result processing,
    which on this stack cost more CPU than PostgreSQL spends running the statement.
    psycopg prepares a statement it has run a few times, so the SQL is planned once per
    connection. Rows come back as named tuples; timestamps are timezone-aware.
    """
    driver = session.info.get(_DRIVER)
    if driver is None and session.get_bind().dialect.name == "postgresql":
        driver = session.connection().connection.driver_connection
        session.info[_DRIVER] = driver
    return driver


@event.listens_for(Session, "after_transaction_end")
def _forget_driver(session: Session, transaction: Any) -> None:
    # The next transaction may run on another pooled connection.
    if transaction.parent is None:
        session.info.pop(_DRIVER, None)


def pg_rows(session: Session, sql: str, params: Any) -> list[Any]:
    """Run fixed SQL that returns rows on the session's PostgreSQL connection; the rows
    as named tuples. Driver errors surface as SQLAlchemy's (as from session.execute), so
    deadlock retries and "database unavailable" handling see them."""
    driver = pg_driver(session)
    assert driver is not None, "pg_rows is for PostgreSQL"
    try:
        with driver.cursor(row_factory=_rows_of(sql)) as cursor:
            return cursor.execute(sql, params).fetchall()
    except psycopg.Error as error:
        raise exc.DBAPIError.instance(sql, params, error, psycopg.Error) from error


_ROW_MAKERS: dict[str, Any] = {}


def _rows_of(sql: str) -> Any:
    """psycopg's namedtuple_row for fixed SQL, whose columns never change: the row type
    is made once per statement instead of looked up from its column names each time."""

    def row_factory(cursor: Any) -> Any:
        make = _ROW_MAKERS.get(sql)
        if make is None:
            make = namedtuple_row(cursor)
            if make is not no_result:
                _ROW_MAKERS[sql] = make
        return make

    return row_factory


def adopt(
    session: Session,
    model: type[M],
    columns: Sequence[str],
    row: Sequence[Any],
    *,
    attach: bool = True,
) -> M:
    """The session's `model` instance for a row the driver read (values in `columns`
    order), as if the ORM had loaded it with populate_existing: an instance already in
    the session takes the row's values; timestamps are made UTC like UTCDateTime does.

    With attach=False a new instance stays detached: for a caller that writes the row
    itself and knows nothing in the transaction loads it through the session."""
    mapper, times, key_columns = _adoption(cast(type, model), tuple(columns))
    values = dict(zip(columns, row, strict=True))
    for name in times:
        if values[name] is not None:
            values[name] = as_utc(values[name])
    if not attach:
        return cast(M, _detached(mapper, values))
    key = mapper.identity_key_from_primary_key([values[name] for name in key_columns])
    instance = session.identity_map.get(key)
    if instance is None:
        instance = _detached(mapper, values)
        session.add(instance)
    else:
        for name, value in values.items():
            set_committed_value(instance, name, value)
    return cast(M, instance)


@functools.cache
def _adoption(model: type[Any], columns: tuple[str, ...]) -> tuple[Any, tuple[str, ...], list[str]]:
    """What adopt needs to know of `model` for rows of `columns`, worked out once: its
    mapper, which of the columns hold timestamps, and its primary key's columns."""
    mapper = sa.inspect(model)
    if not mapper.configured:
        sa.orm.configure_mappers()
    table = mapper.local_table
    times = tuple(
        name for name in columns if isinstance(table.c[name].type, (UTCDateTime, sa.DateTime))
    )
    return mapper, times, [c.key for c in mapper.primary_key]


def _detached(mapper: Any, values: dict[str, Any]) -> Any:
    instance = mapper.class_manager.new_instance()
    sa.inspect(instance).dict.update(values)  # loaded state, as the ORM's loader sets it
    make_transient_to_detached(instance)
    return instance


def pg_compiled(statement: Any, *, positional: bool = False) -> SQLCompiler:
    """A SQLAlchemy Core statement compiled once for the psycopg driver, to run through
    pg_rows / pg_execute: `%(name)s` parameters, or `%s` ones in `positiontup` order with
    `positional`; `.params` holds the values it binds for its literals."""
    paramstyle = "format" if positional else None
    return statement.compile(dialect=psycopg_dialect.dialect(paramstyle=paramstyle))


def pg_json(rows: Any) -> str:
    """Rows for `json_to_recordset(%(rows)s::json)`: one parameter, however many rows
    (cheaper for the driver than one array per column; datetimes and decimals as text)."""
    return json.dumps(rows, default=str, separators=(",", ":"))


def pg_execute(session: Session, sql: str, params: Any, *, many: bool = False) -> int:
    """Run fixed SQL that returns no rows on the session's PostgreSQL connection (with
    `many`, once per parameter set of `params`); the number of rows it changed."""
    driver = pg_driver(session)
    assert driver is not None, "pg_execute is for PostgreSQL"
    try:
        with driver.cursor() as cursor:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
            return cursor.rowcount
    except psycopg.Error as error:
        raise exc.DBAPIError.instance(sql, params, error, psycopg.Error) from error


_STATEMENTS: dict[tuple[str, str], Any] = {}


def prepared(session: Session, name: str, build: Callable[[str], Any]) -> Any:
    """A statement built once per dialect (hot paths: building a statement costs more than
    running it). `build(dialect_name)` must use bind parameters for every value."""
    dialect = session.get_bind().dialect.name
    key = (dialect, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(dialect)
    return stmt
