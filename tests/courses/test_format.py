from __future__ import annotations

from pathlib import Path

import pytest

from gradeflow.courses.format import (
    AssignmentFormatError,
    Scoring,
    load_assignment,
    load_course,
    load_path,
)
from tests.factories import ADDER_TESTS, write_assignment, write_course


def problems_of(path: Path) -> list[str]:
    with pytest.raises(AssignmentFormatError) as info:
        load_path(path, course_slug="c")
    return [str(p) for p in info.value.problems]


def test_a_valid_course_loads_in_order_with_its_metadata(tmp_path: Path) -> None:
    course = load_course(write_course(tmp_path))
    assert (course.slug, course.title, course.description) == (
        "basics",
        "Basics",
        "Two small ones.",
    )
    assert [a.slug for a in course.assignments] == ["adder", "greeter"]
    adder = course.assignments[0]
    assert adder.scoring is Scoring.proportional
    assert adder.points == 10
    assert adder.test_ids == ["AddTest.test_adds_two_numbers", "AddTest.test_adds_negative_numbers"]


def test_defaults_follow_the_brief(tmp_path: Path) -> None:
    spec = load_assignment(write_assignment(tmp_path, toml_extra='module = "adder"\n'))
    assert (spec.points, spec.scoring, spec.time_limit_s, spec.memory_mb) == (
        100,
        Scoring.all_or_nothing,
        10.0,
        256,
    )


def test_assignments_without_order_follow_the_previous_one(tmp_path: Path) -> None:
    write_assignment(tmp_path, "a-first", order=5)
    write_assignment(tmp_path, "b-second", order=None)
    write_assignment(tmp_path, "c-third", order=2)
    course = load_course(tmp_path)
    assert [a.slug for a in course.assignments] == ["c-third", "a-first", "b-second"]


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    directory = write_assignment(tmp_path)
    (directory / "assignment.toml").write_text('title = "x"\npoints = = 3\n')
    [problem] = problems_of(directory)
    assert problem.startswith(f"{directory / 'assignment.toml'}:2: is not valid TOML")


def test_bad_values_and_unknown_keys_are_all_reported_with_lines(tmp_path: Path) -> None:
    directory = write_assignment(
        tmp_path, toml_extra='module = "os"\npoints = -1\nscoring = "curve"\ncolour = "red"\n'
    )
    problems = problems_of(directory)
    toml = directory / "assignment.toml"
    assert any(p.startswith(f"{toml}:6: unknown key 'colour'") for p in problems)
    assert any(p.startswith(f"{toml}:4: points: must be a whole number") for p in problems)
    assert any(p.startswith(f"{toml}:5: scoring:") for p in problems)
    assert any(p.startswith(f"{toml}:3: module: 'os' would shadow") for p in problems)


def test_tests_with_a_syntax_error_name_the_line(tmp_path: Path) -> None:
    directory = write_assignment(
        tmp_path, tests="import unittest\n\nclass T(unittest.TestCase)\n    pass\n"
    )
    [problem] = problems_of(directory)
    assert problem.startswith(f"{directory / 'tests.py'}:3: SyntaxError")


def test_tests_without_any_test_are_refused(tmp_path: Path) -> None:
    directory = write_assignment(
        tmp_path, tests="import unittest\n\nclass T(unittest.TestCase):\n    pass\n"
    )
    [problem] = problems_of(directory)
    assert "tests.py" in problem
    assert "no tests" in problem.lower()


def test_missing_required_files_are_named(tmp_path: Path) -> None:
    directory = write_assignment(tmp_path)
    (directory / "handout.md").unlink()
    (directory / "solution.py").unlink()
    problems = problems_of(directory)
    assert f"{directory / 'handout.md'}: is missing" in problems
    assert f"{directory / 'solution.py'}: is missing" in problems


def test_non_utf8_files_are_refused_with_the_line(tmp_path: Path) -> None:
    directory = write_assignment(tmp_path)
    (directory / "handout.md").write_bytes(b"# Title\n\nbad \xff byte\n")
    [problem] = problems_of(directory)
    assert problem == f"{directory / 'handout.md'}:3: is not valid UTF-8"


def test_a_byte_order_mark_some_editors_write_is_not_part_of_the_text(tmp_path: Path) -> None:
    directory = write_assignment(tmp_path)
    for name in ("assignment.toml", "tests.py", "solution.py"):
        path = directory / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    spec = load_assignment(directory)
    assert not spec.tests.startswith("\ufeff")
    assert not spec.solution.startswith("\ufeff")


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    directory = write_assignment(tmp_path / "course", support={"data.txt": "ok"})
    (directory / "support" / "leak.txt").symlink_to(secret)
    [problem] = problems_of(directory)
    assert "leak.txt: is a symbolic link" in problem


def test_support_files_are_placed_beside_the_tests(tmp_path: Path) -> None:
    directory = write_assignment(
        tmp_path, support={"helpers.py": "X = 1\n", "data/words.txt": "a b"}
    )
    spec = load_assignment(directory)
    assert spec.support_files == {"data/words.txt": b"a b", "helpers.py": b"X = 1\n"}


def test_the_revision_changes_with_the_tests_but_not_the_handout(tmp_path: Path) -> None:
    directory = write_assignment(tmp_path)
    before = load_assignment(directory).revision
    (directory / "handout.md").write_text("# New words\n")
    assert load_assignment(directory).revision == before
    (directory / "tests.py").write_text((directory / "tests.py").read_text() + "\n# changed\n")
    assert load_assignment(directory).revision != before


def test_a_single_assignment_needs_a_course_slug(tmp_path: Path) -> None:
    directory = write_assignment(tmp_path)
    with pytest.raises(AssignmentFormatError, match="--course"):
        load_path(directory)
    assert load_path(directory, course_slug="intro").partial


def test_the_demo_course_is_valid() -> None:
    course = load_course(Path(__file__).parents[2] / "demo" / "python-basics")
    assert len(course.assignments) >= 12
    assert [a.order for a in course.assignments] == sorted(a.order or 0 for a in course.assignments)


def test_a_support_directory_named_like_tests_py_is_refused(tmp_path: Path) -> None:
    # support/tests.py/x would be staged under tests.py, which is a file.
    directory = write_assignment(tmp_path, support={"tests.py/x": "a", "adder.py/y": "b"})
    problems = problems_of(directory)
    assert len(problems) == 2, problems
    assert str(directory / "support/tests.py/x") in problems[1]
    assert "'tests.py' is a file" in problems[1]
    assert str(directory / "support/adder.py/y") in problems[0]


def test_test_classes_and_methods_with_non_ascii_names_are_refused_with_the_line(
    tmp_path: Path,
) -> None:
    tests = ADDER_TESTS.replace("class AddTest", "class AddTést").replace(
        "def test_adds_negative_numbers", "def test_adds_négative_numbers"
    )
    directory = write_assignment(tmp_path, tests=tests)
    problems = problems_of(directory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{directory / 'tests.py'}:")
    assert "AddTést.test_adds_two_numbers" in problems[0]
    assert "ASCII" in problems[0]
