"""Reading and validating assignments: directories (BRIEF section 4) and the API's fields.

One set of rules, ``check_assignment``, applies to an assignment however it arrives:
read from a directory by ``load_assignment`` or sent as JSON fields by a teacher.
Nothing here touches the database or runs submitted code; problems are collected and
reported together, each naming the file (or the field), the line when known, and the fix.
"""

from __future__ import annotations

import enum
import hashlib
import json
import keyword
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradeflow.courses.discovery import TestDiscoveryError, discover_test_ids
from gradeflow.errors import Invalid

# The sandbox's own rules for the files it lays out and the ids it runs: an assignment
# that passed these checks can always be staged (``grading.sandbox.spec.RunSpec``).
from gradeflow.grading.sandbox.spec import TESTS_FILE, is_test_id, paths_under_files


class Scoring(enum.StrEnum):
    all_or_nothing = "all-or-nothing"
    proportional = "proportional"


REQUIRED_FILES = ("assignment.toml", "handout.md", "tests.py", "solution.py")
# Each text of an assignment: the field that holds it and its file in a directory.
SOURCE_FILES = {
    "handout_md": "handout.md",
    "tests": "tests.py",
    "solution": "solution.py",
    "starter": "starter.py",
}
SUPPORT_DIR = "support"
MAX_TEXT_FILE_BYTES = 1024 * 1024
MAX_SUPPORT_BYTES = 5 * 1024 * 1024
MAX_SUPPORT_FILES = 200
MAX_SUPPORT_PATH = 200
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
_TOML_LINE = re.compile(r"at line (\d+)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: in a file of a directory, or in a field of an API request."""

    file: Path | None
    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = str(self.file) if self.file is not None else (self.field or "assignment")
        if self.line:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"


class AssignmentFormatError(Invalid):
    """The assignment is not valid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(str(p) for p in problems),
            details=[
                {
                    "file": str(p.file) if p.file is not None else None,
                    "field": p.field,
                    "line": p.line,
                    "message": p.message,
                }
                for p in problems
            ],
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


SETTING_KEYS = ("title", "order", "points", "scoring", "module", "time_limit_s", "memory_mb")
ALLOWED_KEYS = set(SETTING_KEYS)


@dataclass(frozen=True)
class AssignmentSpec(AssignmentSettings):
    slug: str
    handout_md: str
    starter: str
    tests: str
    solution: str
    support_files: dict[str, bytes]
    test_ids: list[str]
    # The directory it was read from; None when it came through the API.
    source: Path | None

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

    def settings(self) -> dict[str, Any]:
        """The values of ``assignment.toml``, as written back by an export."""
        return {key: getattr(self, key) for key in SETTING_KEYS}


@dataclass(frozen=True)
class AssignmentSource:
    """An assignment as written, before validation: read from a directory or sent as fields.

    ``settings`` holds the keys of ``assignment.toml`` (None when that file could not
    be read, a problem already reported); a text is None when its file could not be
    read, likewise.
    """

    settings: Mapping[str, Any] | None
    handout_md: str | None
    tests: str | None
    solution: str | None
    starter: str | None
    support_files: Mapping[str, bytes]


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


class _Where:
    """Names the place of a problem: a directory's file, or a request's field."""

    def __init__(
        self,
        problems: list[Problem],
        directory: Path | None,
        toml_text: str,
        settings_file: str = "assignment.toml",
    ) -> None:
        self.problems, self.directory, self.toml_text = problems, directory, toml_text
        self.settings_file = settings_file

    def setting(self, key: str, message: str, *, named: bool = True) -> None:
        """A problem with the setting ``key`` (the message names it unless ``named`` is False)."""
        if self.directory is None:
            self.problems.append(Problem(None, message, field=key))
            return
        line = _line_of_key(self.toml_text, key)
        path = self.directory / self.settings_file
        text = f"{key}: {message}" if named else message
        self.problems.append(Problem(path, text, line, field=key))

    def source(self, name: str, message: str, line: int | None = None) -> None:
        """``name`` is a key of ``SOURCE_FILES``, "slug", or "support/<path>"."""
        if self.directory is None:
            # The API's field for support/ is support_files.
            api_field = re.sub(rf"^{SUPPORT_DIR}(?=/|$)", "support_files", name)
            self.problems.append(Problem(None, message, line, field=api_field))
            return
        if name == "slug":
            self.problems.append(Problem(self.directory, message, field=name))
            return
        path = self.directory / SOURCE_FILES.get(name, name)
        self.problems.append(Problem(path, message, line, field=name))


def too_large_message(limit: int) -> str:
    return f"is larger than {limit // 1024} KiB"


def _read_text(path: Path, problems: list[Problem]) -> str | None:
    """A file's text; None (with a problem) when it is missing, a link, too large or not UTF-8."""
    if path.is_symlink():
        problems.append(Problem(path, "is a symbolic link; copy the file instead"))
        return None
    if not path.is_file():
        problems.append(Problem(path, "is missing"))
        return None
    if path.stat().st_size > MAX_TEXT_FILE_BYTES:
        problems.append(Problem(path, too_large_message(MAX_TEXT_FILE_BYTES)))
        return None
    data = path.read_bytes()
    try:
        # utf-8-sig: a byte order mark that some editors write is not part of the text
        # (Python reads a source file that starts with one just the same).
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(Problem(path, "is not valid UTF-8", line))
        return None


def _check_text(name: str, text: str, where: _Where) -> bool:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_FILE_BYTES:
        where.source(name, too_large_message(MAX_TEXT_FILE_BYTES))
        return False
    if "\0" in text:
        where.source(name, "contains a NUL byte", text.count("\n", 0, text.index("\0")) + 1)
        return False
    return True


def _check_python(name: str, source: str, where: _Where) -> bool:
    filename = SOURCE_FILES.get(name, name)
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where.source(name, f"SyntaxError: {exc.msg}", exc.lineno)
        return False
    return True


class _Fields:
    """Typed reads of the settings that record a problem instead of raising."""

    def __init__(self, data: Mapping[str, Any], where: _Where) -> None:
        self.data, self.where = data, where

    def bad(self, key: str, message: str) -> None:
        self.where.setting(key, message)

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
        # Compared as they are: float() of a huge TOML integer would overflow.
        if not is_number or not low <= value <= high:
            kind = "a whole number" if integer else "a number"
            self.bad(key, f"must be {kind} from {_plain(low)} to {_plain(high)}")
            return default
        return float(value)


def _plain(number: float) -> str:
    """A limit as a teacher writes it: ``1,000,000`` and ``0.1``, never ``1e+06``."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:,}"


def _refuse_unknown_keys(data: Mapping[str, Any], allowed: set[str], where: _Where) -> None:
    for key in sorted(set(data) - allowed):
        names = ", ".join(sorted(allowed))
        where.setting(key, f"unknown key {key!r} (allowed: {names})", named=False)


def _check_settings(data: Mapping[str, Any] | None, where: _Where) -> AssignmentSettings:
    _refuse_unknown_keys(data or {}, ALLOWED_KEYS, where)
    fields = _Fields(data or {}, where)
    # Without readable settings, "title is required" would only repeat that problem.
    title = fields.string("title", None) if data is not None else ""
    order = (data or {}).get("order")
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
    elif module in sys.stdlib_module_names or module in {"tests", SUPPORT_DIR}:
        fields.bad("module", f"{module!r} would shadow a standard or reserved module; rename it")
    return AssignmentSettings(title, order, points, scoring, module, time_limit_s, memory_mb)


def support_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a support file (relative, inside ``support/``), or None."""
    if not 1 <= len(path) <= MAX_SUPPORT_PATH:
        return f"a path has 1 to {MAX_SUPPORT_PATH} characters"
    if "\\" in path or "\0" in path or any(ord(c) < 32 for c in path):
        return "a path uses '/' between its parts and no control characters"
    if path.startswith("/"):
        return "a path is relative to support/, not absolute"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a path may not contain '..', '.' or empty parts"
    if "__pycache__" in parts:
        return "__pycache__ is not a support file"
    return None


def _check_support(files: Mapping[str, bytes], module: str, where: _Where) -> dict[str, bytes]:
    checked: dict[str, bytes] = {}
    for path in sorted(files):
        name = f"{SUPPORT_DIR}/{path}"
        problem = support_path_problem(path)
        if problem is not None:
            where.source(name, problem)
        elif path == "tests.py":
            where.source(name, "would replace tests.py; rename it")
        elif path == f"{module}.py":
            where.source(name, "would replace the student's module")
        else:
            checked[path] = files[path]
    # Support files are laid out beside tests.py and the student's module.
    staged = [*checked, TESTS_FILE, f"{module}.py"]
    for path, file in sorted(paths_under_files(staged).items()):
        if path in checked:
            where.source(
                f"{SUPPORT_DIR}/{path}", f"'{file}' is a file, so it cannot be a directory"
            )
            del checked[path]
    if len(files) > MAX_SUPPORT_FILES:
        where.source(SUPPORT_DIR, f"holds more than {MAX_SUPPORT_FILES} files")
    if sum(len(data) for data in files.values()) > MAX_SUPPORT_BYTES:
        where.source(SUPPORT_DIR, f"is larger than {MAX_SUPPORT_BYTES // 1024 // 1024} MiB")
    return checked


def _check_test_ids(tests: str, test_ids: list[str], where: _Where) -> None:
    """Refuse test names the judge cannot run (Python allows non-ASCII ones; it does not)."""
    bad = [test_id for test_id in test_ids if not is_test_id(test_id)]
    if not bad:
        return
    # Discovery finds Python identifiers: only their non-ASCII letters break the rule.
    names = {name for test_id in bad for name in test_id.split(".") if not name.isascii()}
    match = re.search(
        rf"(?m)^\s*(?:class|(?:async\s+)?def)\s+({'|'.join(map(re.escape, names))})\b", tests
    )
    line = tests.count("\n", 0, match.start(1)) + 1 if match else None
    where.source(
        "tests",
        "test class and method names must be ASCII letters, digits and '_': " + ", ".join(bad),
        line,
    )


def check_assignment(
    source: AssignmentSource,
    *,
    slug: str,
    directory: Path | None = None,
    toml_text: str = "",
    problems: list[Problem] | None = None,
) -> AssignmentSpec:
    """The rules every assignment meets, from a directory or from the API; raise with all problems.

    ``directory`` (with its ``toml_text``, for line numbers) names problems by file;
    without it they name the API's fields. ``problems`` found while reading come first.
    """
    found: list[Problem] = list(problems or [])
    where = _Where(found, directory, toml_text)
    if not _SLUG.match(slug):
        where.source("slug", "a slug is 1 to 100 lowercase letters, digits and '-'")
    settings = _check_settings(source.settings, where)
    texts: dict[str, str | None] = {}
    for name in SOURCE_FILES:
        text = getattr(source, name)
        if text is None and directory is None and name != "starter":
            where.source(name, "is required")
        texts[name] = text if text is not None and _check_text(name, text, where) else None
    test_ids: list[str] = []
    tests = texts["tests"]
    if tests is not None and _check_python("tests", tests, where):
        try:
            test_ids = discover_test_ids(tests, SOURCE_FILES["tests"])
        except TestDiscoveryError as exc:
            where.source("tests", str(exc).removeprefix("tests.py: "))
        _check_test_ids(tests, test_ids, where)
    for name in ("solution", "starter"):
        text = texts[name]
        if text:
            _check_python(name, text, where)
    support_files = _check_support(source.support_files, settings.module, where)
    if found:
        raise AssignmentFormatError(found)
    handout, solution = texts["handout_md"], texts["solution"]
    assert handout is not None
    assert tests is not None
    assert solution is not None
    return AssignmentSpec(
        **vars(settings),
        slug=slug,
        handout_md=handout,
        starter=texts["starter"] or "",
        tests=tests,
        solution=solution,
        support_files=support_files,
        test_ids=test_ids,
        source=directory,
    )


def load_assignment(directory: Path) -> AssignmentSpec:
    """Read and validate one assignment directory; raise with every problem found."""
    directory = Path(directory)
    if not directory.exists():  # as ``load_path`` says it
        raise AssignmentFormatError([Problem(directory, "does not exist")])
    if not directory.is_dir():
        raise AssignmentFormatError([Problem(directory, "is not a directory")])
    problems: list[Problem] = []
    toml_path = directory / "assignment.toml"
    toml_text = _read_text(toml_path, problems)
    settings = _parse_toml(toml_path, toml_text, problems) if toml_text is not None else None
    texts = {
        name: _read_text(directory / filename, problems)
        for name, filename in SOURCE_FILES.items()
        if name != "starter"
    }
    starter_path = directory / SOURCE_FILES["starter"]
    starter = _read_text(starter_path, problems) if starter_path.exists() else ""
    source = AssignmentSource(
        settings=settings,
        handout_md=texts["handout_md"],
        tests=texts["tests"],
        solution=texts["solution"],
        starter=starter,
        support_files=_read_support(directory / SUPPORT_DIR, problems),
    )
    return check_assignment(
        source,
        slug=slugify(directory.resolve().name),
        directory=directory,
        toml_text=toml_text or "",
        problems=problems,
    )


def _parse_toml(path: Path, text: str, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        # Otherwise the parser stopped "at end of document": the last line.
        line = int(match[1]) if match else max(len(text.splitlines()), 1)
        problems.append(Problem(path, f"is not valid TOML: {exc}", line))
        return None


def _read_support(directory: Path, problems: list[Problem]) -> dict[str, bytes]:
    """Files under support/, keyed by their path relative to it (placed beside tests.py)."""
    if not directory.exists():
        return {}
    if directory.is_symlink() or not directory.is_dir():
        problems.append(Problem(directory, "must be a plain directory"))
        return {}
    files: dict[str, bytes] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            problems.append(Problem(path, "is a symbolic link; copy the file instead"))
            continue
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return files


def _is_assignment(directory: Path) -> bool:
    return (directory / "assignment.toml").is_file()


def load_course(directory: Path, *, slug: str | None = None) -> CourseSpec:
    """Read a course directory: optional course.toml plus assignment directories."""
    directory = Path(directory)
    problems: list[Problem] = []
    meta: dict[str, Any] = {}
    meta_path = directory / "course.toml"
    text = _read_text(meta_path, problems) if meta_path.exists() else None
    if text is not None:
        meta = _parse_toml(meta_path, text, problems) or {}
    where = _Where(problems, directory, text or "", settings_file="course.toml")
    _refuse_unknown_keys(meta, {"title", "description"}, where)
    fields = _Fields(meta, where)
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
