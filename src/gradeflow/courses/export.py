"""Writing an assignment back as a directory: the inverse of ``format.load_assignment``.

What is written loads again into the same spec (the same revision), so an assignment
authored in the browser can be kept in version control and imported elsewhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gradeflow.courses.format import SOURCE_FILES, SUPPORT_DIR, AssignmentSpec
from gradeflow.errors import Conflict, Invalid

# TOML basic strings must escape these; everything else is written as it is.
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}
_TOML_ESCAPES["\r"] = "\\r"


def toml_string(text: str) -> str:
    escaped = "".join(
        _TOML_ESCAPES.get(c, f"\\u{ord(c):04x}" if ord(c) < 32 or ord(c) == 127 else c)
        for c in text
    )
    return f'"{escaped}"'


def settings_toml(spec: AssignmentSpec) -> str:
    """``assignment.toml`` for ``spec``: every setting, so defaults changing later change nothing."""
    lines = []
    for key, value in spec.settings().items():
        if value is None:
            continue
        written = toml_string(str(value)) if isinstance(value, str) else repr(value)
        lines.append(f"{key} = {written}")
    return "\n".join(lines) + "\n"


def write_assignment_directory(spec: AssignmentSpec, directory: Path, *, force: bool) -> None:
    """Write ``spec`` into ``directory``; a non-empty one only with ``force``.

    With ``force`` the format's own files are replaced (``support/`` as a whole, so no
    file of an earlier export stays behind); other files are left alone.
    """
    if directory.exists() and not directory.is_dir():
        raise Invalid(f"{directory} exists and is not a directory.")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise Conflict(f"{directory} is not empty; pass --force to overwrite its assignment files.")
    directory.mkdir(parents=True, exist_ok=True)
    support = directory / SUPPORT_DIR
    if support.is_symlink() or support.is_file():
        support.unlink()
    elif support.is_dir():
        shutil.rmtree(support)
    (directory / "assignment.toml").write_text(settings_toml(spec), encoding="utf-8")
    for name, filename in SOURCE_FILES.items():
        path = directory / filename
        text: str = getattr(spec, name)
        if path.is_symlink():
            path.unlink()
        if name == "starter" and not text:
            path.unlink(missing_ok=True)
            continue
        path.write_text(text, encoding="utf-8", newline="")
    for relative, data in spec.support_files.items():
        path = support / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
