"""``docs/architecture.md``'s module table matches the tree it describes."""

from __future__ import annotations

import re
from pathlib import Path

import gradeflow

SRC = Path(gradeflow.__file__).parent
DOC = SRC.parents[1] / "docs" / "architecture.md"


def module_table() -> str:
    text = DOC.read_text()
    start = text.index("## Modules")
    return text[start : text.index("\n## ", start + 1)]


def test_every_top_level_module_and_package_has_a_row() -> None:
    table = module_table()
    names = [p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    names += [f"{p.name}/" for p in SRC.iterdir() if (p / "__init__.py").exists()]
    missing = [name for name in sorted(names) if f"`{name}`" not in table]
    assert missing == [], f"add rows for {missing} to {DOC}"


def test_every_file_the_table_names_exists() -> None:
    named = {n for n in re.findall(r"`([\w/]+\.py)`", module_table()) if not n.startswith("tests/")}
    present = {str(p.relative_to(SRC)) for p in SRC.rglob("*.py")} | {
        p.name for p in SRC.rglob("*.py")
    }
    assert sorted(named - present) == []
