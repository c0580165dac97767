"""Reading and validating assignment and course directories (BRIEF section 4).

Nothing here touches the database or runs submitted code; problems are collected
and reported together, each naming the file, the line when known, and the fix.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradeflow.courses.discovery import TestDiscoveryError, discover_test_ids
from gradeflow.courses.models import Scoring
from gradeflow.errors import Invalid

REQUIRED_FILES = ("assignment.toml", "handout.md", "tests.py", "solution.py")
MAX_TEXT_FILE_BYTES = 1024 * 1024
MAX_SUPPORT_BYTES = 5 * 1024 * 1024
MAX_SUPPORT_FILES = 200
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class Problem:
    file: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.message}"


class AssignmentFormatError(Invalid):
    """The assignment directory is not valid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(str(p) for p in problems),
            details=[{"file": str(p.file), "line": p.line, "message": p.message} for p in problems],
        )


@dataclass(frozen=True)
class AssignmentSettings:
    """What ``assignment.toml`` holds."""

    title: str
    order: int | None
    points: int
    scoring: Scoring
    module: str
    time_limit_s: float
    memory_mb: int


@dataclass(frozen=True)
class AssignmentSpec(AssignmentSettings):
    slug: str
    handout_md: str
    starter: str
    tests: str
    solution: str
    support_files: dict[str, bytes]
    test_ids: list[str]
    source: Path

    @property
    def revision(self) -> str:
        """Hash of everything that decides a grade (not the handout or the title)."""
        digest = hashlib.sha256()
        header = [self.module, self.scoring.value, self.points, self.time_limit_s, self.memory_mb]
        digest.update(json.dumps(header).encode())
        digest.update(b"\0tests.py\0" + self.tests.encode())
        for path in sorted(self.support_files):
            digest.update(b"\0" + path.encode() + b"\0" + self.support_files[path])
        return digest.hexdigest()


@dataclass(frozen=True)
class CourseSpec:
    slug: str
    title: str
    description: str
    assignments: list[AssignmentSpec] = field(default_factory=list)
    # A single imported assignment: leave the course's title and other assignments alone.
    partial: bool = False


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:100]


def _line_of_key(text: str, key: str) -> int | None:
    match = re.search(rf"(?m)^\s*{re.escape(key)}\s*=", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    if path.is_symlink():
        problems.append(Problem(path, "is a symbolic link; copy the file instead"))
        return None
    if not path.is_file():
        problems.append(Problem(path, "is missing"))
        return None
    data = path.read_bytes()
    if len(data) > MAX_TEXT_FILE_BYTES:
        problems.append(Problem(path, f"is larger than {MAX_TEXT_FILE_BYTES // 1024} KiB"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(path, "is not valid UTF-8", line))
        return None
    if "\0" in text:
        problems.append(
            Problem(path, "contains a NUL byte", text.count("\n", 0, text.index("\0")) + 1)
        )
        return None
    return text


def _check_python(path: Path, source: str, problems: list[Problem]) -> bool:
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        problems.append(Problem(path, f"SyntaxError: {exc.msg}", exc.lineno))
        return False
    return True


class _Fields:
    """Typed reads of assignment.toml values that record a problem instead of raising."""

    def __init__(self, path: Path, text: str, data: dict[str, Any], problems: list[Problem]):
        self.path, self.text, self.data, self.problems = path, text, data, problems

    def bad(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.path, f"{key}: {message}", _line_of_key(self.text, key)))

    def string(self, key: str, default: str | None, *, max_length: int = 200) -> str:
        value = self.data.get(key, default)
        if value is None:
            self.bad(key, "is required")
            return ""
        if not isinstance(value, str) or not value.strip() or len(value) > max_length:
            self.bad(key, f"must be a non-empty string of at most {max_length} characters")
            return default or ""
        return value.strip()

    def number(self, key: str, default: float, low: float, high: float, *, integer: bool) -> float:
        value = self.data.get(key, default)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if integer and not isinstance(value, int):
            is_number = False
        if not is_number or not low <= float(value) <= high:
            kind = "a whole number" if integer else "a number"
            self.bad(key, f"must be {kind} from {low:g} to {high:g}")
            return default
        return float(value)


ALLOWED_KEYS = {"title", "order", "points", "scoring", "module", "time_limit_s", "memory_mb"}


@dataclass(frozen=True)
class _Sources:
    handout: str | None
    tests: str | None
    solution: str | None
    starter: str | None
    support_files: dict[str, bytes]
    test_ids: list[str]


def load_assignment(directory: Path) -> AssignmentSpec:
    """Read and validate one assignment directory; raise with every problem found."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AssignmentFormatError([Problem(directory, "is not a directory")])
    problems: list[Problem] = []
    settings = _read_settings(directory / "assignment.toml", problems)
    sources = _read_sources(directory, settings.module, problems)
    if problems:
        raise AssignmentFormatError(problems)
    assert sources.handout is not None
    assert sources.tests is not None
    assert sources.solution is not None
    assert sources.starter is not None
    return AssignmentSpec(
        **vars(settings),
        slug=slugify(directory.resolve().name),
        handout_md=sources.handout,
        starter=sources.starter,
        tests=sources.tests,
        solution=sources.solution,
        support_files=sources.support_files,
        test_ids=sources.test_ids,
        source=directory,
    )


def _read_settings(toml_path: Path, problems: list[Problem]) -> AssignmentSettings:
    toml_text = _read_text(toml_path, problems)
    data: dict[str, Any] = {}
    parsed = False
    if toml_text is not None:
        try:
            data = tomllib.loads(toml_text)
            parsed = True
        except tomllib.TOMLDecodeError as exc:
            match = _TOML_LINE.search(str(exc))
            problems.append(
                Problem(toml_path, f"is not valid TOML: {exc}", int(match[1]) if match else None)
            )
    for key in sorted(set(data) - ALLOWED_KEYS):
        line = _line_of_key(toml_text or "", key)
        allowed = ", ".join(sorted(ALLOWED_KEYS))
        problems.append(Problem(toml_path, f"unknown key {key!r} (allowed: {allowed})", line))

    fields = _Fields(toml_path, toml_text or "", data, problems)
    # Without a parsed file, "title is required" would only repeat the TOML problem.
    title = fields.string("title", None) if parsed else ""
    order = data.get("order")
    if order is not None:
        order = int(fields.number("order", 0, 0, 1_000_000, integer=True))
    points = int(fields.number("points", 100, 0, 10_000, integer=True))
    time_limit_s = float(fields.number("time_limit_s", 10, 0.1, 120, integer=False))
    memory_mb = int(fields.number("memory_mb", 256, 32, 8192, integer=True))
    scoring_value = fields.string("scoring", Scoring.all_or_nothing.value, max_length=30)
    try:
        scoring = Scoring(scoring_value)
    except ValueError:
        fields.bad("scoring", 'must be "all-or-nothing" or "proportional"')
        scoring = Scoring.all_or_nothing
    module = fields.string("module", "solution", max_length=100)
    if not module.isidentifier() or keyword.iskeyword(module):
        fields.bad("module", "must be a valid Python module name")
    elif module in sys.stdlib_module_names or module in {"tests", "support"}:
        fields.bad("module", f"{module!r} would shadow a standard or reserved module; rename it")
    return AssignmentSettings(title, order, points, scoring, module, time_limit_s, memory_mb)


def _read_sources(directory: Path, module: str, problems: list[Problem]) -> _Sources:
    handout = _read_text(directory / "handout.md", problems)
    tests_path = directory / "tests.py"
    tests = _read_text(tests_path, problems)
    solution = _read_text(directory / "solution.py", problems)
    starter_path = directory / "starter.py"
    starter = _read_text(starter_path, problems) if starter_path.exists() else ""
    test_ids: list[str] = []
    if tests is not None and _check_python(tests_path, tests, problems):
        try:
            test_ids = discover_test_ids(tests, str(tests_path))
        except TestDiscoveryError as exc:
            problems.append(Problem(tests_path, str(exc)))
    if solution is not None:
        _check_python(directory / "solution.py", solution, problems)
    if starter:
        _check_python(starter_path, starter, problems)
    support_files = _read_support(directory / "support", problems)
    if f"{module}.py" in support_files:
        problems.append(
            Problem(directory / "support" / f"{module}.py", "would replace the student's module")
        )
    return _Sources(handout, tests, solution, starter, support_files, test_ids)


def _read_support(directory: Path, problems: list[Problem]) -> dict[str, bytes]:
    """Files under support/, keyed by their path relative to it (placed beside tests.py)."""
    if not directory.exists():
        return {}
    if directory.is_symlink() or not directory.is_dir():
        problems.append(Problem(directory, "must be a plain directory"))
        return {}
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            problems.append(Problem(path, "is a symbolic link; copy the file instead"))
            continue
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(directory).as_posix()
        if relative == "tests.py":
            problems.append(Problem(path, "would replace tests.py; rename it"))
            continue
        data = path.read_bytes()
        total += len(data)
        files[relative] = data
    if len(files) > MAX_SUPPORT_FILES:
        problems.append(Problem(directory, f"holds more than {MAX_SUPPORT_FILES} files"))
    if total > MAX_SUPPORT_BYTES:
        problems.append(
            Problem(directory, f"is larger than {MAX_SUPPORT_BYTES // 1024 // 1024} MiB")
        )
    return files


def _is_assignment(directory: Path) -> bool:
    return (directory / "assignment.toml").is_file()


def load_course(directory: Path, *, slug: str | None = None) -> CourseSpec:
    """Read a course directory: optional course.toml plus assignment directories."""
    directory = Path(directory)
    problems: list[Problem] = []
    meta: dict[str, Any] = {}
    meta_path = directory / "course.toml"
    if meta_path.exists():
        text = _read_text(meta_path, problems)
        if text is not None:
            try:
                meta = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                match = _TOML_LINE.search(str(exc))
                problems.append(
                    Problem(
                        meta_path, f"is not valid TOML: {exc}", int(match[1]) if match else None
                    )
                )
    fields = _Fields(meta_path, "", meta, problems)
    for key in sorted(set(meta) - {"title", "description"}):
        problems.append(Problem(meta_path, f"unknown key {key!r} (allowed: description, title)"))
    course_slug = slug or slugify(directory.resolve().name)
    title = fields.string("title", course_slug.replace("-", " ").capitalize())
    description = fields.string("description", "", max_length=2000) if "description" in meta else ""

    assignments: list[AssignmentSpec] = []
    children = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    for child in children:
        if not _is_assignment(child):
            continue
        try:
            assignments.append(load_assignment(child))
        except AssignmentFormatError as exc:
            problems.extend(exc.problems)
    if not assignments and not problems:
        problems.append(
            Problem(directory, "holds no assignment directories (with assignment.toml)")
        )
    if problems:
        raise AssignmentFormatError(problems)
    return CourseSpec(course_slug, title, description, order_assignments(assignments))


def order_assignments(assignments: list[AssignmentSpec]) -> list[AssignmentSpec]:
    """Sort by ``order``; one without an order goes right after the one before it by name."""
    placed: list[tuple[int, str, AssignmentSpec]] = []
    previous = 0
    for spec in sorted(assignments, key=lambda a: a.slug):
        position = spec.order if spec.order is not None else previous + 1
        previous = position
        placed.append((position, spec.slug, spec))
    return [spec for _, _, spec in sorted(placed, key=lambda item: (item[0], item[1]))]


def load_path(path: Path, *, course_slug: str | None = None) -> CourseSpec:
    """A single assignment directory (needs ``course_slug``) or a whole course directory."""
    path = Path(path)
    if not path.exists():
        raise AssignmentFormatError([Problem(path, "does not exist")])
    if _is_assignment(path):
        if course_slug is None:
            raise AssignmentFormatError(
                [Problem(path, "is a single assignment; name its course with --course SLUG")]
            )
        title = course_slug.replace("-", " ").capitalize()
        return CourseSpec(course_slug, title, "", [load_assignment(path)], partial=True)
    if not path.is_dir():
        raise AssignmentFormatError(
            [Problem(path, "is neither an assignment nor a course directory")]
        )
    return load_course(path, slug=course_slug)


def validate_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        raise Invalid(f"{slug!r} is not a valid slug (lowercase letters, digits and dashes).")
    return slug
