"""Test databases are built by the Alembic migrations, on SQLite by default and on
PostgreSQL when TEST_DATABASE_URL is set (CI runs both)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from app import create_app
from app.migrate import upgrade
from tests.helpers import SECRET, TOKEN, assert_ledger_consistent

PG_URL = os.environ.get("TEST_DATABASE_URL")


def pytest_report_header() -> str:
    if PG_URL:
        return f"database: PostgreSQL ({make_url(PG_URL).render_as_string(hide_password=True)})"
    return "database: SQLite (set TEST_DATABASE_URL for PostgreSQL)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: runs in the TEST_DATABASE_URL pass")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


class Databases:
    """Hands out an empty, migrated database per test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        if PG_URL:
            admin = make_url(PG_URL)
            self.name = f"sm_test_{uuid.uuid4().hex[:10]}"
            self._admin = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            self.url = admin.set(database=self.name).render_as_string(hide_password=False)
            upgrade(self.url)
            self._engine = sa.create_engine(self.url)
            with self._engine.connect() as conn:
                self._tables = [
                    r[0]
                    for r in conn.exec_driver_sql(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                ]
                self._seed = [
                    dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM locations")
                ]
        else:
            self.template = tmp / "template.db"
            upgrade(f"sqlite:///{self.template}")

    @property
    def kind(self) -> str:
        return "postgresql" if PG_URL else "sqlite"

    def fresh(self) -> str:
        if not PG_URL:
            path = self.tmp / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}"
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(self._tables)} RESTART IDENTITY CASCADE")
            conn.execute(
                sa.text(
                    "INSERT INTO locations (code, kind, created_at) "
                    "VALUES (:code, :kind, :created_at)"
                ),
                self._seed,
            )
        return self.url

    def close(self) -> None:
        if PG_URL:
            self._engine.dispose()
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self._admin.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.close()


@pytest.fixture
def database_url(databases: Databases) -> str:
    return databases.fresh()


def make_test_app(database_url: str, tmp_path: Path, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "database_url": database_url,
        "instance_path": tmp_path / "instance",
        "webhook_secrets": (SECRET,),
        "api_tokens": (TOKEN,),
    }
    settings.update(overrides)
    return create_app(settings)


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Override in a test module to change settings (e.g. negative_stock='block')."""
    return {}


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    application = make_test_app(database_url, tmp_path, **app_overrides)
    yield application
    database = application.extensions["stockmirror"].db
    assert_ledger_consistent(database.engine)
    database.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> sa.Engine:
    engine: sa.Engine = app.extensions["stockmirror"].db.engine
    return engine


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item (browser tests screenshot failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
