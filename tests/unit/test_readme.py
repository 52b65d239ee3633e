"""The README is the merchant's first page: it must name every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_documents_every_environment_variable_the_settings_read():
    source = (ROOT / "app" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"((?:STOCKMIRROR|STARSHIPIT)_[A-Z_]+|DATABASE_URL)"', source))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`((?:STOCKMIRROR|STARSHIPIT)_[A-Z_]+|DATABASE_URL)`", readme))
    assert names, "no settings found in app/config.py"
    assert sorted(names - documented) == []


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line]
    assert commands == ["make run", "make test"]
