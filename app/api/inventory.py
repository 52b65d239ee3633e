"""Inventory API: locations, transfers, replenishment, receiving, stocktakes, returns,
stock CSV and ledger verify/export (issue 3). Routes validate, call one service, answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, request, stream_with_context
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate

from app.api.common import account_id, db, json_body, list_arg, paginate
from app.api.stock import movement_json
from app.errors import ApiError, error_response
from app.ledger import csvio, locations, receiving, returns, stocktake, verify
from app.ledger import repository as repo
from app.ledger.domain import LOCATION_KINDS
from app.ledger.receiving import Conflict, NotFound
from app.ledger.service import MovementConflict, NegativeStockRefused
from app.schemas import StrictInt

bp = Blueprint("inventory_api", __name__, url_prefix="/api")

SKU = validate.Length(min=1, max=50)
CODE = validate.Length(min=1, max=50)
REFERENCE = validate.Length(min=1, max=200)


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> ResponseReturnValue:
    return error_response(404, str(error))


@bp.errorhandler(Conflict)
def _conflict(error: Conflict) -> ResponseReturnValue:
    return error_response(409, str(error))


@bp.errorhandler(MovementConflict)
def _movement_conflict(error: MovementConflict) -> ResponseReturnValue:
    return error_response(409, str(error), original=movement_json(error.original))


@bp.errorhandler(NegativeStockRefused)
def _refused(error: NegativeStockRefused) -> ResponseReturnValue:
    return error_response(409, str(error), sku=error.sku, on_hand=error.on_hand)


@bp.errorhandler(csvio.ImportRejected)
def _rejected(error: csvio.ImportRejected) -> ResponseReturnValue:
    rows = [{"row": e.line, "error": e.message} for e in error.errors]
    return error_response(422, str(error), rows=rows)


def _actor() -> str:
    return str(g.get("actor", "api"))


def _negative_policy() -> str:
    return str(current_app.extensions["stockmirror"].settings.negative_stock)


class _Strict(Schema):
    class Meta:
        unknown = EXCLUDE


# --- locations, levels, replenishment, transfers --------------------------------------


class LocationSchema(_Strict):
    code = fields.String(required=True, validate=CODE)
    kind = fields.String(required=True, validate=validate.OneOf(LOCATION_KINDS))
    warehouse = fields.String(load_default="MAIN", validate=CODE)
    sequence = StrictInt(load_default=0, minimum=0)


class LevelSchema(_Strict):
    min_level = StrictInt(required=True, minimum=0)


class TransferSchema(_Strict):
    sku = fields.String(required=True, validate=SKU)
    quantity = StrictInt(required=True, minimum=1)
    from_ = fields.String(required=True, validate=CODE, data_key="from")
    to = fields.String(required=True, validate=CODE)
    batch = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))
    reference = fields.String(required=True, validate=REFERENCE)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


@bp.get("/locations")
def list_locations() -> ResponseReturnValue:
    kinds = list_arg("kind", LOCATION_KINDS)
    with db().read() as session:
        return paginate(session, repo.locations_query(kinds), locations.location_json)


@bp.post("/locations")
def create_location() -> ResponseReturnValue:
    data = LocationSchema().load(json_body())
    with db().write() as session:
        loc = locations.create_location(session, **data)
        return locations.location_json(loc), 201


@bp.put("/locations/<code>/levels/<path:sku>")
def set_level(code: str, sku: str) -> ResponseReturnValue:
    data = LevelSchema().load(json_body())
    if not 1 <= len(sku) <= 50:
        raise ApiError("sku must be 1..50 characters", 422, fields={"sku": ["invalid"]})
    with db().write() as session:
        locations.set_min_level(session, sku=sku, location=code, min_level=data["min_level"])
    return {"sku": sku, "location": code, "min_level": data["min_level"]}


@bp.get("/replenishment")
def replenishment() -> ResponseReturnValue:
    with db().read() as session:
        items = [
            {
                "sku": s.sku,
                "pick_face": s.pick_face,
                "min_level": s.min_level,
                "on_hand": s.on_hand,
                "short_by": s.short_by,
                "from_location": s.from_location,
                "from_available": s.from_available,
            }
            for s in locations.suggestions(session)
        ]
    return {"items": items, "total": len(items)}


@bp.post("/transfers")
def create_transfer() -> ResponseReturnValue:
    data = TransferSchema().load(json_body())
    def work(session: Any) -> tuple[dict[str, Any], bool]:
        moved, created = locations.transfer(
            session,
            sku=data["sku"],
            quantity=data["quantity"],
            from_location=data["from_"],
            to_location=data["to"],
            batch=data["batch"],
            reference=data["reference"],
            reason=data["reason"],
            actor=_actor(),
            negative_policy=_negative_policy(),
        )
        movements = [movement_json(m) for m in moved]
        return {"reference": data["reference"], "movements": movements}, created

    body, created = db().run(work)  # retried on a deadlock with a concurrent release
    return body, 201 if created else 200


# --- expected receipts and receiving ----------------------------------------------------


class ExpectedLineSchema(_Strict):
    sku = fields.String(required=True, validate=SKU)
    quantity = StrictInt(required=True, minimum=1)


class ExpectedReceiptSchema(_Strict):
    reference = fields.String(required=True, validate=REFERENCE)
    supplier = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    expected_date = fields.Date(load_default=None, allow_none=True)
    location = fields.String(load_default=None, allow_none=True, validate=CODE)
    lines = fields.List(
        fields.Nested(ExpectedLineSchema), required=True, validate=validate.Length(min=1)
    )


class ReceiptLineSchema(_Strict):
    sku = fields.String(required=True, validate=SKU)
    quantity = StrictInt(required=True, minimum=1)
    batch = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))
    expiry = fields.Date(load_default=None, allow_none=True)
    serials = fields.List(fields.String(validate=validate.Length(1, 100)), load_default=list)


class ReceiptSchema(_Strict):
    reference = fields.String(required=True, validate=REFERENCE)
    expected_receipt = fields.String(load_default=None, allow_none=True, validate=REFERENCE)
    location = fields.String(load_default=None, allow_none=True, validate=CODE)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    lines = fields.List(
        fields.Nested(ReceiptLineSchema), required=True, validate=validate.Length(min=1)
    )


def _po_json(session: Any, po: Any) -> dict[str, Any]:
    return receiving.expected_receipt_json(po, repo.expected_lines(session, [po.id]))


@bp.post("/expected-receipts")
def create_expected_receipt() -> ResponseReturnValue:
    data = ExpectedReceiptSchema().load(json_body())
    with db().write() as session:
        po = receiving.create_expected_receipt(
            session,
            reference=data["reference"],
            lines=[(ln["sku"], ln["quantity"]) for ln in data["lines"]],
            expected_date=data["expected_date"],
            supplier=data["supplier"],
            location=data["location"],
        )
        return _po_json(session, po), 201


@bp.get("/expected-receipts")
def list_expected_receipts() -> ResponseReturnValue:
    statuses = list_arg("status", ("open", "received", "cancelled"))
    with db().read() as session:

        def page(rows: list[Any]) -> list[dict[str, Any]]:
            lines: dict[int, list[Any]] = {}
            for line in repo.expected_lines(session, [po.id for po in rows]):
                lines.setdefault(line.receipt_id, []).append(line)
            return [receiving.expected_receipt_json(po, lines.get(po.id, [])) for po in rows]

        return paginate(session, repo.expected_receipts_query(statuses), dict, serialize_page=page)


@bp.get("/expected-receipts/<path:reference>")
def get_expected_receipt(reference: str) -> ResponseReturnValue:
    with db().read() as session:
        po = repo.expected_receipt(session, reference)
        if po is None:
            raise ApiError(f"expected receipt {reference!r} not found", 404)
        return _po_json(session, po)


@bp.post("/expected-receipts/<path:reference>/cancel")
def cancel_expected_receipt(reference: str) -> ResponseReturnValue:
    with db().write() as session:
        po = receiving.cancel_expected_receipt(session, reference)
        return _po_json(session, po)


@bp.post("/receipts")
def create_receipt() -> ResponseReturnValue:
    data = ReceiptSchema().load(json_body())
    lines = [
        receiving.ReceiptLine(
            sku=ln["sku"],
            quantity=ln["quantity"],
            batch=ln["batch"],
            expiry=ln["expiry"],
            serials=tuple(ln["serials"]),
        )
        for ln in data["lines"]
    ]
    def work(session: Any) -> tuple[dict[str, Any], bool]:
        moved, created = receiving.receive(
            session,
            reference=data["reference"],
            lines=lines,
            location=data["location"],
            expected_reference=data["expected_receipt"],
            actor=_actor(),
            reason=data["reason"],
        )
        movements = [movement_json(m) for m in moved]
        return {"reference": data["reference"], "movements": movements}, created

    body, created = db().run(work)  # retried on a deadlock with a concurrent release
    return body, 201 if created else 200


# --- stocktakes -----------------------------------------------------------------------


class OpenStocktakeSchema(_Strict):
    location = fields.String(required=True, validate=CODE)
    skus = fields.List(fields.String(validate=SKU), load_default=None, allow_none=True)


class CountSchema(_Strict):
    sku = fields.String(required=True, validate=SKU)
    batch = fields.String(load_default="", validate=validate.Length(max=100))
    counted = StrictInt(required=True, minimum=0)


class CountsSchema(_Strict):
    counts = fields.List(fields.Nested(CountSchema), required=True, validate=validate.Length(min=1))


@bp.post("/stocktakes")
def open_stocktake() -> ResponseReturnValue:
    data = OpenStocktakeSchema().load(json_body())
    with db().write() as session:
        st = stocktake.open_stocktake(
            session, location=data["location"], skus=data["skus"], actor=_actor()
        )
        return stocktake.stocktake_json(session, st), 201


@bp.get("/stocktakes/<int:stocktake_id>")
def get_stocktake(stocktake_id: int) -> ResponseReturnValue:
    with db().read() as session:
        return stocktake.stocktake_json(session, stocktake.get_stocktake(session, stocktake_id))


@bp.post("/stocktakes/<int:stocktake_id>/counts")
def submit_counts(stocktake_id: int) -> ResponseReturnValue:
    data = CountsSchema().load(json_body())
    counts = [(c["sku"], c["batch"] or "", c["counted"]) for c in data["counts"]]
    def work(session: Any) -> dict[str, Any]:
        st = stocktake.submit_counts(
            session, stocktake_id, counts, actor=_actor(), negative_policy=_negative_policy()
        )
        return stocktake.stocktake_json(session, st)

    return db().run(work)  # retried on a deadlock with a concurrent release


# --- returns --------------------------------------------------------------------------


class ReturnLineSchema(_Strict):
    sku = fields.String(required=True, validate=SKU)
    quantity = StrictInt(required=True, minimum=1)
    disposition = fields.String(
        required=True, validate=validate.OneOf((returns.RESTOCK, returns.DAMAGED))
    )
    location = fields.String(load_default=None, allow_none=True, validate=CODE)


class ReturnSchema(_Strict):
    reference = fields.String(required=True, validate=REFERENCE)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    lines = fields.List(
        fields.Nested(ReturnLineSchema), required=True, validate=validate.Length(min=1)
    )


@bp.post("/orders/<int:order_id>/returns")
def create_return(order_id: int) -> ResponseReturnValue:
    data = ReturnSchema().load(json_body())
    acct = account_id()
    lines = [
        returns.ReturnLine(ln["sku"], ln["quantity"], ln["disposition"], ln["location"])
        for ln in data["lines"]
    ]
    def work(session: Any) -> tuple[dict[str, Any], bool]:
        moved, created = returns.receive_return(
            session,
            account_id=acct,
            order_id=order_id,
            reference=data["reference"],
            lines=lines,
            actor=_actor(),
            reason=data["reason"],
        )
        body = {
            "order_id": order_id,
            "reference": data["reference"],
            "movements": [movement_json(m) for m in moved],
        }
        return body, created

    body, created = db().run(work)  # retried on a deadlock with a concurrent release
    return body, 201 if created else 200


# --- CSV and ledger verify ------------------------------------------------------------


def _csv_stream(produce: Any, filename: str) -> Response:
    def generate() -> Any:
        with db().read() as session:
            yield from produce(session)

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/stock.csv")
def export_stock() -> ResponseReturnValue:
    return _csv_stream(csvio.export_stock, "stock.csv")


@bp.get("/ledger.csv")
def export_ledger() -> ResponseReturnValue:
    return _csv_stream(csvio.export_ledger, "ledger.csv")


@bp.post("/stock/import")
def import_stock() -> ResponseReturnValue:
    if request.mimetype not in ("text/csv", "text/plain"):
        raise ApiError("content type must be text/csv", 415)
    try:
        text = request.get_data().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError("the CSV must be UTF-8", 400) from None
    actor = _actor()
    # retried on a deadlock with a concurrent release
    result = db().run(lambda session: csvio.import_stock(session, text, actor=actor, source="api"))
    return {
        "rows": result.rows,
        "movements": result.movements,
        "already_imported": result.already_imported,
        "digest": result.digest,
    }


@bp.get("/ledger/verify")
def verify_ledger() -> ResponseReturnValue:
    with db().read() as session:
        return verify.verify_ledger(session).to_dict()
