"""Domain modules stay plain Python (cosmicpython's lesson)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PURE = sorted(
    p
    for p in APP.rglob("*.py")
    if p.name in ("domain.py", "strategies.py", "decisions.py", "returns_domain.py")
    or p.parent.name == "domain"
)
FORBIDDEN = ("flask", "sqlalchemy", "marshmallow", "werkzeug", "requests", "alembic")


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(APP)))
def test_domain_module_imports_no_framework(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & set(FORBIDDEN), f"{path.name} imports {imported & set(FORBIDDEN)}"


def test_there_are_domain_modules_to_check():
    assert len(PURE) >= 2
