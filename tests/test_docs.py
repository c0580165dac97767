"""The docs match the code: the architecture module table, the README's settings."""

from __future__ import annotations

import re
from pathlib import Path

import gradeflow
from gradeflow.settings import Settings

SRC = Path(gradeflow.__file__).parent
ROOT = SRC.parents[1]
DOC = ROOT / "docs" / "architecture.md"


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


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        for env in re.findall(
            r"`(GRADEFLOW_[A-Z_0-9]+)`", line.split("|")[1] if "|" in line else ""
        ):
            rows[env] = line
    missing = [
        f"GRADEFLOW_{name.upper()}"
        for name in Settings.model_fields
        if f"GRADEFLOW_{name.upper()}" not in rows
    ]
    assert missing == []
    for name, field in Settings.model_fields.items():
        if isinstance(field.default, int | float) and not isinstance(field.default, bool):
            # An int exactly (1048576, not 1.04858e+06), a float as the README writes it.
            default = str(field.default) if isinstance(field.default, int) else f"{field.default:g}"
            if default != "0":
                assert f"`{default}`" in rows[f"GRADEFLOW_{name.upper()}"], name
