"""Products API: tracking mode, strategy, bundle kind and components (issue 3)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import EXCLUDE, Schema, fields, validate

from app.api.common import db, json_body, list_arg, paginate
from app.errors import ApiError, error_response
from app.ledger import products
from app.ledger import repository as repo
from app.ledger.domain import BUNDLE_KINDS, STRATEGIES, TRACKING_MODES
from app.ledger.receiving import Conflict, NotFound
from app.schemas import StrictInt

bp = Blueprint("products_api", __name__, url_prefix="/api/products")


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> ResponseReturnValue:
    return error_response(404, str(error))


@bp.errorhandler(Conflict)
def _conflict(error: Conflict) -> ResponseReturnValue:
    return error_response(409, str(error))


class ComponentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(required=True, validate=validate.Length(1, 50))
    quantity = StrictInt(required=True, minimum=1)


class ProductSchema(Schema):
    """Every field optional on update; absent fields keep their value."""

    class Meta:
        unknown = EXCLUDE

    sku = fields.String(validate=validate.Length(1, 50))
    name = fields.String(allow_none=True, validate=validate.Length(max=200))
    tracking = fields.String(validate=validate.OneOf(TRACKING_MODES))
    strategy = fields.String(allow_none=True, validate=validate.OneOf(STRATEGIES))
    bundle = fields.String(validate=validate.OneOf(BUNDLE_KINDS))
    components = fields.List(fields.Nested(ComponentSchema))


def _save(sku: str, data: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], bool]:
    changes = {k: v for k, v in data.items() if k != "sku"}
    if "components" in changes:
        changes["components"] = [(c["sku"], c["quantity"]) for c in changes["components"]]
    with db().write() as session:
        product, created = products.save_product(session, sku, create=create, **changes)
        return products.product_json(session, product), created


@bp.post("")
def create_product() -> ResponseReturnValue:
    data = ProductSchema().load(json_body())
    if "sku" not in data:
        raise ApiError("sku is required", 422, fields={"sku": ["required"]})
    body, created = _save(data["sku"], data, create=True)
    return body, 201 if created else 200


@bp.route("/<path:sku>", methods=["PATCH", "PUT"])
def update_product(sku: str) -> ResponseReturnValue:
    data = ProductSchema().load(json_body())
    body, _ = _save(sku, data, create=False)
    return body


@bp.get("/<path:sku>")
def get_product(sku: str) -> ResponseReturnValue:
    with db().read() as session:
        product = repo.products_by_sku(session, [sku]).get(sku)
        if product is None:
            raise ApiError(f"unknown SKU {sku!r}", 404)
        return products.product_json(session, product)


@bp.get("")
def list_products() -> ResponseReturnValue:
    skus = list_arg("sku")
    with db().read() as session:

        def page(rows: list[Any]) -> list[dict[str, Any]]:
            parts = repo.components_of(session, [p.sku for p in rows])
            return [products.product_json(session, p, parts.get(p.sku, {})) for p in rows]

        return paginate(session, products.products_query(skus), dict, serialize_page=page)
