"""A rehearsal of a run, played once by the zygote before it forks anything.

Every judge and student process is a fork of the zygote, and starts with the
zygote's interpreter as it was: code the zygote never ran is still unspecialised
("quickened" by CPython 3.11+ only after a few calls, a write to the code object),
types it never looked methods up on have empty caches, and strings it never made
are made again. Each run's processes then did all of that for themselves, on pages
of the zygote's heap they had to copy first, on the run's critical path: the first
test of a run took several times as long as the next ones, and the student's hello
a millisecond or more.

So the zygote plays a small run through the same code a real one uses — the
student's side (``student.Student``) and the judge's (``session.Session``, the
proxies, ``judge._run_tests`` with unittest) over a socketpair, against a module of
its own — and then forgets it: nothing of an assignment, a submission or a run is
involved, and what it leaves is only warmer code and caches (and the generic proxy
classes it made, which the proxies keep anyway). The zygote then freezes its heap
as before.

In one thread: the student's side answers each request just before the judge's
side reads the answer. A thread of its own would leave the zygote a malloc arena
and a cached thread stack, tens of MB of address space that every run's process
would inherit and RLIMIT_AS would count.

Standard library only, like everything the zygote imports.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import types
import unittest
from typing import Any

from gradeflow.grading.sandbox.jailed import judge, proxies, student, wire
from gradeflow.grading.sandbox.jailed.session import Session

MODULE = "gradeflow_rehearsal"
# Enough for CPython to specialise the code each test runs (it does after 8 calls).
ROUNDS = 12
# A rehearsal that has not finished by then is abandoned (its socket is closed).
TIME_LIMIT_S = 10.0
SOURCE = """\
class Box:
    def __init__(self, value):
        self.value = value

    def double(self):
        return self.value * 2


def echo(value):
    return value


def fail(value):
    raise ValueError(f"no {value}")
"""


class _Answered(wire.Connection):
    """The judge's side of the rehearsal: before each read, the student's side
    answers what the judge sent (it is all in the socket's buffer by then)."""

    def __init__(self, sock: socket.socket, played: student.Student) -> None:
        super().__init__(sock)
        self.played = played

    def receive(self, deadline: float | None = None) -> list[Any]:
        self.played.serve_one(self.played.connection.receive(deadline))
        return super().receive(deadline)


class _OneSocket:
    """A spawner whose only student process is the rehearsal's thread."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock: socket.socket | None = sock

    def spawn(self) -> socket.socket:
        sock, self._sock = self._sock, None
        if sock is None:
            raise OSError("the rehearsal has one student process")
        return sock

    def end(self) -> str:
        return "it had ended"

    def exceeded_memory(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to end: the thread ends when its socket closes."""


def rehearse(rounds: int = ROUNDS) -> None:
    """Play a small run ``rounds`` times through the judge's and the student's code."""
    code = compile(SOURCE, f"{MODULE}.py", "exec", dont_inherit=True)
    module = types.ModuleType(MODULE)
    exec(code, module.__dict__)  # noqa: S102 (our own source above)
    judge_end, student_end = socket.socketpair()
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    session = None
    try:
        played = student.Student(wire.Connection(student_end), MODULE, student.Output(10_000))
        played.module = module
        played.handle(module)  # handle 0
        played.send("hello", played.named_objects())
        session = proxies.current = Session(
            spawner=_OneSocket(judge_end),
            on_failure=lambda failure, test: None,
            module=MODULE,
            time_limit_s=TIME_LIMIT_S,
            memory_mb=256,
            started=time.monotonic(),
        )
        if session.start()[0] != "hello":
            return
        session.connection = _Answered(judge_end, played)
        judge._install_remote_module(session, MODULE, os.getcwd())
        case = _test_case(sys.modules[MODULE])
        tests = types.ModuleType(f"{MODULE}_tests")
        setattr(tests, case.__name__, case)
        channel = judge.Channel(devnull, "rehearsal")
        names = unittest.TestLoader().getTestCaseNames(case)
        test_ids = [f"{case.__name__}.{name}" for name in names]
        for _ in range(rounds):
            judge._run_tests(channel, session, tests, test_ids)
    finally:
        proxies.current = None
        sys.modules.pop(MODULE, None)
        judge_end.close()
        student_end.close()
        os.close(devnull)


def _test_case(remote: Any) -> type[unittest.TestCase]:
    """The rehearsal's tests, against ``remote``, the module's proxy: each kind of
    use the tests of an exercise make of student code, passing and failing."""

    class RehearsalTest(unittest.TestCase):
        def test_calls(self) -> None:
            echo = remote.echo
            self.assertEqual(echo(1), 1)
            self.assertEqual(echo("text"), "text")
            self.assertEqual(echo([1, 2.5, None, True]), [1, 2.5, None, True])
            self.assertEqual(echo({"a": (1, 2)}), {"a": (1, 2)})
            self.assertTrue(echo(True))

        def test_raises(self) -> None:
            with self.assertRaises(ValueError):
                remote.fail(3)

        def test_objects(self) -> None:
            box = remote.Box(4)
            self.assertIsInstance(box, remote.Box)
            self.assertEqual(box.double(), 8)
            self.assertEqual(box.value, 4)

        def test_subtests(self) -> None:
            for number in range(3):
                with self.subTest(number=number):
                    self.assertEqual(remote.echo(number), number)

        def test_failure(self) -> None:
            self.assertEqual(remote.echo(1), 2, "a failed assertion")

        def test_error(self) -> None:
            remote.fail("error")

    return RehearsalTest
