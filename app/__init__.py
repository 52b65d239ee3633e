"""stockmirror: a headless inventory mirror beside Starshipit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask

from app.config import Settings
from app.db import Database

if TYPE_CHECKING:
    from app.allocation.config import AllocationConfig


@dataclass
class Context:
    settings: Settings
    db: Database
    allocation: AllocationConfig


def create_app(overrides: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the WSGI app. `overrides` replace Settings fields (tests, scripts)."""
    settings = settings or Settings.from_env()
    if overrides:
        settings = settings.with_overrides(**overrides)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    from app import wiring

    db = wiring.database(settings)
    app.extensions["stockmirror"] = Context(
        settings=settings, db=db, allocation=wiring.allocation_config(db)
    )

    from app import api, errors, webhooks
    from app.auth import install_api_auth
    from app.observability import http as observability

    observability.install(app, settings)  # first: request ids before any other hook
    errors.register_error_handlers(app)
    install_api_auth(app)
    webhooks.register(app)
    api.register(app)
    from app import console

    console.register(app, settings)
    return app
