"""The request edge stays thin: routes call a service or a named read-model query, never a
repository, and every /api operation declares (and so validates) its query and body."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
ROUTE_MODULES = [
    *sorted((APP / "api").glob("*.py")),
    APP / "webhooks" / "routes.py",
    APP / "reconcile" / "webhook.py",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_route_module_imports_a_repository_or_the_inbox():
    offenders = {
        str(path.relative_to(APP)): sorted(
            m for m in imported_modules(path) if m.endswith(".repository") or m.endswith(".inbox")
        )
        for path in ROUTE_MODULES
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_api_view_is_declared_with_its_request_schemas(app):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        and not hasattr(app.view_functions[rule.endpoint], "_openapi")
    ]
    assert undeclared == []
