"""Alembic environment: the URL comes from the caller (or DATABASE_URL), the metadata
from app.models. No Flask involved."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from app.config import Settings
from app.db import make_engine
from app.models import metadata

config = context.config
url = config.attributes.get("database_url") or Settings.from_env().database_url


def run_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several instances may boot at once: one migrates, the others wait.
            connection.exec_driver_sql("SELECT pg_advisory_lock(727001)")
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_unlock(727001)")
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
