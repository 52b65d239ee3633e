"""The overview: backlog by stage and age, demand against stock, orders at risk, and the
last reconciliation."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from app.console import charts, params, queries
from app.console.auth import database
from app.console.routes import bp
from app.reconcile.domain import CATEGORIES
from app.reconcile.valuation import CATEGORY_WORDS
from app.timeutil import utcnow


@bp.get("/")
def overview() -> ResponseReturnValue:
    acct = params.text("account_id", max_len=100) or "default"
    view = queries.overview(database(), acct, utcnow())
    return render_template(
        "console/overview.html",
        view=view,
        account_id=acct,
        backlog_chart=charts.backlog(view.backlog, view.buckets),
        demand_chart=charts.demand(view.demand),
        categories=CATEGORIES,
        category_words=CATEGORY_WORDS,
    )
