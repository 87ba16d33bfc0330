"""docs/clients.md shows the example files verbatim (so the tutorial cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DOC = REPO / "docs" / "clients.md"
MARKED = re.compile(r"<!-- example: (\S+) -->\n```\w+\n(.*?)```\n", re.S)


def test_every_example_block_matches_its_file() -> None:
    blocks = MARKED.findall(DOC.read_text())
    assert blocks, "no example blocks found"
    for path, code in blocks:
        assert (REPO / path).read_text() == code, f"docs/clients.md is out of date for {path}"


def test_every_example_file_is_in_the_tutorial() -> None:
    shown = {path for path, _ in MARKED.findall(DOC.read_text())}
    files = {
        str(p.relative_to(REPO))
        for pattern in ("clients/python/examples/*.py", "clients/perl/examples/*.pl")
        for p in REPO.glob(pattern)
    }
    assert files == shown
