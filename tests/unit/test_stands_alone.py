"""The repository stands alone: nothing it tracks reaches for a sibling `shared` folder."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(ROOT).as_posix()
SIBLING = re.compile(
    r"\.\./shared|shared/spec|shared/bench"
    r"""|["']shared["']\s*/\s*["'](?:spec|bench)["']"""  # pathlib: ... / "shared" / "spec"
)


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name]


def test_no_tracked_file_reads_or_names_a_sibling_shared_folder():
    files = tracked_files()
    assert "tests/helpers.py" in files  # the listing really is this checkout
    found = []
    for name in files:
        if name == THIS:
            continue
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet committed
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [
            f"{name}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if SIBLING.search(line)
        ]
    assert found == [], "\n".join(found)


def test_the_pattern_catches_each_way_of_naming_the_sibling():
    for line in (
        "see ../shared/bench/raw_reference",
        'EXAMPLES = ROOT.parent / "shared" / "spec" / "examples"',
        "REFERENCE = ROOT.parent / 'shared' / 'bench'",
        "/work/shared/spec/CONTRACT.md",
    ):
        assert SIBLING.search(line), line
    assert not SIBLING.search("a machine shared with other test runs")
