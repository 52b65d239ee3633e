"""A database that refuses some rows: a trigger (genuinely the database saying no, on
SQLite and PostgreSQL alike, whatever the application's validation lets through)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def refusing(engine: sa.Engine, table: str, when: str) -> Iterator[None]:
    """While open, inserting into `table` a row for which `when` (an SQL condition on
    NEW, the same text for both databases) holds fails; dropped afterwards."""
    name = f"refuse_{table}"
    if engine.dialect.name == "postgresql":
        create = [
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN IF {when} THEN "
            "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION {name}()",
        ]
        drop = [f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()"]
    else:
        create = [
            f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ]
        drop = [f"DROP TRIGGER {name}"]
    with engine.begin() as conn:
        for statement in create:
            conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.exec_driver_sql(statement)
