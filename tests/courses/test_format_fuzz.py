"""Hypothesis against the assignment directory format: whatever the files hold, loading
either succeeds or raises ``AssignmentFormatError`` whose every problem names a file of
the directory (and a line that exists in it), and the directory is left as it was."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradeflow.courses.format import (
    AssignmentFormatError,
    AssignmentSource,
    Problem,
    check_assignment,
    load_assignment,
)
from tests.factories import ADDER_TESTS, write_assignment

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FILES = ("assignment.toml", "handout.md", "tests.py", "solution.py", "starter.py")
# Problems about what a file holds, which can only be told from a place in it.
LOCATED = ("is not valid TOML", "SyntaxError", "is not valid UTF-8", "contains a NUL byte")


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def check_problem(directory: Path, problem: Problem) -> None:
    assert problem.file is not None, problem
    assert problem.file == directory or directory in problem.file.parents, problem
    if any(problem.message.startswith(prefix) for prefix in LOCATED):
        assert problem.line is not None, problem
    if problem.line is not None and problem.file.is_file():
        # Python starts a line after "\r" too, as old Mac editors wrote.
        data = problem.file.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        assert 1 <= problem.line <= data.count(b"\n") + 1, problem


def load_written(write: Callable[[Path], None]) -> None:
    with tempfile.TemporaryDirectory() as root:
        directory = write_assignment(Path(root))
        write(directory)
        before = snapshot(directory)
        refused: AssignmentFormatError | None = None
        try:
            load_assignment(directory)
        except AssignmentFormatError as exc:
            refused = exc
        if refused is not None:
            assert refused.problems
            for problem in refused.problems:
                check_problem(directory, problem)
        assert snapshot(directory) == before


@FUZZ
@given(name=st.sampled_from(FILES), content=st.binary(max_size=2000))
def test_arbitrary_bytes_in_any_file_are_loaded_or_located(name: str, content: bytes) -> None:
    load_written(lambda directory: (directory / name).write_bytes(content))


def toml_value() -> st.SearchStrategy[str]:
    scalars = st.one_of(
        st.text(max_size=60).map(json.dumps),
        st.integers().map(str),
        # repr writes inf, -inf and nan as TOML does.
        st.floats().map(lambda x: "nan" if math.isnan(x) else repr(x)),
        st.booleans().map(lambda b: str(b).lower()),
        st.sampled_from(
            ['"all-or-nothing"', '"proportional"', '"solution"', '"adder"', "1979-05-27"]
        ),
    )
    return st.one_of(scalars, st.lists(scalars, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"))


KEYS = st.sampled_from(
    ["title", "order", "points", "scoring", "module", "time_limit_s", "memory_mb", "extra", "Title"]
)


@FUZZ
@given(
    entries=st.lists(st.tuples(KEYS, toml_value()), max_size=8, unique_by=lambda kv: kv[0]),
    blank_lines=st.integers(0, 3),
)
def test_settings_of_any_type_and_size_are_loaded_or_located(
    entries: list[tuple[str, str]], blank_lines: int
) -> None:
    text = "\n" * blank_lines + "".join(f"{key} = {value}\n" for key, value in entries)
    load_written(lambda directory: (directory / "assignment.toml").write_text(text))


PYTHONISH = st.lists(
    st.sampled_from(
        [
            "import unittest\n",
            "from unittest import TestCase as T\n",
            "class A(unittest.TestCase):\n",
            "class B(T, A):\n",
            "    def test_x(self):\n",
            "        pass\n",
            "    test_y = 1\n",
            "def add(a, b):\n",
            "    return a + b\n",
            "(" * 300 + ")" * 300 + "\n",
            "x = '\\N{nope}'\n",
            "\t  \n",
            "if True:\n",
            "\ufeff",
            "\r",
            "async def f():\n    await x\n",
            "lambda: (yield)\n",
        ]
    ),
    max_size=12,
).map("".join)


@FUZZ
@given(name=st.sampled_from(["tests.py", "solution.py", "starter.py"]), source=PYTHONISH)
def test_python_of_any_shape_is_loaded_or_located(name: str, source: str) -> None:
    load_written(lambda directory: (directory / name).write_text(source))


@pytest.mark.parametrize("value", ["1e400", str(10**400), "-" + str(10**400)])
@pytest.mark.parametrize("key", ["points", "order", "time_limit_s", "memory_mb"])
def test_a_number_too_large_for_a_float_is_a_located_problem(key: str, value: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        directory = write_assignment(Path(root), order=None, toml_extra=f"{key} = {value}\n")
        with pytest.raises(AssignmentFormatError) as info:
            load_assignment(directory)
    [problem] = info.value.problems
    assert (problem.field, problem.line) == (key, 2)


def test_a_number_too_large_for_a_float_sent_by_the_api_names_its_field() -> None:
    source = AssignmentSource(
        settings={"title": "T", "points": 10**400},
        handout_md="# T\n",
        tests=ADDER_TESTS,
        solution="x = 1\n",
        starter=None,
        support_files={},
    )
    with pytest.raises(AssignmentFormatError) as info:
        check_assignment(source, slug="t")
    assert [problem.field for problem in info.value.problems] == ["points"]
