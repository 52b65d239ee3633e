"""Inventory API: locations, transfers, replenishment, receiving, stocktakes, returns,
stock CSV and ledger verify/export. Routes validate, call one service, answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, stream_with_context
from flask.typing import ResponseReturnValue
from marshmallow import fields, validate

from app.api import uploads
from app.api.bodies import ImportBody, ListBody, MovementsBody
from app.api.common import (
    AccountQuery,
    PageQuery,
    actor,
    checked_length,
    db,
    one_of,
    paginate,
    settings,
)
from app.api.openapi import Anything, operation
from app.api.stock import movement_json
from app.errors import ApiError, error_response
from app.ledger import csvio, locations, queries, receiving, stocktake, verify
from app.ledger.domain import LOCATION_KINDS
from app.ledger.models import (
    Batch,
    ExpectedReceipt,
    ExpectedReceiptLine,
    Location,
    PickFaceLevel,
    Product,
    StockMovement,
    StocktakeLine,
)
from app.ledger.receiving import Conflict, NotFound
from app.ledger.service import MovementConflict, NegativeStockRefused
from app.orders import returns, returns_domain
from app.schemas import Strict, StrictInt, Text

bp = Blueprint("inventory_api", __name__, url_prefix="/api")


def _sku(**kwargs: Any) -> Text:
    return Text(Product.sku, **kwargs)


def _code(**kwargs: Any) -> Text:
    return Text(Location.code, **kwargs)


def _reference(**kwargs: Any) -> Text:
    return Text(StockMovement.reference, **kwargs)


def _reason() -> Text:
    return Text(free_text=True, max=2000, load_default=None, allow_none=True)


def _batch(**kwargs: Any) -> Text:
    return Text(Batch.code, **kwargs)


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
    return error_response(422, str(error), rows=rows, hint=error.hint)


def _actor() -> str:
    return actor()


def _negative_policy() -> str:
    return str(settings().negative_stock)


_Strict = Strict


# --- locations, levels, replenishment, transfers --------------------------------------


class LocationSchema(_Strict):
    code = _code(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(LOCATION_KINDS))
    warehouse = Text(Location.warehouse, load_default="MAIN")
    sequence = StrictInt(Location.sequence, load_default=0, minimum=0)


class LevelSchema(_Strict):
    min_level = StrictInt(PickFaceLevel.min_level, required=True, minimum=0)


class TransferSchema(_Strict):
    sku = _sku(required=True)
    quantity = StrictInt(StockMovement.quantity, required=True, minimum=1)
    from_ = _code(required=True, data_key="from")
    to = _code(required=True)
    batch = _batch(load_default=None, allow_none=True)
    reference = _reference(required=True)
    reason = _reason()


class LocationsQuery(PageQuery):
    kind = one_of(LOCATION_KINDS)


@bp.get("/locations")
@operation("Locations", query=LocationsQuery, responses={200: ListBody})
def list_locations(query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        stmt = queries.locations_query(query["kind"])
        return paginate(session, stmt, query, locations.location_json)


@bp.post("/locations")
@operation("Create a location", body=LocationSchema, responses={201: Anything}, errors=(409,))
def create_location(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    with db().write() as session:
        loc = locations.create_location(session, **body)
        return locations.location_json(loc), 201


@bp.put("/locations/<code>/levels/<path:sku>")
@operation("Set a pick face's minimum level", body=LevelSchema, errors=(404, 409))
def set_level(
    code: str, sku: str, query: dict[str, Any], body: dict[str, Any]
) -> ResponseReturnValue:
    data = body
    checked_length("sku", sku, Product.sku)
    checked_length("code", code, Location.code)
    with db().write() as session:
        locations.set_min_level(session, sku=sku, location=code, min_level=data["min_level"])
    return {"sku": sku, "location": code, "min_level": data["min_level"]}


@bp.get("/replenishment")
@operation("Pick faces below their minimum and where to refill them", responses={200: ListBody})
def replenishment(query: dict[str, Any]) -> ResponseReturnValue:
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
@operation(
    "Move stock between locations",
    body=TransferSchema,
    responses={201: MovementsBody, 200: MovementsBody},
    errors=(404, 409),
)
def create_transfer(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data = body

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
    sku = _sku(required=True)
    quantity = StrictInt(ExpectedReceiptLine.quantity, required=True, minimum=1)


class ExpectedReceiptSchema(_Strict):
    reference = Text(ExpectedReceipt.reference, required=True)
    supplier = Text(ExpectedReceipt.supplier, min=0, blank=True, load_default=None, allow_none=True)
    expected_date = fields.Date(load_default=None, allow_none=True)
    location = _code(load_default=None, allow_none=True)
    lines = fields.List(
        fields.Nested(ExpectedLineSchema), required=True, validate=validate.Length(min=1)
    )


class ReceiptLineSchema(_Strict):
    sku = _sku(required=True)
    quantity = StrictInt(StockMovement.quantity, required=True, minimum=1)
    batch = _batch(load_default=None, allow_none=True)
    expiry = fields.Date(load_default=None, allow_none=True)
    serials = fields.List(_batch(), load_default=list)


class ReceiptSchema(_Strict):
    reference = _reference(required=True)
    expected_receipt = Text(ExpectedReceipt.reference, load_default=None, allow_none=True)
    location = _code(load_default=None, allow_none=True)
    reason = _reason()
    lines = fields.List(
        fields.Nested(ReceiptLineSchema), required=True, validate=validate.Length(min=1)
    )


def _po_json(session: Any, po: Any) -> dict[str, Any]:
    lines = queries.expected_lines_by_receipt(session, [po.id]).get(po.id, [])
    return receiving.expected_receipt_json(po, lines)


class ExpectedReceiptsQuery(PageQuery):
    status = one_of(("open", "received", "cancelled"))


@bp.post("/expected-receipts")
@operation(
    "Announce an expected receipt (purchase order)",
    body=ExpectedReceiptSchema,
    responses={201: Anything},
    errors=(409,),
)
def create_expected_receipt(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data = body
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
@operation("Expected receipts", query=ExpectedReceiptsQuery, responses={200: ListBody})
def list_expected_receipts(query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:

        def page(rows: list[Any]) -> list[dict[str, Any]]:
            lines = queries.expected_lines_by_receipt(session, [po.id for po in rows])
            return [receiving.expected_receipt_json(po, lines.get(po.id, [])) for po in rows]

        stmt = queries.expected_receipts_query(query["status"])
        return paginate(session, stmt, query, serialize_page=page)


@bp.get("/expected-receipts/<path:reference>")
@operation("One expected receipt", errors=(404,))
def get_expected_receipt(reference: str, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        po = queries.expected_receipt(session, reference)
        if po is None:
            raise ApiError(f"expected receipt {reference!r} not found", 404)
        return _po_json(session, po)


@bp.post("/expected-receipts/<path:reference>/cancel")
@operation("Cancel an expected receipt", body=Strict, body_optional=True, errors=(404, 409))
def cancel_expected_receipt(
    reference: str, query: dict[str, Any], body: dict[str, Any]
) -> ResponseReturnValue:
    with db().write() as session:
        po = receiving.cancel_expected_receipt(session, reference)
        return _po_json(session, po)


@bp.post("/receipts")
@operation(
    "Receive stock (optionally against an expected receipt)",
    body=ReceiptSchema,
    responses={201: MovementsBody, 200: MovementsBody},
    errors=(404, 409),
)
def create_receipt(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data = body
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
    location = _code(required=True)
    skus = fields.List(_sku(), load_default=None, allow_none=True)


class CountSchema(_Strict):
    sku = _sku(required=True)
    batch = _batch(min=0, load_default="")
    counted = StrictInt(StocktakeLine.counted, required=True, minimum=0)


class CountsSchema(_Strict):
    counts = fields.List(fields.Nested(CountSchema), required=True, validate=validate.Length(min=1))


@bp.post("/stocktakes")
@operation(
    "Open a stocktake (the book is recorded now)",
    body=OpenStocktakeSchema,
    responses={201: Anything},
    errors=(404,),
)
def open_stocktake(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    data = body
    with db().write() as session:
        st = stocktake.open_stocktake(
            session, location=data["location"], skus=data["skus"], actor=_actor()
        )
        return stocktake.stocktake_json(session, st), 201


@bp.get("/stocktakes/<int:stocktake_id>")
@operation("One stocktake with its lines", errors=(404,))
def get_stocktake(stocktake_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        return stocktake.stocktake_json(session, stocktake.get_stocktake(session, stocktake_id))


@bp.post("/stocktakes/<int:stocktake_id>/counts")
@operation("Submit counts; differences are posted", body=CountsSchema, errors=(404, 409))
def submit_counts(
    stocktake_id: int, query: dict[str, Any], body: dict[str, Any]
) -> ResponseReturnValue:
    data = body
    counts = [(c["sku"], c["batch"] or "", c["counted"]) for c in data["counts"]]

    def work(session: Any) -> dict[str, Any]:
        st = stocktake.submit_counts(
            session, stocktake_id, counts, actor=_actor(), negative_policy=_negative_policy()
        )
        return stocktake.stocktake_json(session, st)

    return db().run(work)  # retried on a deadlock with a concurrent release


# --- returns --------------------------------------------------------------------------


class ReturnLineSchema(_Strict):
    sku = _sku(required=True)
    quantity = StrictInt(StockMovement.quantity, required=True, minimum=1)
    disposition = fields.String(
        required=True, validate=validate.OneOf((returns_domain.RESTOCK, returns_domain.DAMAGED))
    )
    location = _code(load_default=None, allow_none=True)


class ReturnSchema(_Strict):
    reference = _reference(required=True)
    reason = _reason()
    lines = fields.List(
        fields.Nested(ReturnLineSchema), required=True, validate=validate.Length(min=1)
    )


@bp.post("/orders/<int:order_id>/returns")
@operation(
    "Receive a customer return",
    query=AccountQuery,
    body=ReturnSchema,
    responses={201: MovementsBody, 200: MovementsBody},
    errors=(404, 409),
)
def create_return(
    order_id: int, query: dict[str, Any], body: dict[str, Any]
) -> ResponseReturnValue:
    data = body
    acct = query["account_id"]
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
@operation(
    "Stock per SKU, location and batch as CSV (imports back)",
    responses={200: "text/csv"},
)
def export_stock(query: dict[str, Any]) -> ResponseReturnValue:
    return _csv_stream(csvio.export_stock, "stock.csv")


@bp.get("/ledger.csv")
@operation("Every movement as CSV, oldest first", responses={200: "text/csv"})
def export_ledger(query: dict[str, Any]) -> ResponseReturnValue:
    return _csv_stream(csvio.export_ledger, "ledger.csv")


@bp.post("/stock/import")
@operation(
    "Set stock levels from a CSV (text/csv or a multipart/form-data file)",
    responses={200: ImportBody},
    errors=(400, 413, 415),
    requestBody=uploads.CSV_REQUEST_BODY,
)
def import_stock(query: dict[str, Any]) -> ResponseReturnValue:
    text = uploads.csv_text()
    who = _actor()
    result = csvio.import_stock(db(), text, actor=who, source="api")
    return {
        "rows": result.rows,
        "movements": result.movements,
        "already_imported": result.already_imported,
        "digest": result.digest,
    }


@bp.get("/ledger/verify")
@operation("Rebuild every balance from the movements and report differences")
def verify_ledger(query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        return verify.verify_ledger(session).to_dict()
