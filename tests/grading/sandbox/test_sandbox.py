"""Both sandboxes end to end: real judge and student processes running a tiny assignment.

Tests taking the ``sandbox`` fixture run against ``ProcessSandbox`` and
``ZygoteSandbox``; the others exercise what only ``ProcessSandbox`` does.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gradeflow.courses.discovery import discover_test_ids
from gradeflow.grading.sandbox import (
    ProcessSandbox,
    RunResult,
    RunSpec,
    Sandbox,
    TestResult,
)
from gradeflow.grading.sandbox.jailed.session import TEST_SHARE
from gradeflow.grading.sandbox.verdict import OUTPUT_CUT_NOTE
from tests.grading.sandbox.time_scale import scaled

TESTS = """
import unittest

from two_fer import two_fer


class TwoFerTest(unittest.TestCase):
    def test_no_name(self):
        self.assertEqual(two_fer(), "One for you, one for me.", "with no name, use 'you'")

    def test_a_name(self):
        self.assertEqual(two_fer("Alice"), "One for Alice, one for me.")

    def test_another_name(self):
        self.assertEqual(two_fer("Bob"), "One for Bob, one for me.")
"""
TEST_IDS = discover_test_ids(TESTS)

CORRECT = """
def two_fer(name="you"):
    return f"One for {name}, one for me."
"""
# Passes only test_no_name.
WRONG_FOR_NAMES = """
def two_fer(name="you"):
    return "One for you, one for me."
"""
WRONG = """
def two_fer(name="you"):
    return "One for me."
"""


def make_spec(code: str, **overrides: object) -> RunSpec:
    options: dict[str, object] = {"time_limit_s": 5.0, "memory_mb": 128}
    options.update(overrides)
    options["time_limit_s"] = scaled(float(options["time_limit_s"]))  # type: ignore[arg-type]
    return RunSpec(
        files={"tests.py": TESTS.encode(), "two_fer.py": code.encode()},
        module="two_fer",
        test_ids=TEST_IDS,
        **options,  # type: ignore[arg-type]
    )


async def run(code: str, sandbox: Sandbox | None = None, **overrides: object) -> RunResult:
    return await (sandbox or ProcessSandbox()).run(make_spec(code, **overrides))


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for init to reap it counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def lexists(path: Path) -> bool:
    """Whether anything, even a dangling link, is at ``path``."""
    return os.path.lexists(path)


def wait_gone(pid: int, timeout_s: float = scaled(2.0)) -> bool:
    deadline = time.monotonic() + timeout_s
    while not process_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_for_pid_file(path: Path) -> str:
    """Student code that blocks its import until a helper process wrote its pid."""
    return f"""
import time
while not __import__("os").path.exists({str(path)!r}):
    time.sleep(0.01)
"""


@pytest.mark.asyncio
async def test_correct_solution_passes(sandbox: Sandbox) -> None:
    result = await run(CORRECT, sandbox)

    assert result.outcome == "passed"
    assert [test.id for test in result.tests] == TEST_IDS
    assert all(test.outcome == "passed" and test.message == "" for test in result.tests)
    assert result.passed_count == 3
    assert result.message == "All 3 tests passed."


@pytest.mark.asyncio
async def test_wrong_solution_fails_with_the_assertion_message_of_each_test(
    sandbox: Sandbox,
) -> None:
    result = await run(WRONG, sandbox)

    assert result.outcome == "failed"
    assert result.message == "0 of 3 tests passed."
    assert [test.outcome for test in result.tests] == ["failed"] * 3
    no_name = result.tests[0]
    assert no_name.message.startswith("AssertionError: 'One for me.' != 'One for you, one for me.'")
    assert no_name.message.endswith(": with no name, use 'you'")


@pytest.mark.asyncio
async def test_a_failed_comparison_reports_expected_and_actual_values(sandbox: Sandbox) -> None:
    result = await run(WRONG, sandbox)

    no_name, a_name = result.tests[0], result.tests[1]
    assert (no_name.expected, no_name.actual) == ("'One for you, one for me.'", "'One for me.'")
    assert no_name.note == "with no name, use 'you'"
    assert (a_name.expected, a_name.actual, a_name.note) == (
        "'One for Alice, one for me.'",
        "'One for me.'",
        "",
    )
    assert no_name.to_dict()["expected"] == "'One for you, one for me.'"


COMPARING_TESTS = '''
import unittest

from two_fer import two_fer


class ComparingTest(unittest.TestCase):
    def test_a_list(self):
        """Returns the words in order.

        More words that are not shown.
        """
        self.assertListEqual(two_fer(), [1, "two", (3.0, None)])

    def test_an_object_of_the_students(self):
        self.assertEqual(two_fer(), 5)

    def test_a_passing_one(self):
        """Passes."""
        self.assertEqual(1, 1)


class HidingTest(unittest.TestCase):
    longMessage = False

    def test_a_hidden_value(self):
        self.assertEqual(two_fer.__name__, "secret", "not the name we wanted")
'''
# The first call returns a list, later ones an object of the student's own class.
COMPARED_CODE = """
class Thing:
    pass

calls = []

def two_fer():
    calls.append(1)
    return [1, "two", (3.0, None), 4] if len(calls) == 1 else Thing()
"""


@pytest.mark.asyncio
async def test_only_plain_values_are_shown_compared_and_docstrings_describe_tests(
    sandbox: Sandbox,
) -> None:
    spec = RunSpec(
        files={"tests.py": COMPARING_TESTS.encode(), "two_fer.py": COMPARED_CODE.encode()},
        module="two_fer",
        test_ids=discover_test_ids(COMPARING_TESTS),
        time_limit_s=5.0,
        memory_mb=128,
    )
    result = await sandbox.run(spec)

    tests = {test.id.rsplit(".", 1)[1]: test for test in result.tests}
    listed = tests["test_a_list"]
    assert listed.outcome == "failed"
    assert listed.description == "Returns the words in order."
    assert (listed.expected, listed.actual) == (
        "[1, 'two', (3.0, None)]",
        "[1, 'two', (3.0, None), 4]",
    )
    thing = tests["test_an_object_of_the_students"]
    assert thing.outcome == "failed"
    assert (thing.expected, thing.actual, thing.description) == (None, None, "")
    assert "expected" not in thing.to_dict()
    assert tests["test_a_passing_one"].description == "Passes."
    hidden = tests["test_a_hidden_value"]
    assert hidden.message == "AssertionError: not the name we wanted"
    assert (hidden.expected, hidden.actual, hidden.note) == (None, None, "")


@pytest.mark.asyncio
async def test_partly_correct_solution_counts_the_passed_tests(sandbox: Sandbox) -> None:
    result = await run(WRONG_FOR_NAMES, sandbox)

    assert result.outcome == "failed"
    assert result.passed_count == 1
    assert result.message == "1 of 3 tests passed."
    assert [test.outcome for test in result.tests] == ["passed", "failed", "failed"]


@pytest.mark.asyncio
async def test_error_in_student_code_names_its_line(sandbox: Sandbox) -> None:
    result = await run("def two_fer(name='you'):\n    return name + 1\n", sandbox)

    assert [test.outcome for test in result.tests] == ["error"] * 3
    assert result.tests[0].message.startswith("TypeError: can only concatenate str")
    assert result.tests[0].message.endswith("(line 2 of two_fer.py)")
    assert result.tests[0].line == 2
    assert (result.tests[0].expected, result.tests[0].actual) == (None, None)


@pytest.mark.asyncio
async def test_syntax_error_reports_its_line(sandbox: Sandbox) -> None:
    result = await run("def two_fer(name='you'):\n    return 'x'\n\nif True\n    pass\n", sandbox)

    assert result.outcome == "syntax_error"
    assert result.message == "SyntaxError on line 4: expected ':'"
    assert result.line == 4
    assert result.to_dict()["line"] == 4
    assert [test.outcome for test in result.tests] == ["not_run"] * 3


@pytest.mark.asyncio
async def test_exception_at_import_is_an_import_error_naming_the_line(sandbox: Sandbox) -> None:
    result = await run("import math\n\nanswer = 1 / 0\n", sandbox)

    assert result.outcome == "import_error"
    assert "ZeroDivisionError: division by zero" in result.message
    assert "line 3 of two_fer.py" in result.message
    assert result.line == 3


@pytest.mark.asyncio
async def test_missing_function_is_an_import_error(sandbox: Sandbox) -> None:
    result = await run("def twofer(name='you'):\n    return name\n", sandbox)

    assert result.outcome == "import_error"
    assert result.message == (
        "The tests could not load your code: "
        "ImportError: cannot import name 'two_fer' from 'two_fer' (two_fer.py)"
    )


def with_tests(tests: str, code: str = CORRECT) -> RunSpec:
    return RunSpec(
        files={"tests.py": tests.encode(), "two_fer.py": code.encode()},
        module="two_fer",
        test_ids=TEST_IDS,
        time_limit_s=scaled(5.0),
        memory_mb=128,
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("prelude", "error"),
    [
        ("import unittestt\n", "ModuleNotFoundError: No module named 'unittestt'"),
        ("import nonexistent_mod\n", "ModuleNotFoundError: No module named 'nonexistent_mod'"),
        ("x = 1 / 0\n", "ZeroDivisionError: division by zero"),
    ],
)
async def test_an_error_of_the_tests_themselves_is_the_assignments_not_the_students(
    sandbox: Sandbox, prelude: str, error: str
) -> None:
    result = await sandbox.run(with_tests("\n" + prelude + TESTS))

    # Not a verdict on the code: an error of the grader, recorded without a retry or a score.
    assert result.outcome == "internal_error"
    assert result.assignment_error
    assert result.message == (
        f"The assignment's tests could not be loaded: {error} (line 2 of tests.py). This is "
        "a problem of the assignment's tests, not of the submitted code; no test counts for "
        "this run."
    )
    assert {test.outcome for test in result.tests} == {"not_run"}


SUBTEST_TESTS = """
import unittest

from two_fer import two_fer


class TwoFerTest(unittest.TestCase):
    def test_no_name_given(self):
        for word in two_fer().split():
            with self.subTest(word=word):
                self.assertTrue(word.isascii())
"""


@pytest.mark.asyncio
async def test_a_subtest_naming_a_huge_value_of_student_code_is_reported_bounded(
    sandbox: Sandbox,
) -> None:
    # Its parameters were put before the bounded message: the test's line outgrew what
    # the host reads, and the test went missing ("did not report the expected tests").
    code = "def two_fer(name='you'):\n    return '\\U0001F600' * 20000\n"
    spec = replace(with_tests(SUBTEST_TESTS, code), test_ids=discover_test_ids(SUBTEST_TESTS))

    result = await sandbox.run(spec)

    assert result.outcome == "failed", result.message
    (test,) = result.tests
    assert test.outcome == "failed"
    assert test.message.startswith("(word='")
    assert len(test.message) <= 2000


@pytest.mark.asyncio
async def test_an_error_of_student_code_run_while_the_tests_load_is_the_students(
    sandbox: Sandbox,
) -> None:
    tests = TESTS.replace(
        "from two_fer import two_fer\n", "from two_fer import two_fer\n\nGREETING = two_fer()\n"
    )
    code = "def two_fer(name='you'):\n    raise ValueError('not yet')\n"

    result = await sandbox.run(with_tests(tests, code))

    assert result.outcome == "import_error"
    assert result.message == "The tests could not load your code: ValueError: not yet"


@pytest.mark.asyncio
async def test_infinite_loop_stops_each_test_and_ends_as_timeout(sandbox: Sandbox) -> None:
    loop = "def two_fer(name='you'):\n    while True:\n        pass\n"
    started = time.monotonic()

    result = await run(loop, sandbox, time_limit_s=2.0)

    assert result.outcome == "timeout"
    # Stopped by its limit, not left to run: a bound a loaded machine cannot reach.
    assert time.monotonic() - started < scaled(30.0)
    first, *others = result.tests
    assert first.outcome == "error"
    # How long it ran before it was stopped depends on the machine's load; on a machine so
    # busy that starting the run ate most of the time limit, the run's limit comes first.
    share, limit = f"{scaled(2.0) * TEST_SHARE:g}", f"{scaled(2.0):g}"
    assert re.match(
        rf"Stopped after \d+\.\d s: (one test may use at most {share} s|the run's {limit} s time limit)",
        first.message,
    )
    # The others ran out of what was left of the time limit (or, on a machine too
    # busy for the judge to report in time, were cut short with the whole run).
    assert {test.outcome for test in others} <= {"error", "not_run"}
    assert result.passed_count == 0


@pytest.mark.asyncio
async def test_a_test_that_never_returns_leaves_the_others_their_time(sandbox: Sandbox) -> None:
    code = CORRECT + "\n_real = two_fer\n\ndef two_fer(name='you'):\n"
    code += "    while name == 'Alice':\n        pass\n    return _real(name)\n"

    # 3 s for the stopped test and 3 s for the rest: room for a loaded machine.
    result = await run(code, sandbox, time_limit_s=6.0)

    assert result.outcome == "timeout"
    assert result.message.startswith(
        "The test “a name” was stopped: it ran longer than one test may."
    )
    assert result.message.endswith(" Look for a loop that never ends in `two_fer`.")
    # The last test has the time left (on a machine too busy for that, it is cut short).
    first, stopped, last = (test.outcome for test in result.tests)
    assert (first, stopped) == ("passed", "error")
    assert last in ("passed", "error", "not_run")
    # The judge, which made the call, names the function; the student process is not asked.
    assert result.function == "two_fer"
    assert result.to_dict()["function"] == "two_fer"
    assert "Look for a loop that never ends in `two_fer`" in result.tests[1].message


COUNTER_TESTS = """
import unittest

from two_fer import Counter


class CounterTest(unittest.TestCase):
    def test_starts_at_zero(self):
        self.assertEqual(Counter().total, 0)

    def test_adds(self):
        self.assertEqual(Counter().add(2), 2)
"""
COUNTER = """
class Counter:
    def __init__(self):
        self.total = 0

    def add(self, amount):
        while amount:
            self.total += 0
        return self.total
"""


@pytest.mark.asyncio
async def test_a_method_that_never_returns_is_named_with_its_class(sandbox: Sandbox) -> None:
    spec = RunSpec(
        files={"tests.py": COUNTER_TESTS.encode(), "two_fer.py": COUNTER.encode()},
        module="two_fer",
        test_ids=discover_test_ids(COUNTER_TESTS),
        time_limit_s=scaled(2.0),
        memory_mb=128,
    )

    result = await sandbox.run(spec)

    assert result.outcome == "timeout"
    assert result.function == "Counter.add"
    assert result.message.endswith("Look for a loop that never ends in `Counter.add`.")
    assert {test.id: test.outcome for test in result.tests} == {
        "CounterTest.test_adds": "error",
        "CounterTest.test_starts_at_zero": "passed",
    }


@pytest.mark.asyncio
async def test_memory_bomb_fails_each_test_as_memory_limit(sandbox: Sandbox) -> None:
    bomb = "def two_fer(name='you'):\n    hoard = []\n    while True:\n"
    bomb += "        hoard.append(bytearray(2**20))\n"

    result = await run(bomb, sandbox, memory_mb=96)

    assert result.outcome == "memory_limit"
    assert result.message == (
        "Your code used more than 96 MB of memory in the test “no name”. 0 of 3 tests passed."
    )
    assert result.tests[0].message.startswith("MemoryError")
    assert [test.outcome for test in result.tests] == ["error"] * 3


@pytest.mark.asyncio
async def test_exit_at_import_is_a_crash(sandbox: Sandbox) -> None:
    result = await run("import os\nos._exit(0)\n", sandbox)

    assert result.outcome == "crashed"
    assert result.message == (
        "Your program exited before the tests finished "
        "(before TwoFerTest.test_no_name ran; exit status 0)."
    )


@pytest.mark.asyncio
async def test_exit_inside_a_test_fails_that_test_and_the_others_still_run(
    sandbox: Sandbox,
) -> None:
    code = "import os\n\ndef two_fer(name='you'):\n    if name == 'Alice':\n        os._exit(3)\n"
    code += "    return f'One for {name}, one for me.'\n"

    result = await run(code, sandbox)

    assert result.outcome == "crashed"
    assert result.message == (
        "Your program exited while running TwoFerTest.test_a_name (exit status 3). "
        "2 of 3 tests passed."
    )
    assert [test.outcome for test in result.tests] == ["passed", "error", "passed"]


def forged_lines() -> str:
    lines = [{"event": "ready"}]
    lines += [{"event": "test", "test": test_id, "outcome": "passed"} for test_id in TEST_IDS]
    lines += [{"event": "done"}]
    return "".join(json.dumps({**line, "nonce": "guess"}) + "\n" for line in lines)


@pytest.mark.asyncio
async def test_printed_result_lines_do_not_make_a_failing_solution_pass(sandbox: Sandbox) -> None:
    code = WRONG + f"print({forged_lines()!r})\n"

    result = await run(code, sandbox)

    assert result.outcome == "failed"
    assert result.passed_count == 0
    assert '"event": "done"' in result.stdout  # printed, and ignored


@pytest.mark.asyncio
async def test_writing_result_lines_to_descriptors_does_not_make_a_failing_solution_pass(
    sandbox: Sandbox,
) -> None:
    forge = f"""
import os
FORGED = {forged_lines()!r}.encode()
for fd in set(range(3, 21)) | {{int(name) for name in os.listdir("/proc/self/fd")}}:
    try:
        os.write(fd, FORGED)
    except OSError:
        pass
"""
    result = await run(WRONG + forge, sandbox)

    # The student process may garble its own socket to the judge, and so crash itself.
    assert result.outcome in ("failed", "crashed")
    assert result.passed_count == 0


@pytest.mark.asyncio
async def test_rewriting_tests_on_disk_does_not_change_the_tests_run() -> None:
    code = WRONG + "\nopen('tests.py', 'w').write('import unittest\\n')\n"

    result = await run(code)

    assert result.outcome == "failed"
    assert result.message == "0 of 3 tests passed."


@pytest.mark.asyncio
async def test_huge_output_is_truncated_and_the_run_still_finishes(sandbox: Sandbox) -> None:
    code = CORRECT + "\nimport sys\nfor _ in range(20_000):\n    print('x' * 500)\n"
    code += "    sys.stderr.write('e' * 500)\n"

    result = await run(code, sandbox, output_limit_bytes=1000)

    assert result.outcome == "passed"
    assert result.stdout == ("x" * 500 + "\n") + ("x" * 499) + "\n[output truncated]"
    assert result.stderr == "e" * 1000 + "\n[output truncated]"


@pytest.mark.asyncio
async def test_output_that_is_not_text_is_made_printable(sandbox: Sandbox) -> None:
    code = CORRECT + "\nimport sys\nsys.stdout.buffer.write(b'a\\x00b\\xffc')\n"

    result = await run(code, sandbox)

    assert result.stdout == "a\ufffdb\ufffdc"


@pytest.mark.asyncio
async def test_double_forked_child_is_killed_after_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"""
import os, time
if os.fork() == 0:
    if os.fork() == 0:
        with open({str(pid_file)!r} + ".tmp", "w") as file:
            file.write(str(os.getpid()))
        os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
        time.sleep(60)
    os._exit(0)
"""
    code += wait_for_pid_file(pid_file) + CORRECT

    result = await run(code)

    assert result.outcome == "passed"
    assert wait_gone(int(pid_file.read_text()))


@pytest.mark.asyncio
async def test_child_that_left_the_process_group_is_killed_after_the_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open({str(pid_file)!r} + ".tmp", "w") as file:
            file.write(str(os.getpid()))
        os.rename({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
        time.sleep(60)
    os._exit(0)
"""
    code += wait_for_pid_file(pid_file) + CORRECT

    started = time.monotonic()
    result = await run(code)

    assert result.outcome == "passed"
    assert wait_gone(int(pid_file.read_text()))
    # The run did not wait for the orphan's 60 s sleep.
    assert time.monotonic() - started < scaled(30.0)


@pytest.mark.asyncio
async def test_cancelled_run_kills_the_student_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"""
import os
open({str(pid_file)!r}, "w").write(str(os.getpid()))
while True:
    pass
"""
    task = asyncio.create_task(run(code))
    deadline = time.monotonic() + 3.0
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert wait_gone(int(pid_file.read_text()))


@pytest.mark.asyncio
async def test_parent_environment_is_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADEFLOW_SECRET_CANARY", "canary-4f9a")
    code = CORRECT + "\nimport os\nprint(sorted(os.environ.items()))\n"

    result = await run(code)

    assert result.outcome == "passed"
    assert "canary-4f9a" not in result.stdout
    assert "GRADEFLOW_SECRET_CANARY" not in result.stdout
    assert "('PATH', '/usr/bin:/bin')" in result.stdout


@pytest.mark.asyncio
async def test_run_directory_is_removed_without_following_planted_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    plant = f"""
import os
print(os.getcwd())
os.symlink({str(outside)!r}, "link-to-outside")
os.makedirs("deep/er")
os.symlink({str(outside / "keep.txt")!r}, "deep/er/file-link")
"""
    result = await run(CORRECT + plant)

    workdir = Path(result.stdout.strip()).parent  # the student's directory is inside it
    assert workdir.name.startswith("gradeflow-run-")
    assert not lexists(workdir)
    assert (outside / "keep.txt").read_text() == "precious"


@pytest.mark.asyncio
async def test_support_files_are_placed_beside_the_tests(sandbox: Sandbox) -> None:
    tests = "import unittest\nfrom helper import EXPECTED\nfrom solution import answer\n\n"
    tests += "class AnswerTest(unittest.TestCase):\n"
    tests += "    def test_answer(self):\n        self.assertEqual(answer(), EXPECTED)\n"
    spec = RunSpec(
        files={
            "tests.py": tests.encode(),
            "solution.py": b"def answer():\n    return open('data/answer.txt').read()\n",
            "helper.py": b"EXPECTED = '42'\n",
            "data/answer.txt": b"42",
        },
        module="solution",
        test_ids=discover_test_ids(tests),
        time_limit_s=scaled(5),
        memory_mb=128,
    )

    result = await sandbox.run(spec)

    assert result.outcome == "passed"


def assignment(tests: str, code: str, *, time_limit_s: float = 5) -> RunSpec:
    return RunSpec(
        files={"tests.py": tests.encode(), "solution.py": code.encode()},
        module="solution",
        test_ids=discover_test_ids(tests),
        time_limit_s=scaled(time_limit_s),
        memory_mb=128,
    )


@pytest.mark.asyncio
async def test_thousands_of_tests_are_all_reported(sandbox: Sandbox) -> None:
    methods = "".join(
        f"    def test_number_{n:05}_is_doubled_correctly(self):\n"
        f"        self.assertEqual(double({n}), {2 * n})\n"
        for n in range(3000)
    )
    tests = "import unittest\nfrom solution import double\n\n"
    tests += "class DoubleTest(unittest.TestCase):\n" + methods

    # Time enough for a loaded machine: what is checked is that all are reported (the
    # bookkeeping per test is O(1); bench/sandbox.py shows the speed).
    result = await sandbox.run(
        assignment(tests, "def double(n):\n    return n * 2\n", time_limit_s=120)
    )

    assert result.outcome == "passed", result.message
    assert result.passed_count == 3000


@pytest.mark.asyncio
async def test_failing_subtest_and_class_fixture_are_reported(sandbox: Sandbox) -> None:
    tests = """
import unittest
from solution import square, setup

class SquareTest(unittest.TestCase):
    def test_squares(self):
        for n in range(4):
            with self.subTest(n=n):
                self.assertEqual(square(n), n * n)

class FixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        setup()

    def test_never_runs(self):
        pass
"""
    code = "def square(n):\n    return n * n if n != 2 else 5\n\n"
    code += "def setup():\n    raise RuntimeError('no')\n"

    result = await sandbox.run(assignment(tests, code))

    assert result.outcome == "failed"
    squares, fixture = result.tests
    assert squares.outcome == "failed"
    assert squares.message == "(n=2) AssertionError: 5 != 4"
    assert fixture.outcome == "error"
    assert fixture.message.startswith("setUpClass (tests.FixtureTest): RuntimeError: no")
    assert fixture.message.endswith("(line 5 of solution.py)")


@pytest.mark.asyncio
async def test_unusable_interpreter_is_an_internal_error() -> None:
    result = await ProcessSandbox(python="/nonexistent/python3").run(make_spec(CORRECT))

    assert result.outcome == "internal_error"
    assert [test.outcome for test in result.tests] == ["not_run"] * 3


@pytest.mark.asyncio
async def test_harness_that_never_gets_ready_is_an_internal_error() -> None:
    result = await ProcessSandbox(python="/bin/false").run(make_spec(CORRECT))

    assert result.outcome == "internal_error"
    assert "before running your code" in result.message


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.py", "support/../../x", "a\0b", ""])
def test_spec_rejects_paths_outside_the_run_directory(path: str) -> None:
    files = {"tests.py": TESTS.encode(), "two_fer.py": CORRECT.encode(), path: b""}

    with pytest.raises(ValueError, match="path"):
        RunSpec(files=files, module="two_fer", test_ids=TEST_IDS, time_limit_s=1, memory_mb=64)


def test_spec_requires_the_tests_and_the_student_module() -> None:
    files = {"tests.py": TESTS.encode()}

    with pytest.raises(ValueError, match=r"two_fer\.py"):
        RunSpec(files=files, module="two_fer", test_ids=TEST_IDS, time_limit_s=1, memory_mb=64)


def test_result_survives_a_round_trip_through_json() -> None:
    result = RunResult(
        outcome="failed",
        tests=(TestResult("T.test_a", "passed", ""), TestResult("T.test_b", "failed", "nope")),
        message="1 of 2 tests passed.",
        stdout="out",
        stderr="",
        duration_ms=12,
    )

    restored = RunResult.from_dict(json.loads(json.dumps(result.to_dict())))

    assert restored == result
    assert restored.passed_count == 1


def test_a_result_stored_before_the_assignment_error_was_named_so_reads_as_one() -> None:
    stored = {"outcome": "internal_error", "tests": [], "duration_ms": 1, "grader_limit": True}
    assert RunResult.from_dict(stored).assignment_error
    assert RunResult.from_dict(stored | {"grader_limit": False}).assignment_error is False


def test_malformed_stored_result_is_rejected() -> None:
    with pytest.raises(ValueError, match="outcome"):
        RunResult.from_dict({"outcome": "great", "tests": [], "duration_ms": 1})


@pytest.mark.asyncio
async def test_skipped_and_expected_failures_keep_their_unittest_meaning(sandbox: Sandbox) -> None:
    tests = """
import unittest
from solution import answer

class AnswerTest(unittest.TestCase):
    def test_answer(self):
        self.assertEqual(answer(), 42)

    @unittest.skip("not graded yet")
    def test_later(self):
        self.fail("never runs")

    @unittest.expectedFailure
    def test_known_bug(self):
        self.assertEqual(answer(), 41)
"""
    result = await sandbox.run(assignment(tests, "def answer():\n    return 42\n"))

    assert result.outcome == "passed"
    assert result.message == "All 2 tests passed (1 skipped)."
    assert [test.outcome for test in result.tests] == ["passed", "skipped", "passed"]
    assert result.tests[1].message == "Skipped: not graded yet"


@pytest.mark.asyncio
async def test_tests_may_set_class_attributes_and_max_diff(sandbox: Sandbox) -> None:
    tests = """
import unittest
from solution import answer

unittest.TestCase.maxDiff = None

class AnswerTest(unittest.TestCase):
    expected = None

    @classmethod
    def setUpClass(cls):
        cls.expected = 42

    def test_answer(self):
        self.assertEqual(answer(), self.expected)
"""
    result = await sandbox.run(assignment(tests, "def answer():\n    return 42\n"))

    assert result.outcome == "passed", result.message


@pytest.mark.asyncio
async def test_values_too_large_or_too_deep_to_send_fail_only_their_test(
    sandbox: Sandbox,
) -> None:
    tests = """
import unittest
from solution import huge, deep, answer

class ValuesTest(unittest.TestCase):
    def test_huge(self):
        self.assertEqual(len(huge()), 10)

    def test_deep(self):
        self.assertIsNotNone(deep())

    def test_answer(self):
        self.assertEqual(answer(), 42)
"""
    code = "def huge():\n    return 'x' * (8 * 1024 * 1024)\n\n"
    code += "def deep():\n    value = []\n    for _ in range(1000):\n        value = [value]\n"
    code += "    return value\n\ndef answer():\n    return 42\n"

    result = await sandbox.run(assignment(tests, code))

    huge, deep, answer = result.tests
    assert (huge.outcome, deep.outcome, answer.outcome) == ("error", "error", "passed")
    assert "too large for the tests" in huge.message
    assert "nested more than 100 levels deep" in deep.message


@pytest.mark.asyncio
async def test_methods_of_student_objects_can_be_called_kept_and_given_back(
    sandbox: Sandbox,
) -> None:
    tests = """
import unittest
from solution import Counter, apply

class MethodTest(unittest.TestCase):
    def test_methods(self):
        counter = Counter()
        add = counter.add
        for _ in range(3):
            counter.add(2)
        self.assertEqual(add(1), 7)
        self.assertEqual(apply(counter.add, 3), 10)
        self.assertEqual(counter.add, counter.add)
        counter.add = lambda n: -1  # an instance attribute now hides the method
        self.assertEqual(counter.total, 10)
"""
    code = """
class Counter:
    def __init__(self):
        self.total = 0

    def add(self, n):
        self.total += n
        return self.total

def apply(function, value):
    return function(value)
"""
    result = await sandbox.run(assignment(tests, code))

    assert result.outcome == "passed", [test.message for test in result.tests]


@pytest.mark.asyncio
async def test_sys_exit_in_a_class_fixture_fails_the_tests_it_stopped(sandbox: Sandbox) -> None:
    tests = """
import unittest
from solution import setup, answer

class FixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        setup()

    def test_answer(self):
        self.assertEqual(answer(), 42)
"""
    code = "import sys\n\ndef setup():\n    sys.exit(0)\n\ndef answer():\n    return 42\n"

    result = await sandbox.run(assignment(tests, code))

    assert result.outcome == "failed"
    assert result.passed_count == 0


@pytest.mark.asyncio
async def test_each_test_keeps_what_the_code_printed_during_it(sandbox: Sandbox) -> None:
    code = (
        "import sys\n"
        "print('loading')\n"
        "def two_fer(name='you'):\n"
        "    print('called with', name, sep=': ')\n"
        "    sys.stdout.write('x' * (5000 if name == 'Bob' else 0))\n"
        "    return f'One for {name}, one for me.'\n"
    )
    result = await run(code, sandbox)

    assert result.outcome == "passed"
    outputs = {test.id.rsplit(".", 1)[1]: test.output for test in result.tests}
    assert outputs["test_no_name"] == "called with: you\n"
    assert outputs["test_a_name"] == "called with: Alice\n"
    assert outputs["test_another_name"].startswith("called with: Bob\nxxx")
    # Cut at the limit, and the cut explained.
    kept, note = outputs["test_another_name"].split("\n[", 1)
    assert len(kept.rstrip("…")) >= 1990
    assert "[" + note == OUTPUT_CUT_NOTE
    assert "printed more than 2,000 characters" in note
    assert result.stdout.startswith("loading\n")
    assert result.tests[0].to_dict()["output"] == "called with: you\n"


@pytest.mark.asyncio
async def test_output_printed_before_a_test_times_out_is_kept_as_its_output(
    sandbox: Sandbox,
) -> None:
    code = "def two_fer(name='you'):\n    print('debug', name)\n    while True:\n        pass\n"

    result = await run(code, sandbox, time_limit_s=2.0)

    assert result.outcome == "timeout"
    first = result.tests[0]
    assert first.outcome == "error"
    assert first.message.startswith("Stopped after")
    assert first.output == "debug you\n"
    assert "debug you\n" in result.stdout


@pytest.mark.asyncio
async def test_output_printed_at_import_before_a_loop_that_never_ends_is_in_the_runs_stdout(
    sandbox: Sandbox,
) -> None:
    code = "print('loading')\nwhile True:\n    pass\n"

    result = await run(code, sandbox, time_limit_s=2.0)

    assert result.outcome == "timeout"
    assert result.stdout.startswith("loading\n")


@pytest.mark.asyncio
async def test_output_printed_before_an_exit_is_kept_as_the_tests_output(sandbox: Sandbox) -> None:
    code = (
        "import os\n"
        "def two_fer(name='you'):\n"
        "    print('about to leave', name)\n"
        "    if name == 'Alice':\n"
        "        os._exit(3)\n"
        "    return f'One for {name}, one for me.'\n"
    )

    result = await run(code, sandbox)

    assert result.outcome == "crashed"
    outputs = {test.id.rsplit(".", 1)[1]: test.output for test in result.tests}
    assert outputs == {
        "test_no_name": "about to leave you\n",
        "test_a_name": "about to leave Alice\n",
        "test_another_name": "about to leave Bob\n",
    }
    assert "about to leave Alice\n" in result.stdout


@pytest.mark.asyncio
async def test_progress_is_heard_at_the_start_and_as_each_test_finishes(sandbox: Sandbox) -> None:
    heard: list[tuple[int, tuple[str, ...], str | None]] = []
    # Student code printing a judge-like line is output, not progress.
    forged = json.dumps({"event": "test", "test": TEST_IDS[0], "outcome": "passed"})
    code = f"print({forged!r})\n" + WRONG

    result = await sandbox.run(
        make_spec(code),
        on_progress=lambda p: heard.append(
            (p.total, tuple(t.outcome for t in p.finished), p.running)
        ),
    )

    assert heard[0] == (3, (), None)  # the run started
    finished = [outcomes for _, outcomes, running in heard if running is None][1:]
    # Each test once, in order, with the outcome the verdict has.
    assert finished == [tuple(t.outcome for t in result.tests[:n]) for n in (1, 2, 3)]
    assert {running for *_, running in heard} - {None} == set(TEST_IDS)
