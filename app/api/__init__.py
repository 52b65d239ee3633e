from flask import Flask


def register(app: Flask) -> None:
    from app.api import allocation, events, health, openapi, orders, reconciliations, stock
    from app.reconcile import webhook as tracking_webhook

    for module in (health, orders, stock, events, reconciliations, tracking_webhook):
        app.register_blueprint(module.bp)
    from app.api import inventory, products

    app.register_blueprint(inventory.bp)
    app.register_blueprint(products.bp)
    app.register_blueprint(allocation.bp)
    app.register_blueprint(openapi.bp)
