"""The program inside the sandbox: run the expected tests against the student module.

Started by ``ProcessSandbox`` as ``python -I -S -B harness.py CONFIG_FD RESULT_FD`` in
a fresh directory holding ``tests.py``, the student module and support files; the
zygote instead calls ``serve`` in each jailed child. It reads its
configuration (nonce, module name, test ids, limits) from CONFIG_FD, applies the
limits, then reports over RESULT_FD, one JSON object per line, each carrying the
nonce: ``ready``, ``syntax_error``, ``import_error``, ``memory_limit``, ``start`` and
``test`` per test, ``fixture`` problems, and finally ``done``.

Standard library only: ``-I -S`` gives it no site-packages, and it must never import
gradeflow. Student code runs in this same process, so it *can* reach the result
channel and even the nonce (via ``/proc/self/fd``, ``gc`` or this module's globals);
the nonce and the private descriptor stop forgery by printing or by blind writes,
and ``FrameworkGuard`` catches the easy rebinding of unittest. A determined student
can still subvert the harness from inside; the jail around it makes sure that this
can only ever change the student's own result (see docs/security.md).
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import io
import json
import mmap
import os
import resource
import signal
import sys
import traceback
import types
import unittest
from collections.abc import Iterator
from typing import Any, NoReturn

MESSAGE_LIMIT = 2000
# Released when a MemoryError is seen, so that reporting it has memory to work with.
# An anonymous mapping that is never touched: the memory limit is RLIMIT_AS, which
# counts address space, so it reserves as much as a filled buffer would, without
# faulting in (and zeroing, and freeing at exit) 128 pages in every run.
RESERVE_BYTES = 512 * 1024
_reserve: mmap.mmap | None = None

ExcInfo = tuple[type[BaseException], BaseException, types.TracebackType | None]


class Channel:
    """The result channel: JSON lines tagged with the nonce, written straight to the fd."""

    def __init__(self, fd: int, nonce: str) -> None:
        self._fd = fd
        self._nonce = nonce
        # Bound now because student code may replace os.write or json.dumps later.
        self._write = os.write
        self._dumps = json.dumps

    def send(self, event: str, **fields: object) -> None:
        line = self._dumps({"nonce": self._nonce, "event": event, **fields}, ensure_ascii=True)
        data = (line + "\n").encode("ascii")
        while data:
            data = data[self._write(self._fd, data) :]


def bound(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def describe_exception(exc: BaseException, student_path: str, *, with_line: bool = True) -> str:
    """``"ExcType: message"``, plus where in the student's file it was raised."""
    try:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except BaseException:  # a student exception whose __str__ itself raises
        text = f"{type(exc).__name__}: (the exception could not be displayed)"
    # Paths inside the run directory read better, and leak less, without it.
    text = text.replace(os.path.dirname(student_path) + os.sep, "")
    line = student_line(exc.__traceback__, student_path) if with_line else None
    if line is not None:
        text += f" (line {line} of {os.path.basename(student_path)})"
    return bound(text)


def student_line(tb: types.TracebackType | None, student_path: str) -> int | None:
    """The line of the innermost traceback frame that is in the student's file."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == student_path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def release_reserve() -> None:
    global _reserve
    if _reserve is not None:
        _reserve.close()
    _reserve = None
    gc.collect()


class FrameworkGuard:
    """Notices student code that rebinds parts of unittest or of the test classes.

    Student code runs in this process and can always subvert it (``gc`` reaches
    everything, this guard included); the guard stops the easy cheats, such as
    ``unittest.TestCase.assertEqual = lambda *a: None`` or replacing a test method,
    and makes them fail instead of pass. See docs/security.md.
    """

    FRAMEWORK = (
        unittest.TestCase,
        unittest.TestSuite,
        unittest.suite.BaseTestSuite,
        unittest.TestResult,
        unittest.TestLoader,
    )

    def __init__(self) -> None:
        self._unittest = sys.modules["unittest"]
        self._snapshot: dict[tuple[type, str], int] = {}
        self.reported = False
        self.add_classes(self.FRAMEWORK)

    def add_classes(self, classes: Iterator[type] | tuple[type, ...]) -> None:
        for cls in classes:
            for name, value in list(vars(cls).items()):
                self._snapshot[(cls, name)] = id(value)

    def problem(self) -> str | None:
        if sys.modules.get("unittest") is not self._unittest:
            return "the unittest module was replaced"
        for (cls, name), identity in self._snapshot.items():
            value = vars(cls).get(name, _MISSING)
            if id(value) != identity:
                return f"{cls.__qualname__}.{name} was changed"
        return None


_MISSING = object()


class StreamingResult(unittest.TestResult):
    """Reports each test when it stops, instead of collecting tracebacks in memory.

    Keeping no exc_info also means a test that filled memory does not keep its
    frames (and the memory) alive for the tests after it.
    """

    def __init__(
        self, channel: Channel, ids: dict[int, str], student_path: str, guard: FrameworkGuard
    ) -> None:
        super().__init__()
        self.channel = channel
        self.guard = guard
        self.ids = ids  # id(test object) -> expected test id
        self.student_path = student_path
        self.reported: set[str] = set()
        self.fixture_problems: list[tuple[str, str]] = []  # (test outcome, message)
        self.memory_reported = False
        self.current: str | None = None
        self.outcome = "passed"
        self.message = ""

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().startTest(test)
        self.current = self.ids.get(id(test))
        self.outcome, self.message = "passed", ""
        if self.current is not None:
            self.channel.send("start", test=self.current)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().stopTest(test)
        if self.current is not None and self.current not in self.reported:
            self.reported.add(self.current)
            self.channel.send("test", test=self.current, outcome=self.outcome, message=self.message)
        self.current = None
        self.check_framework()
        # Output printed so far survives if a later test kills the process.
        flush_output()

    def check_framework(self) -> None:
        if self.guard.reported:
            return
        problem = self.guard.problem()
        if problem is not None:
            self.guard.reported = True
            self.channel.send("tampered", message=bound(problem))

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        pass

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
        pass

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        self._set(test, "failed", "The test was expected to fail, but it passed.")

    def _problem(
        self, test: unittest.TestCase, outcome: str, err: ExcInfo, label: str = ""
    ) -> None:
        exc = err[1]
        if isinstance(exc, MemoryError):
            self.report_memory_limit()
        # A failed assertion is raised in tests.py: its message is the whole feedback.
        message = describe_exception(exc, self.student_path, with_line=outcome != "failed")
        self._set(test, outcome, f"{label} {message}".strip() if label else message)

    def _set(self, test: unittest.TestCase, outcome: str, message: str) -> None:
        if id(test) not in self.ids:
            # Class or module fixtures (setUpClass, tearDownModule, ...) report
            # through a stand-in object rather than one of the expected tests.
            message = bound(f"{getattr(test, 'description', 'A test fixture')}: {message}")
            self.fixture_problems.append((outcome, message))
            self.channel.send("fixture", outcome=outcome, message=message)
        elif self.outcome == "passed":  # the first problem of a test is its message
            self.outcome, self.message = outcome, message

    def report_memory_limit(self) -> None:
        release_reserve()
        if not self.memory_reported:
            self.memory_reported = True
            self.channel.send("memory_limit", test=self.current)


def flush_output() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        # Student code may have closed or replaced the stream.
        with contextlib.suppress(BaseException):
            if stream is not None:
                stream.flush()


def finish(code: int) -> NoReturn:
    """Exit now: skip atexit handlers and the wait for threads that student code started."""
    flush_output()
    os._exit(code)


def read_config(fd: int) -> dict[str, Any]:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    config = json.loads(b"".join(chunks))
    if not isinstance(config, dict):
        raise ValueError("the configuration must be a JSON object")
    return config


def move_to_private_fd(fd: int) -> int:
    """Move ``fd`` to a random high, close-on-exec number and close the original.

    Student code probing small descriptor numbers then finds nothing; the original
    number was also visible in argv.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = 1024 if soft == resource.RLIM_INFINITY else min(soft, 1024)
    if top <= 256:
        return fd
    for _ in range(32):
        target = 256 + int.from_bytes(os.urandom(2), "big") % (top - 256)
        try:
            os.fstat(target)
        except OSError:
            os.dup2(fd, target, inheritable=False)
            os.close(fd)
            return target
    return fd


def apply_limits(limits: dict[str, int]) -> None:
    """Set the rlimits before any student code runs.

    Done here rather than in a ``preexec_fn``: that runs between fork and exec in a
    copy of the (multi-threaded) worker and may deadlock, while here it costs nothing
    and still precedes the first student instruction. RLIMIT_NPROC is left alone:
    it counts every process of the uid, and in development that uid is root.
    """
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_size_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"],) * 2)
    resource.setrlimit(resource.RLIMIT_AS, (limits["address_space_bytes"],) * 2)
    # Writing past RLIMIT_FSIZE then fails with an OSError the student can read,
    # instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def iter_tests(suite: unittest.TestSuite | unittest.TestCase) -> Iterator[unittest.TestCase]:
    if isinstance(suite, unittest.TestSuite):
        for child in suite:
            yield from iter_tests(child)
    else:
        yield suite


def run(channel: Channel, *, module: str, test_ids: list[str]) -> None:
    workdir = os.getcwd()
    student_path = os.path.join(workdir, f"{module}.py")
    tests_path = os.path.join(workdir, "tests.py")
    # Both sources are read and tests.py compiled before any student code runs, so
    # student code that rewrites tests.py on disk changes nothing.
    with open(student_path, "rb") as file:
        student_source = file.read()
    with open(tests_path, "rb") as file:
        tests_code = compile(file.read(), tests_path, "exec", dont_inherit=True)
    sys.path.insert(0, workdir)
    guard = FrameworkGuard()
    channel.send("ready")

    try:
        student_code = compile(student_source, student_path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" on line {exc.lineno}" if exc.lineno else ""
        message = f"{type(exc).__name__}{where}: {exc.msg}"
        channel.send("syntax_error", line=exc.lineno, message=bound(message))
        return
    except ValueError as exc:  # NUL bytes in the source
        channel.send("syntax_error", line=None, message=bound(f"SyntaxError: {exc}"))
        return

    spec = importlib.util.spec_from_file_location(module, student_path)
    assert spec is not None
    student = importlib.util.module_from_spec(spec)
    sys.modules[module] = student
    try:
        exec(student_code, student.__dict__)  # noqa: S102 (importing it, from the checked code)
    except MemoryError:
        release_reserve()
        channel.send("memory_limit", test=None)
        return
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the student's too
        message = f"Importing your code raised {describe_exception(exc, student_path)}"
        channel.send("import_error", message=bound(message))
        return

    tests = types.ModuleType("tests")
    tests.__file__ = tests_path
    sys.modules["tests"] = tests
    try:
        exec(tests_code, tests.__dict__)  # noqa: S102 (importing tests.py as read before)
    except MemoryError:
        release_reserve()
        channel.send("memory_limit", test=None)
        return
    except BaseException as exc:  # typically the tests importing a name the student lacks
        problem = describe_exception(exc, student_path, with_line=False)
        message = f"The tests could not load your code: {problem}"
        channel.send("import_error", message=bound(message))
        return

    guard.add_classes(
        cls
        for value in list(vars(tests).values())
        if isinstance(value, type) and issubclass(value, unittest.TestCase)
        for cls in value.__mro__
        if cls.__module__ == "tests"
    )
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
    result = StreamingResult(channel, ids, student_path, guard)
    result.check_framework()  # changed while the student module was imported
    try:
        suite.run(result)
    except MemoryError:  # raised outside a test, e.g. while reporting one
        result.report_memory_limit()
        return
    for test_id in test_ids:
        if test_id not in result.reported:
            outcome, message = (
                result.fixture_problems[0]
                if result.fixture_problems
                else ("error", "This test did not run.")
            )
            channel.send("test", test=test_id, outcome=outcome, message=message)
    del keep_alive
    result.check_framework()
    channel.send("done")


def serve(config: dict[str, Any], result_fd: int) -> NoReturn:
    """Run the configured tests and exit; the limits are already in force."""
    global _reserve
    channel = Channel(move_to_private_fd(result_fd), str(config["nonce"]))
    _reserve = mmap.mmap(-1, RESERVE_BYTES, flags=mmap.MAP_PRIVATE)
    # -I ignores PYTHONIOENCODING; printing any text must not fail on encoding.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    try:
        run(channel, module=str(config["module"]), test_ids=list(config["test_ids"]))
    except MemoryError:
        release_reserve()
        channel.send("memory_limit", test=None)
        finish(1)
    finish(0)


def main(argv: list[str]) -> NoReturn:
    """Entry point of ``ProcessSandbox``: read the configuration, set limits, serve."""
    config_fd, result_fd = int(argv[1]), int(argv[2])
    config = read_config(config_fd)
    apply_limits(config["limits"])
    serve(config, result_fd)


if __name__ == "__main__":
    main(sys.argv)
