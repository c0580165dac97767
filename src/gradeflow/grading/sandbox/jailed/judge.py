"""The judge process of a run: import ``tests.py``, run unittest, report the verdict.

The judge alone holds the result channel (JSON lines tagged with the run's nonce:
``ready``, ``syntax_error``, ``import_error``, ``tests_error``, ``memory_limit``, ``stopped``,
``start``/``test`` per test, ``fixture``, ``student_failure`` and ``done``; a test's
line may add ``description``, ``expected``/``actual``/``note`` and ``line``, and an
``output`` line before it says what the student's code printed during it). Student
code never runs here: ``import <module>`` in the tests resolves to a
``RemoteModule`` whose attribute reads, calls and operations go to the student
process over a socket (``session``, ``wire``), and whatever comes back is plain
data or a proxy (``proxies``). So the verdict is decided by unittest in a process
that student code can reach only through values.

Standard library only, like everything that runs in the jail.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import importlib.util
import io
import json
import marshal
import os
import resource
import signal
import sys
import traceback
import types
import unittest
import weakref
from collections.abc import Callable, Iterator
from typing import Any, NoReturn
from unittest.util import strclass

from gradeflow.grading.sandbox.jailed import proxies
from gradeflow.grading.sandbox.jailed.proxies import RemoteModule, RemoteObject, StudentFailure
from gradeflow.grading.sandbox.jailed.session import Session
from gradeflow.grading.sandbox.jailed.spawn import ProcessSpawner, Spawner
from gradeflow.grading.sandbox.jailed.wire import RECEIVE_BYTES, bound_message, line_in

ExcInfo = tuple[type[BaseException], BaseException, types.TracebackType | None]


class Channel:
    """The result channel: JSON lines tagged with the nonce, written straight to the fd."""

    def __init__(self, fd: int, nonce: str) -> None:
        self._fd = fd
        self._nonce = nonce

    def send(self, event: str, **fields: object) -> None:
        line = json.dumps({"nonce": self._nonce, "event": event, **fields}, ensure_ascii=True)
        data = (line + "\n").encode("ascii")
        while data:
            data = data[os.write(self._fd, data) :]


bound = bound_message

# Sizes of a test's details. With ensure_ascii a character may take 12 bytes, and the
# whole line must stay under the host's 64 KiB limit with its 2,000-character message.
REPR_LIMIT = 1000
NOTE_LIMIT = 500
DESCRIPTION_LIMIT = 200
# assertEqual and the type-specific methods it dispatches to (also called directly).
COMPARING_ASSERTIONS = (
    "assertEqual",
    "assertListEqual",
    "assertTupleEqual",
    "assertDictEqual",
    "assertSetEqual",
    "assertSequenceEqual",
    "assertMultiLineEqual",
    "assertCountEqual",
)
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_PLAIN_CONTAINERS = (list, tuple, set, frozenset)


def describe_exception(exc: BaseException, *, with_line: bool = True) -> str:
    """``"ExcType: message"``, plus where in the student's file it was raised."""
    try:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except BaseException:  # a student exception whose __str__ itself raises
        text = f"{type(exc).__name__}: (the exception could not be displayed)"
    text = text.replace(os.getcwd() + os.sep, "")
    if isinstance(exc, StudentFailure):
        text = exc.message
    line = exc.__dict__.get("_gf_line") if with_line else None
    if isinstance(line, int) and proxies.current is not None:
        text += f" (line {line} of {proxies.current.module}.py)"
    return bound(text)


def plain_repr(value: object) -> str | None:
    """``repr(value)`` bounded, if ``value`` is plain data made in this process (exact
    builtin types all the way down); None for anything else, above all a proxy of a
    student object, whose repr would be a question to student code."""
    budget = 10_000  # items, and characters of text below: a repr is made whole
    characters = 100_000

    def plain(item: object, depth: int) -> bool:
        nonlocal budget, characters
        budget -= 1
        if budget < 0 or depth > 20:
            return False
        kind = type(item)
        if kind in _PLAIN_SCALARS:
            if isinstance(item, str | bytes):
                characters -= len(item)
            return characters >= 0
        if kind in _PLAIN_CONTAINERS and isinstance(item, list | tuple | set | frozenset):
            return all(plain(element, depth + 1) for element in item)
        if kind is dict and isinstance(item, dict):
            return all(
                plain(key, depth + 1) and plain(element, depth + 1) for key, element in item.items()
            )
        return False

    if not plain(value, 0):
        return None
    try:
        return bound(repr(value), REPR_LIMIT)
    except ValueError:  # an int too long to print
        return None


def _remember_comparison(original: Callable[..., Any]) -> Callable[..., Any]:
    """Keep a failed comparison's values on its AssertionError, so the student sees
    expected and actual side by side without the message being parsed."""

    def check(self: unittest.TestCase, first: Any, second: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, first, second, *args, **kwargs)
        except self.failureException as exc:
            msg = args[0] if args else kwargs.get("msg")
            # longMessage = False with a msg of its own: the test hides the values.
            hidden = msg is not None and not self.longMessage
            if "_gf_compared" not in exc.__dict__ and not hidden:  # the innermost method's
                exc.__dict__["_gf_compared"] = (
                    plain_repr(second),
                    plain_repr(first),
                    msg if type(msg) is str else "",
                )
            raise

    return check


def _record_comparisons() -> None:
    for name in COMPARING_ASSERTIONS:
        setattr(unittest.TestCase, name, _remember_comparison(getattr(unittest.TestCase, name)))


def problem_details(exc: BaseException, outcome: str) -> dict[str, object]:
    """What a test's problem says beyond its message: the compared values of a failed
    assertion, or the student's line an error was raised on."""
    details: dict[str, object] = {}
    compared = exc.__dict__.get("_gf_compared") if outcome == "failed" else None
    if isinstance(compared, tuple):
        expected, actual, note = compared
        if expected is not None and actual is not None:
            details["expected"], details["actual"] = expected, actual
            if note:
                details["note"] = bound(note, NOTE_LIMIT)
    line = exc.__dict__.get("_gf_line") if outcome == "error" else None
    if type(line) is int:
        details["line"] = line
    return details


class StreamingResult(unittest.TestResult):
    """Reports each test when it stops, instead of collecting tracebacks in memory."""

    def __init__(self, channel: Channel, ids: dict[int, str], session: Session) -> None:
        super().__init__()
        self.channel = channel
        self.session = session
        self.ids = ids  # id(test object) -> expected test id
        self.reported: set[str] = set()
        # (test outcome, message, the fixture's own name: "setUpClass (tests.Name)")
        self.fixture_problems: list[tuple[str, str, str]] = []
        self.current: str | None = None
        self.outcome = "passed"
        self.message = ""
        self.details: dict[str, object] = {}
        # Whether unittest recorded how the current test ended (its add* methods): one
        # that stops without (an exception unittest lets through, a MemoryError while
        # the result is recorded) must not be reported as the "passed" it starts as.
        self.ended = False

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().startTest(test)
        self.current = self.ids.get(id(test))
        self.outcome, self.message, self.details = "passed", "", {}
        self.ended = False
        try:  # the first line of the test's docstring
            description = test.shortDescription()
        except Exception:
            description = None
        if isinstance(description, str) and description:
            self.details["description"] = bound(description, DESCRIPTION_LIMIT)
        self.session.begin_test(self.current)
        if self.current is not None:
            self.channel.send("start", test=self.current)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().stopTest(test)
        failure = self.session.failure
        if failure is not None:  # whatever the test made of it
            self.outcome, self.message = "error", failure.message
            self.details = {k: v for k, v in self.details.items() if k == "description"}
        elif not self.ended:
            self.outcome, self.message = "error", "The test was stopped before it had a result."
            self.details = {k: v for k, v in self.details.items() if k == "description"}
        output = self.session.take_test_output()
        if self.current is not None and self.current not in self.reported:
            self.reported.add(self.current)
            if output:  # a line of its own: the test's line has its own size budget
                self.channel.send("output", test=self.current, text=output)
            self.channel.send(
                "test",
                test=self.current,
                outcome=self.outcome,
                message=self.message,
                **self.details,
            )
        self.current = None
        self.session.begin_test(None)
        flush_output()

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        if id(test) in self.ids:
            self.ended = True

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802 (unittest's name)
        self._problem(test, "failed", err)

    def addError(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802 (unittest's name)
        self._problem(test, "error", err)

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: Any) -> None:  # noqa: N802 (unittest's name)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            # A subtest's id is its test's id plus the parameters, e.g. "(n=3)".
            label = subtest.id().removeprefix(test.id()).strip()
            self._problem(test, "failed" if failed else "error", err, label=label)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802 (unittest's name)
        self._set(test, "skipped", bound(f"Skipped: {reason}"))

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802 (unittest's name)
        if id(test) in self.ids:
            self.ended = True

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        self._set(test, "failed", "The test was expected to fail, but it passed.")

    def _problem(
        self, test: unittest.TestCase, outcome: str, err: ExcInfo, label: str = ""
    ) -> None:
        # A failed assertion is raised in tests.py: its message is the whole feedback.
        message = describe_exception(err[1], with_line=outcome != "failed")
        details = problem_details(err[1], outcome)
        # A subtest's parameters may hold what student code returned: bounded too, or
        # the test's line would outgrow what the host reads and the test go missing.
        labelled = bound(f"{label} {message}".strip()) if label else message
        self._set(test, outcome, labelled, details)

    def _set(
        self,
        test: unittest.TestCase,
        outcome: str,
        message: str,
        details: dict[str, object] | None = None,
    ) -> None:
        if id(test) not in self.ids:
            # Class or module fixtures (setUpClass, tearDownModule, ...) report
            # through a stand-in object rather than one of the expected tests.
            fixture = str(getattr(test, "description", "A test fixture"))
            message = bound(f"{fixture}: {message}")
            self.fixture_problems.append((outcome, message, fixture))
            self.channel.send("fixture", outcome=outcome, message=message)
        else:
            self.ended = True
            if self.outcome == "passed":  # the first problem of a test is its message
                self.outcome, self.message = outcome, message
                self.details.update(details or {})


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(BaseException):
            if stream is not None:
                stream.flush()


def finish(code: int) -> NoReturn:
    """Exit now, skipping atexit handlers and the wait for threads."""
    flush_output()
    os._exit(code)


def iter_tests(suite: unittest.TestSuite | unittest.TestCase) -> Iterator[unittest.TestCase]:
    if isinstance(suite, unittest.TestSuite):
        for child in suite:
            yield from iter_tests(child)
    else:
        yield suite


def _refuse_proxy_against_number(original: Callable[..., Any]) -> Callable[..., Any]:
    """assertAlmostEqual computes ``first - second``: never let student code answer that."""

    def check(self: unittest.TestCase, first: Any, second: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(first, RemoteObject) != isinstance(second, RemoteObject):
            proxy = first if isinstance(first, RemoteObject) else second
            raise self.failureException(
                f"expected a number, but got a {type(proxy).__name__} object of your code"
            )
        return original(self, first, second, *args, **kwargs)

    return check


def _guard_almost_equal() -> None:
    for name in ("assertAlmostEqual", "assertNotAlmostEqual"):
        setattr(
            unittest.TestCase, name, _refuse_proxy_against_number(getattr(unittest.TestCase, name))
        )


def run(channel: Channel, spawner: Spawner, config: dict[str, Any], started: float) -> None:
    """Run the configured tests against the student's module, reporting on ``channel``."""
    module: str = config["module"]
    test_ids: list[str] = list(config["test_ids"])
    workdir = os.getcwd()
    tests_path = os.path.join(workdir, "tests.py")
    tests_code = compiled_tests(config)
    if tests_code is None:
        with open(tests_path, "rb") as file:
            tests_code = compile(file.read(), tests_path, "exec", dont_inherit=True)
    sys.path.insert(0, workdir)
    _guard_almost_equal()
    _record_comparisons()
    channel.send("ready")

    def report_failure(failure: StudentFailure, test: str | None) -> None:
        channel.send(
            "student_failure",
            kind=failure.kind,
            test=test,
            message=failure.message,
            function=failure.function,
        )

    session = proxies.current = Session(
        spawner=spawner,
        on_failure=report_failure,
        module=module,
        time_limit_s=float(config["time_limit_s"]),
        memory_mb=int(config["memory_mb"]),
        started=started,
    )
    if not _student_started(channel, session.start(), first_test=test_ids[0]):
        return
    _install_remote_module(session, module, workdir)
    tests = _load_tests_module(channel, session, tests_code, tests_path)
    if tests is None:
        return
    _run_tests(channel, session, tests, test_ids)
    channel.send("done")
    # The student process sees its socket close and exits now, alongside the judge,
    # rather than once the zygote has reaped the judge and killed it.
    session.close()


def compiled_tests(config: dict[str, Any]) -> types.CodeType | None:
    """``tests.py`` as the host compiled it for this interpreter, if it did (see
    ``zygote_client.compiled_tests``): the configuration comes from the host, never
    from the student's side, so it may hold marshalled code."""
    compiled = config.get("tests_code")
    if not isinstance(compiled, dict) or compiled.get("magic") != importlib.util.MAGIC_NUMBER.hex():
        return None
    try:
        code = marshal.loads(base64.b64decode(str(compiled["code"]), validate=True))  # noqa: S302 (the host's)
    except (KeyError, ValueError, EOFError, TypeError, binascii.Error):
        return None
    return code if isinstance(code, types.CodeType) else None


def _student_started(channel: Channel, hello: list[Any], *, first_test: str) -> bool:
    """Whether the student process imported the module and said hello; if it did
    not, the reason is reported and the run is over."""
    kind = hello[0]
    if kind == "syntax_error" and len(hello) == 5:
        line = hello[1] if type(hello[1]) is int else None
        channel.send("syntax_error", line=line, message=bound(str(hello[2])))
        return False
    if kind == "import_error" and len(hello) == 5:
        line = hello[2] if type(hello[2]) is int else None
        channel.send("import_error", line=line, message=bound(str(hello[1])))
        return False
    if kind == "mem":
        channel.send("memory_limit", test=None)
        return False
    if kind != "hello":
        status = hello[1] if kind == "exited" else "it sent an unexpected message"
        message = (
            f"Your program exited before the tests finished (before {first_test} ran; {status})."
        )
        channel.send("stopped", outcome="crashed", message=message)
        return False
    return True


def _install_remote_module(session: Session, module: str, workdir: str) -> None:
    """Make ``import <module>`` in the tests resolve to the student process's module."""
    proxy = RemoteModule(module)
    proxy.__dict__["__file__"] = os.path.join(workdir, f"{module}.py")
    proxy.__dict__["_gf_ref"] = (session.generation, 0)
    session.module_proxy = proxy
    session.proxies[0] = weakref.ref(proxy)
    sys.modules[module] = proxy


def _load_tests_module(
    channel: Channel, session: Session, tests_code: types.CodeType, tests_path: str
) -> types.ModuleType | None:
    """Execute ``tests.py`` as the module ``tests``; None (reported) if that failed."""
    tests = types.ModuleType("tests")
    tests.__file__ = tests_path
    sys.modules["tests"] = tests
    try:
        exec(tests_code, tests.__dict__)  # noqa: S102 (the assignment's own tests)
    except BaseException as exc:  # typically the tests importing a name the student lacks
        if isinstance(exc, StudentFailure):
            channel.send("stopped", outcome=exc.kind, message=exc.message)
            return None
        if not session.asked and not _through_student_proxies(exc):
            # Nothing of the student's ran or was looked up: ``import unittestt``, a
            # module the assignment lacks, ``1 / 0``. An error of the assignment.
            problem = describe_exception(exc, with_line=False)
            line = line_in(exc.__traceback__, tests_code.co_filename)
            where = f" (line {line} of tests.py)" if line is not None else ""
            channel.send("tests_error", message=bound(f"{problem}{where}"))
            return None
        problem = describe_exception(exc, with_line=False)
        channel.send(
            "import_error", message=bound(f"The tests could not load your code: {problem}")
        )
        return None
    return tests


# The judge's code that stands for the student's module: an exception raised in it
# while the tests load is about that module (a test subclassing a student class).
_STUDENT_SIDE_FILES = frozenset(
    {RemoteModule.__getattr__.__code__.co_filename, Session.request.__code__.co_filename}
)


def _through_student_proxies(exc: BaseException) -> bool:
    """Whether ``exc``, or one it was raised from, passed through the student's proxies."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 20:
        tb = current.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename in _STUDENT_SIDE_FILES:
                return True
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def _run_tests(
    channel: Channel, session: Session, tests: types.ModuleType, test_ids: list[str]
) -> None:
    """Run the expected tests with unittest; report each, also those that did not run."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    ids: dict[int, str] = {}
    for test_id in test_ids:
        for test in iter_tests(loader.loadTestsFromName(test_id, tests)):
            ids[id(test)] = test_id
            suite.addTest(test)
    # The suite drops its tests as it runs them; keep them alive so their id()s
    # cannot be reused by other objects while the map is in use.
    keep_alive = list(iter_tests(suite))
    result = StreamingResult(channel, ids, session)
    # A student failure raised outside any test (in a class fixture) was reported as
    # such; a SystemExit of student code there ends the suite as unittest lets it,
    # and the tests it did not run are reported as not run.
    with contextlib.suppress(StudentFailure, SystemExit):
        suite.run(result)
    tests_by_id = {ids[id(test)]: test for test in reversed(keep_alive)}
    for test_id in test_ids:
        if test_id not in result.reported:
            outcome, message = _not_run(tests_by_id.get(test_id), result.fixture_problems)
            channel.send("test", test=test_id, outcome=outcome, message=message)
    del keep_alive


def _not_run(
    test: unittest.TestCase | None, problems: list[tuple[str, str, str]]
) -> tuple[str, str]:
    """The outcome and message of a test that did not run: its own class's or module's
    fixture problem (a setUpClass that skipped it is the tests' own skip), else an
    error, never a skip of another fixture: a skip in one class's setUpClass must not
    turn into skips of the tests that student code stopped elsewhere (which would
    leave them out of a proportional score)."""
    if test is not None:
        cls = type(test)
        own = (f"setUpClass ({strclass(cls)})", f"setUpModule ({cls.__module__})")
        for outcome, message, fixture in problems:
            if fixture in own:
                return outcome, message
    for outcome, message, _ in problems:
        if outcome != "skipped":
            return "error", message
    return "error", "This test did not run."


def read_config(fd: int) -> dict[str, Any]:
    chunks = []
    while chunk := os.read(fd, RECEIVE_BYTES):
        chunks.append(chunk)
    os.close(fd)
    config = json.loads(b"".join(chunks))
    if not isinstance(config, dict):
        raise ValueError("the configuration must be a JSON object")
    return config


def apply_limits(limits: dict[str, int]) -> None:
    """Set the rlimits of the unjailed judge (``ProcessSandbox``), inherited by students.

    RLIMIT_NPROC is left alone: it counts every process of the uid, and in
    development that uid is the developer's.
    """
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space_bytes"],) * 2)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def serve(config: dict[str, Any], result_fd: int, spawner: Spawner, started: float) -> NoReturn:
    """Run the configured tests and exit; the limits are already in force."""
    channel = Channel(result_fd, str(config["nonce"]))
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    try:
        run(channel, spawner, config, started)
    except MemoryError:
        channel.send("memory_limit", test=None)
        finish(1)
    finally:
        spawner.close()
    finish(0)


def main(args: list[str]) -> NoReturn:
    """Entry point of ``ProcessSandbox``'s judge: ``CONFIG_FD RESULT_FD STUDENT_DIR``."""
    config_fd, result_fd, student_dir = int(args[0]), int(args[1]), args[2]
    config = read_config(config_fd)
    started = float(config["started"])
    apply_limits(config["limits"])
    spawner = ProcessSpawner(
        module=str(config["module"]),
        directory=student_dir,
        output_limit=int(config["output_limit"]),
        memory_bytes=int(config["memory_mb"]) * 1024 * 1024,
    )
    serve(config, result_fd, spawner, started)
