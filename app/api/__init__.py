from flask import Flask


def register(app: Flask) -> None:
    from app.api import events, health, orders, stock

    for module in (health, orders, stock, events):
        app.register_blueprint(module.bp)
