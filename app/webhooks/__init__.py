from flask import Flask


def register(app: Flask) -> None:
    from app.webhooks.routes import bp

    app.register_blueprint(bp)
