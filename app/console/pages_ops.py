"""Warehouse pages: orders (filter, release, deallocate), pick lists, stock and its
ledger walk, parked events (replay, discard)."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from app.allocation.service import (
    MAX_BATCH,
    AllocationOff,
    OrderNotFound,
    deallocate,
    release_order,
    release_orders,
)
from app.console import params, queries
from app.console.auth import acts_on, current_user, database
from app.console.routes import bp
from app.orders.domain import ALLOCATION_STATUSES, ORDER_STATUSES
from app.reconcile.report import table_lines
from app.users.domain import EVENTS, ORDERS
from app.webhooks.service import DiscardRefused, ReplayRefused, discard_event, replay_event

PER_PAGE = 50
PICK_COLUMNS = ("location", "sku", "batch", "quantity", "order_number", "order_line_sku")


def account() -> str:
    return params.text("account_id", max_len=100) or "default"


# --- orders ---------------------------------------------------------------------------


@bp.get("/orders")
def orders() -> ResponseReturnValue:
    cursor = params.text("after", max_len=120)
    if cursor and not queries.valid_cursor(cursor):
        params.refuse("after", "not a page of this list")
    flt = queries.OrderFilter(
        statuses=params.choices("status", ORDER_STATUSES),
        allocation_statuses=params.choices("allocation_status", ALLOCATION_STATUSES),
        platform=params.text("platform", max_len=100),
        date_from=params.day("from"),
        date_to=params.day("to", end=True),
        order_number=params.text("order_number", max_len=100),
        allocatable=params.flag("allocatable"),
    )
    acct = account()
    page = queries.order_page(database(), acct, flt, cursor, PER_PAGE)
    args = request.args.to_dict(flat=False)
    args.pop("after", None)
    return render_template(
        "console/orders.html",
        page=page,
        flt=flt,
        account_id=acct,
        statuses=ORDER_STATUSES,
        allocation_statuses=ALLOCATION_STATUSES,
        args=args,
        first_page=cursor is None,
        can_act=current_user().may_act(ORDERS),
    )


def _selected_orders() -> list[int]:
    selected = params.ids("order_id", request.form, maximum=MAX_BATCH)
    if not selected:
        flash("Select at least one order first.", "error")
    return selected


@bp.post("/orders/release")
@acts_on(ORDERS)
def release_selected() -> ResponseReturnValue:
    selected = _selected_orders()
    if not selected:
        return redirect(request.referrer or url_for("console.orders"), 303)
    acct = request.form.get("account_id", "default")[:100]
    try:
        result = release_orders(
            database(),
            current_app.extensions["stockmirror"].allocation,
            account_id=acct,
            order_ids=selected,
            allow_partial=request.form.get("allow_partial") == "1",
            actor=current_user().email,
        )
    except AllocationOff as error:
        abort(409, description=str(error))
    return render_template(
        "console/release_result.html", result=result, account_id=acct, action="release"
    )


@bp.post("/orders/deallocate")
@acts_on(ORDERS)
def deallocate_selected() -> ResponseReturnValue:
    selected = _selected_orders()
    if not selected:
        return redirect(request.referrer or url_for("console.orders"), 303)
    acct = request.form.get("account_id", "default")[:100]
    done, missing = [], []
    for order_id in selected:
        try:
            order = deallocate(
                database(), account_id=acct, order_id=order_id, actor=current_user().email
            )
            done.append(order)
        except OrderNotFound:
            missing.append(order_id)
    return render_template(
        "console/deallocate_result.html", done=done, missing=missing, account_id=acct
    )


def _order_or_404(order_number: str) -> queries.OrderView:
    found = queries.order_view(database(), account(), order_number)
    if found is None:
        abort(404, description=f"No order {order_number} in account {account()}.")
    return found


@bp.get("/orders/<path:order_number>/picklist.csv")
def order_picklist_csv(order_number: str) -> ResponseReturnValue:
    view = _order_or_404(order_number)
    return _pick_csv(view.picklist, f"picklist-order-{_safe(order_number)}.csv")


@bp.get("/orders/<path:order_number>/picklist")
def order_picklist(order_number: str) -> ResponseReturnValue:
    view = _order_or_404(order_number)
    return render_template(
        "console/picklist.html",
        title=f"Pick list for order {view.order.order_number}",
        lines=view.picklist,
        csv_url=url_for("console.order_picklist_csv", order_number=order_number),
        account_id=account(),
    )


@bp.get("/orders/<path:order_number>")
def order(order_number: str) -> ResponseReturnValue:
    view = _order_or_404(order_number)
    return render_template(
        "console/order.html",
        view=view,
        o=view.body,
        account_id=account(),
        can_act=current_user().may_act(ORDERS),
    )


@bp.post("/orders/<path:order_number>/release")
@acts_on(ORDERS)
def order_release(order_number: str) -> ResponseReturnValue:
    view = _order_or_404(order_number)
    try:
        outcome = release_order(
            database(),
            current_app.extensions["stockmirror"].allocation,
            account_id=view.order.account_id,
            order_id=view.order.order_id,
            allow_partial=request.form.get("allow_partial") == "1",
            actor=current_user().email,
        )
    except AllocationOff as error:
        abort(409, description=str(error))
    if outcome.outcome == "released":
        flash(f"Order {order_number} released.")
    elif outcome.outcome == "short":
        short = ", ".join(
            f"{s['sku']} (needs {s['needed']}, {s['available']} available)"
            for s in outcome.shortages
        )
        flash(f"Order {order_number} was not released: not enough stock of {short}.", "error")
    else:
        flash(f"Order {order_number} was not released: {outcome.reason}.", "error")
    return redirect(url_for("console.order", order_number=order_number, account_id=account()), 303)


@bp.post("/orders/<path:order_number>/deallocate")
@acts_on(ORDERS)
def order_deallocate(order_number: str) -> ResponseReturnValue:
    view = _order_or_404(order_number)
    deallocate(
        database(),
        account_id=view.order.account_id,
        order_id=view.order.order_id,
        actor=current_user().email,
    )
    flash(f"Order {order_number}: its reserved stock was released.")
    return redirect(url_for("console.order", order_number=order_number, account_id=account()), 303)


@bp.get("/releases/<int:release_id>/picklist.csv")
def release_picklist_csv(release_id: int) -> ResponseReturnValue:
    picks = _release_or_404(release_id)
    return _pick_csv(picks.lines, f"picklist-release-{release_id}.csv")


@bp.get("/releases/<int:release_id>/picklist")
def release_picklist(release_id: int) -> ResponseReturnValue:
    picks = _release_or_404(release_id)
    return render_template(
        "console/picklist.html",
        title=f"Pick list for release {release_id}",
        lines=picks.lines,
        release=picks,
        csv_url=url_for("console.release_picklist_csv", release_id=release_id),
        account_id=account(),
    )


def _release_or_404(release_id: int) -> queries.ReleasePicks:
    picks = queries.release_picklist(database(), account(), release_id)
    if picks is None:
        abort(404, description=f"No release {release_id}.")
    return picks


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:60]


def _pick_csv(lines: list[dict[str, Any]], filename: str) -> Response:
    rows = (
        (
            line["location"],
            line["sku"],
            line["batch"],
            o["quantity"],
            o["order_number"],
            o["line_sku"],
        )
        for line in lines
        for o in line["orders"]
    )
    return Response(
        "".join(table_lines(PICK_COLUMNS, rows)),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )


# --- stock ------------------------------------------------------------------------------


@bp.get("/stock")
def stock() -> ResponseReturnValue:
    prefix = params.text("sku", max_len=50)
    flag = params.choice("flag", ("", "negative", "overallocated"), "") or None
    after = params.text("after", max_len=50)
    page = queries.stock_page(database(), prefix=prefix, flag=flag, after=after, per_page=PER_PAGE)
    if prefix and after is None and len(page.views) == 1 and page.views[0].sku == prefix:
        return redirect(url_for("console.sku", sku=prefix), 303)
    return render_template(
        "console/stock.html", page=page, prefix=prefix or "", flag=flag or "", after=after
    )


@bp.get("/stock/<path:sku>")
def sku(sku: str) -> ResponseReturnValue:
    before = params.whole("before", 0, minimum=0, maximum=2**62) or None
    walk = queries.sku_walk(database(), sku, before, 100)
    if walk is None:
        abort(404, description=f"No SKU {sku}.")
    return render_template("console/sku.html", walk=walk, sku=sku, first_page=before is None)


@bp.get("/movements/<int:movement_id>")
def movement(movement_id: int) -> ResponseReturnValue:
    step = queries.movement(database(), movement_id)
    if step is None:
        abort(404, description=f"No movement {movement_id}.")
    return render_template("console/movement.html", step=step, m=step.movement)


# --- events -----------------------------------------------------------------------------


@bp.get("/events")
def events() -> ResponseReturnValue:
    page_no = params.whole("page", 1, maximum=100_000)
    page = queries.waiting_events(database(), page_no, PER_PAGE)
    return render_template(
        "console/events.html",
        page=page,
        page_no=page_no,
        per_page=PER_PAGE,
        can_act=current_user().may_act(EVENTS),
    )


def _event_form() -> tuple[str, str]:
    event_id = params.text("event_id", request.form, max_len=200)
    acct = params.text("account_id", request.form, max_len=100) or "default"
    if not event_id:
        params.refuse("event_id", "required")
    return acct, event_id


@bp.post("/events/replay")
@acts_on(EVENTS)
def event_replay() -> ResponseReturnValue:
    acct, event_id = _event_form()
    try:
        result = replay_event(database(), acct, event_id)
    except LookupError:
        abort(404, description=f"No event {event_id}.")
    except ReplayRefused as error:
        abort(409, description=str(error))
    if result.status == "parked":
        flash(f"Event {event_id} is still parked: {result.reason}", "error")
    else:
        flash(f"Event {event_id} replayed: {result.status}.")
    return redirect(url_for("console.events"), 303)


@bp.post("/events/discard")
@acts_on(EVENTS)
def event_discard() -> ResponseReturnValue:
    acct, event_id = _event_form()
    reason = params.free_text("reason", 500).strip()
    if not reason:
        params.refuse("reason", "say why the event is discarded")
    try:
        discard_event(database(), acct, event_id, reason=reason, actor=current_user().email)
    except LookupError:
        abort(404, description=f"No event {event_id}.")
    except DiscardRefused as error:
        abort(409, description=str(error))
    flash(f"Event {event_id} discarded.")
    return redirect(url_for("console.events"), 303)
