"""Products API: tracking mode, strategy, bundle kind and components."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue
from marshmallow import fields, validate

from app.api.bodies import ListBody
from app.api.common import CommaList, PageQuery, checked_length, db, paginate
from app.api.openapi import Anything, operation
from app.errors import ApiError, error_response
from app.ledger import products, queries
from app.ledger.domain import BUNDLE_KINDS, STRATEGIES, TRACKING_MODES
from app.ledger.models import BundleComponent, Product
from app.ledger.receiving import Conflict, NotFound
from app.schemas import Strict, StrictInt, Text

bp = Blueprint("products_api", __name__, url_prefix="/api/products")


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> ResponseReturnValue:
    return error_response(404, str(error))


@bp.errorhandler(Conflict)
def _conflict(error: Conflict) -> ResponseReturnValue:
    return error_response(409, str(error))


class ComponentSchema(Strict):
    sku = Text(Product.sku, required=True)
    quantity = StrictInt(BundleComponent.quantity, required=True, minimum=1)


class ProductSchema(Strict):
    """Every field optional on update; absent fields keep their value."""

    sku = Text(Product.sku)
    name = Text(Product.name, min=0, blank=True, allow_none=True)
    tracking = fields.String(validate=validate.OneOf(TRACKING_MODES))
    strategy = fields.String(allow_none=True, validate=validate.OneOf(STRATEGIES))
    bundle = fields.String(validate=validate.OneOf(BUNDLE_KINDS))
    components = fields.List(fields.Nested(ComponentSchema))


class ProductsQuery(PageQuery):
    sku = CommaList(Text(Product.sku), load_default=list)


def _save(sku: str, data: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], bool]:
    changes = {k: v for k, v in data.items() if k != "sku"}
    if "components" in changes:
        changes["components"] = [(c["sku"], c["quantity"]) for c in changes["components"]]
    with db().write() as session:
        product, created = products.save_product(session, sku, create=create, **changes)
        return products.product_json(session, product), created


@bp.post("")
@operation(
    "Create (or update) a product",
    body=ProductSchema,
    responses={201: Anything, 200: Anything},
    errors=(404, 409),
)
def create_product(query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    if "sku" not in body:
        raise ApiError("sku is required", 422, fields={"sku": ["required"]})
    result, created = _save(body["sku"], body, create=True)
    return result, 201 if created else 200


@bp.route("/<path:sku>", methods=["PATCH", "PUT"])
@operation("Update a product", body=ProductSchema, errors=(404, 409))
def update_product(sku: str, query: dict[str, Any], body: dict[str, Any]) -> ResponseReturnValue:
    result, _ = _save(checked_length("sku", sku, Product.sku), body, create=False)
    return result


@bp.get("/<path:sku>")
@operation("One product", errors=(404,))
def get_product(sku: str, query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:
        product = queries.product(session, sku)
        if product is None:
            raise ApiError(f"unknown SKU {sku!r}", 404)
        return products.product_json(session, product)


@bp.get("")
@operation("Products", query=ProductsQuery, responses={200: ListBody})
def list_products(query: dict[str, Any]) -> ResponseReturnValue:
    with db().read() as session:

        def page(rows: list[Any]) -> list[dict[str, Any]]:
            parts = queries.components_of(session, [p.sku for p in rows])
            return [products.product_json(session, p, parts.get(p.sku, {})) for p in rows]

        stmt = products.products_query(query["sku"])
        return paginate(session, stmt, query, serialize_page=page)
