"""The judge's session against a real student process: the frames it writes by hand
for a call's usual messages are the ones the encoder writes, and answers come back
exact."""

from __future__ import annotations

import json
import math
import os
import socket
import struct
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gradeflow.grading.sandbox.jailed import proxies, student, wire
from gradeflow.grading.sandbox.jailed.session import Session

SOLUTION = """\
def echo(*args, **kwargs):
    return args[0] if len(args) == 1 and not kwargs else [args, kwargs]


def text_of(size):
    return "x" * size


def numbers(count):
    yield from range(count)


class Box:
    def __init__(self, value):
        self.value = value

    def double(self, value):
        return 2 * value

    def shout(self, text):
        print(text)
        return text
"""


class _Recording:
    """A socket that keeps what goes through it (the judge's end)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent = bytearray()
        self.received = bytearray()

    def sendall(self, data: bytes) -> None:
        self.sent += data
        self.sock.sendall(data)

    def recv_into(self, buffer: Any) -> int:
        count = self.sock.recv_into(buffer)
        self.received += bytes(memoryview(buffer)[:count])
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _ForkSpawner:
    """A student process forked from the test, without a jail."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pid: int | None = None

    def spawn(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child never returns)
            try:
                ours.close()
                os.chdir(self.directory)
                student.serve(theirs.fileno(), "solution", 100_000)
            finally:
                os._exit(1)
        theirs.close()
        self.pid = pid
        return ours

    def end(self) -> str:
        if self.pid is not None:
            os.waitpid(self.pid, 0)
            self.pid = None
        return "it ended"

    def exceeded_memory(self) -> bool:
        return False

    def close(self) -> None:
        self.end()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    (tmp_path / "solution.py").write_text(SOLUTION)
    spawner = _ForkSpawner(tmp_path)
    judge = proxies.current = Session(
        spawner=spawner,
        on_failure=lambda failure, test: None,
        module="solution",
        time_limit_s=60,
        memory_mb=256,
        started=time.monotonic(),
    )
    try:
        assert judge.start()[0] == "hello"
        module = proxies.RemoteModule("solution")
        module.__dict__["_gf_ref"] = (judge.generation, 0)
        judge.module_proxy = module
        judge.proxies[0] = weakref.ref(module)
        judge.begin_test("SessionTest.test")
        yield judge
    finally:
        judge.close()
        spawner.end()
        proxies.current = None


def _frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        (size,) = struct.unpack_from(">I", data)
        frames.append(data[4 : 4 + size])
        data = data[4 + size :]
    return frames


def _as_encoded(frame: bytes) -> bytes:
    """The frame's message as the connection's encoder writes it."""
    text = "".join(wire._compact_encoder()(json.loads(frame), 0))
    return text.encode("ascii")


def _recording(judge: Session) -> _Recording:
    assert judge.connection is not None
    recording = _Recording(judge.connection.sock)
    judge.connection.sock = recording  # type: ignore[assignment]
    return recording


def _module(judge: Session) -> Any:
    return judge.module_proxy


ARGUMENTS = [
    (7,),
    (2**63 - 1,),
    (-(2**63) + 1,),
    (True,),
    (False,),
    (None,),
    (2.5,),
    (-0.0,),
    (1e16,),
    (5e-324,),
    ("",),
    ('quote " backslash \\ tab \t nul \x00',),
    ("é ü 😀 \ud800",),
    (1, "two", 3.0, None),
    (),
]


@pytest.mark.parametrize("args", ARGUMENTS, ids=repr)
def test_a_call_with_plain_arguments_is_sent_as_the_encoder_writes_it(
    session: Session, args: tuple[object, ...]
) -> None:
    echo = _module(session).echo
    recording = _recording(session)

    answer = echo(*args)

    (request,) = _frames(bytes(recording.sent))
    assert request == _as_encoded(request)
    assert json.loads(request)[3] == [*args]
    (reply,) = _frames(bytes(recording.received))
    assert reply == _as_encoded(reply)
    if len(args) == 1:
        assert type(answer) is type(args[0])
        assert answer == args[0] or (answer is args[0])
        if type(answer) is float:
            assert math.copysign(1.0, answer) == math.copysign(1.0, args[0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "args",
    [(2**63,), (-(2**63),), (math.nan,), (math.inf,), (-math.inf,), ((1, 2),), (b"x",)],
    ids=repr,
)
def test_a_call_with_other_arguments_still_crosses_exact(
    session: Session, args: tuple[object, ...]
) -> None:
    answer = _module(session).echo(*args)
    assert type(answer) is type(args[0])
    assert answer == args[0] or (answer != answer and args[0] != args[0])


def test_keyword_arguments_cross_as_before(session: Session) -> None:
    assert _module(session).echo(1, key="value") == [(1,), {"key": "value"}]


def test_attribute_reads_method_calls_and_iteration_are_sent_as_the_encoder_writes_them(
    session: Session,
) -> None:
    box = _module(session).Box(3)
    assert box.double(2) == 4  # the first read asks whether it is a method
    recording = _recording(session)

    assert box.value == 3
    assert box.double(21) == 42
    assert box.double("ab") == "abab"
    assert list(_module(session).numbers(3)) == [0, 1, 2]

    requests = _frames(bytes(recording.sent))
    kinds = [json.loads(request)[0] for request in requests]
    # The module's numbers is read again: the hello's names held until the first request.
    assert kinds[:5] == ["get", "callm", "callm", "get", "call"]
    assert {json.loads(request)[3] for request in requests[5:]} >= {"iter", "next"}
    for frame in requests + _frames(bytes(recording.received)):
        assert frame == _as_encoded(frame)


def test_an_answer_with_output_carries_the_output(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    box = _module(session).Box(0)
    assert box.shout("hello") == "hello"
    assert capsys.readouterr().out == "hello\n"


def test_an_answer_too_large_for_a_frame_is_an_error_of_the_call(session: Session) -> None:
    with pytest.raises(ValueError, match="too large for the tests"):
        _module(session).text_of(wire.MAX_FRAME_BYTES + 1)
    assert _module(session).echo(1) == 1


def test_an_argument_too_large_for_a_frame_is_refused_before_it_is_sent(
    session: Session,
) -> None:
    with pytest.raises(ValueError, match="too large to pass"):
        _module(session).echo("x" * (wire.MAX_FRAME_BYTES + 1))
    assert _module(session).echo(1) == 1


def test_a_chain_of_student_containers_too_deep_is_malformed(session: Session) -> None:
    # Each received container is decoded from depth 0 again: the chain ended in a
    # RecursionError, which the tests could catch as any exception of the call.
    value: Any = 7
    for number in range(2000):
        value = ["sl", number, value]

    with pytest.raises(wire.WireError):
        wire.decode(value, session.refs)


@pytest.mark.parametrize(
    "description",
    [
        ["Bad\x00Name", "Bad", True, "ValueError", []],  # no class has such a name
        ["Group", "Group", True, "BaseExceptionGroup", []],  # and no arguments to make it
    ],
)
def test_an_exception_of_a_class_that_cannot_be_made_is_malformed(
    session: Session, description: list[Any]
) -> None:
    # It reached the tests as the judge's TypeError or ValueError, an exception of the
    # call like any other, not as the student's failure.
    data = ["s", ["h", 900, "c", description], ["h", 901], [], "boom", None]

    with pytest.raises(wire.WireError):
        session.exception(data)


def test_an_exception_group_of_the_student_is_made_with_its_arguments(session: Session) -> None:
    description = ["Problems", "Problems", True, "ExceptionGroup", []]
    args = [["XI", "ValueError", "a"], ["XI", "TypeError", "b"]]
    data = ["s", ["h", 900, "c", description], ["h", 901], ["several", ["l", *args]], "m", None]

    exc = session.exception(data)

    assert isinstance(exc, ExceptionGroup)
    assert [type(inner) for inner in exc.exceptions] == [ValueError, TypeError]
