"""The command lists people read (README, docs/operations.md) name every CLI command and
every option a command cannot run without."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _leaves(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += _leaves(command, path + " ")
        else:
            found.append((path, command))
    return found


def _command_block(doc: str) -> str:
    text = (ROOT / doc).read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block, f"{doc}: no command block under 'Command line'"
    return block.group(1)


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_the_documented_command_list_names_every_command_and_its_required_options(doc):
    block = _command_block(doc)
    missing = []
    for path, command in _leaves(main):
        group, _, leaf = path.rpartition(" ")
        written = re.search(rf"\b{re.escape(path)}\b", block) or (
            group and re.search(rf"\b{re.escape(group)}\b[^\n]*\|\s*{re.escape(leaf)}\b", block)
        )
        if not written:
            missing.append(path)
            continue
        start = block.rfind("\n", 0, written.end()) + 1
        line = block[start : block.find("\n", written.end())]
        for param in command.params:
            required = isinstance(param, click.Option) and param.required
            if required and not any(opt in line for opt in param.opts):
                missing.append(f"{path} {param.opts[-1]}")

    assert missing == []


def test_user_docs_carry_no_developer_references():
    # docs/architecture.md is the developers' map of the code; every other page is for users.
    docs = [
        ROOT / "README.md",
        *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "architecture.md"),
    ]
    found = [
        (doc.name, hit.group(0))
        for doc in docs
        for hit in re.finditer(
            r"CONTRACT|\bissue\s*#?\d*\b|\.\./shared|\bTODO\b|\bFIXME\b",
            doc.read_text(encoding="utf-8"),
            re.I,
        )
    ]

    assert found == []
