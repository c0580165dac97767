"""The judge process of a run: import ``tests.py``, run unittest, report the verdict.

The judge alone holds the result channel (JSON lines tagged with the run's nonce:
``ready``, ``syntax_error``, ``import_error``, ``memory_limit``, ``stopped``,
``start``/``test`` per test, ``fixture``, ``student_failure`` and ``done``). Student
code never runs here: ``import <module>`` in the tests resolves to a
``RemoteModule`` whose attribute reads, calls and operations go to the student
process over a socket (``wire``), and whatever comes back is plain data or a
proxy. So the verdict is decided by unittest in a process that student code can
reach only through values.

The rules that keep it so (see docs/security.md):

- a proxy is never equal to, nor ordered against, a plain value; assertAlmostEqual
  refuses a proxy against a number;
- an ``AssertionError`` (or skip) raised by the tests' own code during a student
  call is raised again when the call returns, whatever student code did with it,
  and a ``with`` block's failure is never suppressed by a student ``__exit__``;
- when the student process dies, hangs past the test's time, runs out of memory or
  breaks the protocol, the test fails with a ``StudentFailure``, which unittest
  records as an error and no ``except Exception`` or ``assertRaises`` in the tests
  can turn into a pass; the next test gets a freshly imported student process.

Standard library only, like everything that runs in the jail.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import traceback
import types
import unittest
import weakref
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, Protocol

from gradeflow.grading.sandbox import launch, wire

MESSAGE_LIMIT = 2000
# The student process may use at most this share of the run's time limit per test,
# so that one test that never returns leaves time for the others.
TEST_SHARE = 0.5
# Kept free at the end of the run to report a test stopped at the deadline.
REPORT_MARGIN_S = 0.2
MAX_RESTARTS = 200
MAX_CALLBACKS = 100_000

ExcInfo = tuple[type[BaseException], BaseException, types.TracebackType | None]


class StudentFailure(BaseException):
    """The student process failed in a way that fails the test whatever the test does.

    A ``BaseException`` so that ``except Exception`` and ``assertRaises(Exception)``
    in the tests do not catch it; unittest records it as the test's error.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout", "memory_limit" or "crashed"
        self.message = message

    def __str__(self) -> str:
        return self.message


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


def bound(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


# Spawning student processes ----------------------------------------------------


class Spawner(Protocol):
    """Starts student processes for the judge, each from a clean interpreter."""

    def spawn(self) -> socket.socket:
        """A new student process; the judge's end of its socket."""
        ...

    def end(self) -> str:
        """Kill the current student process if it still runs; how it ended, in words."""
        ...

    def close(self) -> None:
        """The run is over: nothing of it may keep running."""
        ...


class ZygoteSpawner:
    """Asks the zygote, over the run's request socket, for student processes."""

    def __init__(self, fd: int) -> None:
        self._socket = socket.socket(fileno=fd)

    def spawn(self) -> socket.socket:
        self._socket.send(b'{"op": "spawn"}')
        fds: list[int] = []
        data, ancillary, _, _ = self._socket.recvmsg(4096, socket.CMSG_SPACE(4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += [int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, len(payload) - 3, 4)]
        reply = json.loads(data) if data else {}
        if not fds:
            raise OSError(f"the zygote could not start a student process: {reply.get('error')}")
        return socket.socket(fileno=fds[0])

    def end(self) -> str:
        self._socket.send(b'{"op": "end"}')
        reply = json.loads(self._socket.recv(4096) or b"{}")
        status = reply.get("status")
        return describe_status(status) if isinstance(status, int) else "it had ended"

    def close(self) -> None:
        """Nothing to do: the zygote ends the student processes with the run."""


class ProcessSpawner:
    """Starts ``python -I -S -B student.py`` processes (the unjailed ``ProcessSandbox``)."""

    def __init__(self, *, module: str, directory: str, output_limit: int, memory_bytes: int) -> None:
        self.module = module
        self.directory = directory
        self.output_limit = output_limit
        self.memory_bytes = memory_bytes
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> socket.socket:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                launch.command(
                    sys.executable,
                    "student",
                    str(theirs.fileno()),
                    self.module,
                    str(self.output_limit),
                    str(self.memory_bytes),
                ),
                cwd=self.directory,
                env=dict(os.environ),
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
            )
        finally:
            theirs.close()
        return ours

    def end(self) -> str:
        process, self.process = self.process, None
        if process is None:
            return "it had ended"
        if process.poll() is None:
            process.kill()
        return describe_status(_wait_status(process.wait()))

    def close(self) -> None:
        self.end()


def _wait_status(returncode: int) -> int:
    """A wait status like the zygote's, from ``Popen.returncode``."""
    return (-returncode) & 0x7F if returncode < 0 else (returncode & 0xFF) << 8


def describe_status(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


# Proxies ------------------------------------------------------------------------

_session: Session | None = None


def _current() -> Session:
    assert _session is not None
    return _session


def _ref(obj: object) -> tuple[int, int]:
    ref = obj.__dict__.get("_gf_ref")
    if ref is None:
        raise TypeError(
            f"{type(obj).__name__} subclasses a class of the student's code, which the "
            "tests cannot do: the student's classes live in another process"
        )
    return ref  # type: ignore[no-any-return]


# Dunder attributes of student objects that tests read (a function's name, say);
# any other dunder name is looked up on the proxy only.
_FORWARDED_DUNDERS = frozenset(
    {"__name__", "__qualname__", "__doc__", "__annotations__", "__defaults__", "__kwdefaults__",
     "__slots__", "__match_args__", "__dataclass_fields__", "__members__"}
)


class _Forwarding:
    """Operations every student object answers remotely."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gf_") or (name.startswith("__") and name not in _FORWARDED_DUNDERS):
            raise AttributeError(name)
        return _current().request_on(self, "get", name)

    def __repr__(self) -> str:
        return str(_current().operation(self, "repr"))

    def __str__(self) -> str:
        return str(_current().operation(self, "str"))

    def __dir__(self) -> list[str]:
        return list(_current().operation(self, "dir"))


def _remote(name: str) -> Callable[..., Any]:
    def operation(self: object, *args: object) -> Any:
        return _current().operation(self, name, *args)

    operation.__name__ = f"__{name}__"
    return operation


def _remote_with_proxy(name: str) -> Callable[..., Any]:
    """A comparison, answered by the student only between two of its objects."""

    def operation(self: object, other: object) -> Any:
        if not isinstance(other, RemoteObject):
            return NotImplemented
        return _current().operation(self, name, other)

    operation.__name__ = f"__{name}__"
    return operation


class RemoteObject(_Forwarding):
    """A student object seen from the judge: every use of it is a request."""

    def __setattr__(self, name: str, value: object) -> None:
        _current().request_on(self, "set", name, value)

    def __delattr__(self, name: str) -> None:
        _current().request_on(self, "del", name)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return _current().call(self, args, kwargs)

    def __hash__(self) -> int:
        value = _current().operation(self, "hash")
        if type(value) is not int:
            raise TypeError("__hash__ of your object did not return an integer")
        return value  # type: ignore[no-any-return]

    def __bool__(self) -> bool:
        value = _current().operation(self, "bool")
        if type(value) is not bool:
            raise TypeError("__bool__ of your object did not return a bool")
        return value  # type: ignore[no-any-return]

    def __len__(self) -> int:
        value = _current().operation(self, "len")
        if type(value) is not int:
            raise TypeError("__len__ of your object did not return an integer")
        return value  # type: ignore[no-any-return]

    def __index__(self) -> int:
        value = _current().operation(self, "index")
        if type(value) is not int:
            raise TypeError("__index__ of your object did not return an integer")
        return value  # type: ignore[no-any-return]

    def __exit__(self, *exc_info: object) -> bool:
        exc = exc_info[1]
        args: tuple[object, ...] = (None, None, None)
        if isinstance(exc, RemoteException):
            args = (type(exc), exc, None)
        elif isinstance(exc, BaseException):
            # The tests' exception, as the builtin one it is or derives from.
            base = wire.EXCEPTIONS[wire.exception_name(type(exc))]
            args = (base, _rebuilt(base, exc), None)
        suppress = bool(_current().operation(self, "exit", *args))
        # The tests' own failures are theirs: student code may not swallow them.
        if suppress and isinstance(exc, _STICKY):
            return False
        return suppress

    __eq__ = _remote_with_proxy("eq")  # type: ignore[assignment]
    __ne__ = _remote_with_proxy("ne")  # type: ignore[assignment]
    __lt__ = _remote_with_proxy("lt")
    __le__ = _remote_with_proxy("le")
    __gt__ = _remote_with_proxy("gt")
    __ge__ = _remote_with_proxy("ge")


for _name in (
    "iter next reversed contains getitem setitem delitem enter format int float complex "
    "round abs neg pos invert divmod rdivmod"
).split():
    setattr(RemoteObject, f"__{_name}__", _remote(_name))
for _name in "add sub mul matmul truediv floordiv mod pow lshift rshift and or xor".split():
    setattr(RemoteObject, f"__{_name}__", _remote(_name))
    setattr(RemoteObject, f"__r{_name}__", _remote(f"r{_name}"))


def _rebuilt(base: type[BaseException], exc: BaseException) -> BaseException:
    try:
        return base(_text(exc))
    except TypeError:
        return Exception(_text(exc))


class RemoteException(_Forwarding):
    """A student exception seen from the judge: raised, caught and shown locally."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # traceback and unittest probe these
            raise AttributeError(name)
        return super().__getattr__(name)

    def __str__(self) -> str:
        return str(self.__dict__.get("_gf_message", ""))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RemoteClassMeta(type):
    """The metaclass of proxies of student classes: class attributes and construction."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_gf_") or name.startswith("__"):
            raise AttributeError(name)
        return _current().request_on(cls, "get", name)

    def __call__(cls, *args: object, **kwargs: object) -> Any:
        if "_gf_ref" not in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} subclasses a class of the student's code, which the "
                "tests cannot do: the student's classes live in another process"
            )
        return _current().call(cls, args, kwargs)

    def __repr__(cls) -> str:
        return f"<class '{cls.__module__}.{cls.__qualname__}'>"

    # What an Enum (or any class with a metaclass of its own) answers as a class.
    def __iter__(cls) -> Any:
        return _current().operation(cls, "iter")

    def __len__(cls) -> int:
        value = _current().operation(cls, "len")
        if type(value) is not int:
            raise TypeError("len() of your class did not return an integer")
        return value  # type: ignore[no-any-return]

    def __getitem__(cls, key: object) -> Any:
        return _current().operation(cls, "getitem", key)

    def __contains__(cls, item: object) -> bool:
        return bool(_current().operation(cls, "contains", item))

    def __reversed__(cls) -> Any:
        return _current().operation(cls, "reversed")


class RemoteModule(types.ModuleType):
    """The student module as the tests import it."""

    def __getattr__(self, name: str) -> Any:
        if name == "__all__":  # for ``from solution import *``
            return _public_names(self)
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = _current().request_on(self, "get", name)
        if isinstance(value, _Forwarding) and "_gf_origin" not in value.__dict__:
            value.__dict__["_gf_origin"] = name
        return value

    def __setattr__(self, name: str, value: object) -> None:
        # Plain data is set in the student's module, where its code reads it; other
        # values (a Mock, say) only change what the tests themselves see.
        if name.startswith("__") or not _current().can_send(value):
            super().__setattr__(name, value)
            return
        self.__dict__.pop(name, None)
        _current().request_on(self, "set", name, value)

    def __delattr__(self, name: str) -> None:
        if name in self.__dict__:
            super().__delattr__(name)
        else:
            _current().request_on(self, "del", name)

    def __dir__(self) -> list[str]:
        return list(_current().operation(self, "dir"))


def _public_names(module: RemoteModule) -> list[str]:
    """The student module's ``__all__``, or its names that do not start with "_"."""
    session = _current()
    try:
        names = session.request_on(module, "get", "__all__")
    except AttributeError:
        names = [name for name in session.operation(module, "dir") if not name.startswith("_")]
    if not isinstance(names, list | tuple) or not all(type(name) is str for name in names):
        raise TypeError("__all__ of your module must be a list of names")
    return list(names)


_STICKY = (AssertionError, unittest.SkipTest, StudentFailure)


class _JudgeRefs(wire.Refs):
    def __init__(self, session: Session) -> None:
        self.session = session

    def local(self, obj: object, depth: int) -> list[Any]:
        session = self.session
        if isinstance(obj, (_Forwarding, RemoteModule, RemoteClassMeta)):
            generation, number = _ref(obj)
            if generation != session.generation:
                raise session.stale()
            return ["h", number]
        # Any other object of the tests (a function, a sequence class of theirs):
        # the student gets a stub that can only call it and use it as a container.
        return ["cb", session.callback_id(obj)]

    def tracked(self, obj: object) -> list[Any] | None:
        kind = type(obj)
        if kind not in _TRACKED:
            return None
        session = self.session
        sid = session.received_ids.get(id(obj))
        if sid is not None:  # the student's own container, back to it
            return ["sr", sid]
        jid = session.tracked_ids.get(id(obj))
        if jid is not None:
            return ["jr", jid]
        jid = len(session.tracked)
        session.tracked.append(obj)
        session.tracked_ids[id(obj)] = jid
        tag = _TRACKED[kind]
        if kind is bytearray:
            return [tag, jid, *wire.encode(bytes(obj), self)[1:]]  # type: ignore[arg-type]
        if kind is dict:
            return [tag, jid, *wire._pairs(obj, self, 1)]  # type: ignore[arg-type]
        return [tag, jid, *[wire.encode(item, self, 1) for item in obj]]  # type: ignore[attr-defined]

    def remote(self, tag: str, value: list[Any]) -> object:
        session = self.session
        if tag == "h":
            return session.proxy(value)
        if tag == "jr":
            return session.tracked[_index(value[0], len(session.tracked))]
        if tag == "sr":
            return _received(session, value[0])
        if tag == "cb":
            return session.callbacks[_index(value[0], len(session.callbacks))]
        if tag in _RECEIVED:
            return session.receive_container(tag, value, self)
        raise wire.WireError(f"unknown reference {tag!r}")


_RECEIVED = {"sl": "l", "sd": "d", "ss": "s", "sb": "b"}


def _received(session: Session, number: object) -> object:
    container = session.received.get(number) if type(number) is int else None  # type: ignore[arg-type]
    if container is None:
        raise wire.WireError("a reference names no container")
    return container
_TRACKED = {list: "jl", dict: "jd", set: "js", bytearray: "jb"}


def _index(value: object, size: int) -> int:
    if type(value) is not int or not 0 <= value < size:  # type: ignore[operator]
        raise wire.WireError("a reference names nothing")
    return value  # type: ignore[return-value]


class Session:
    """The judge's side of the conversation with the current student process."""

    def __init__(
        self,
        *,
        spawner: Spawner,
        channel: Channel,
        module: str,
        time_limit_s: float,
        memory_mb: int,
        started: float,
    ) -> None:
        self.spawner = spawner
        self.channel = channel
        self.module = module
        self.time_limit_s = time_limit_s
        self.memory_mb = memory_mb
        self.run_deadline = started + time_limit_s - REPORT_MARGIN_S
        self.refs = _JudgeRefs(self)
        self.connection: wire.Connection | None = None
        self.generation = 0
        self.restarts = 0
        self.proxies: dict[int, weakref.ref[Any]] = {}
        self.strong: dict[int, object] = {}  # classes and the module, kept for the generation
        self.classes: dict[str, type] = {}  # proxies of the student's classes by qualname
        self.callbacks: list[object] = []
        self._callback_ids: dict[int, int] = {}
        # Containers shared with the student process during the current test: the
        # tests' own (tracked) and the student's copies received (received).
        self.tracked: list[object] = []
        self.tracked_ids: dict[int, int] = {}
        self.received: dict[int, object] = {}
        self.received_ids: dict[int, int] = {}
        self.scope = 0
        self.test: str | None = None
        self.test_started = started
        self.failure: StudentFailure | None = None  # of the current test
        self.pending: BaseException | None = None  # a failure of the tests' code to raise again
        self.dead: StudentFailure | None = None  # why no student process runs now
        self.module_proxy: RemoteModule | None = None

    # Lifecycle -------------------------------------------------------------------

    def start(self) -> list[Any]:
        """Start the first student process; its first message (``hello`` or why not)."""
        sock = self.spawner.spawn()
        self.connection = wire.Connection(sock)
        try:
            message = self.connection.receive()
        except wire.PeerGone:
            return ["exited", self.spawner.end()]
        except wire.WireError as exc:
            self.spawner.end()
            return ["exited", f"it sent something that is not a message: {exc}"]
        self.replay(message[-2] if len(message) >= 3 else [])
        return message

    def begin_test(self, test_id: str | None) -> None:
        self.scope += 1
        self.tracked.clear()
        self.tracked_ids.clear()
        self.received.clear()
        self.received_ids.clear()
        self.test = test_id
        self.test_started = time.monotonic()
        self.failure = None
        self.pending = None

    def deadline(self) -> float:
        if self.test is None:
            return self.run_deadline
        return min(self.run_deadline, self.test_started + self.time_limit_s * TEST_SHARE)

    def _connection(self) -> wire.Connection:
        if self.connection is not None:
            return self.connection
        if self.restarts >= MAX_RESTARTS:
            raise self.fail("crashed", "Your code was restarted too many times; it was not run again.")
        self.restarts += 1
        sock = self.spawner.spawn()
        self.connection = wire.Connection(sock)
        try:
            message = self.connection.receive(self.deadline())
        except wire.Timeout:
            raise self.stopped_by_time() from None
        except (wire.PeerGone, wire.WireError):
            status = self.spawner.end()
            raise self.fail("crashed", f"Your code could not be imported again ({status}).") from None
        self.replay(message[-2] if len(message) >= 3 else [])
        if message[0] != "hello":
            self.spawner.end()
            raise self.fail("crashed", "Your code could not be imported again after the last problem.")
        proxy = self.module_proxy
        if proxy is not None:
            proxy.__dict__["_gf_ref"] = (self.generation, 0)
        return self.connection

    def stale(self) -> StudentFailure:
        return StudentFailure(
            "crashed",
            "This object of your code is gone: your program was restarted after a problem "
            "in an earlier test.",
        )

    def fail(self, kind: str, message: str) -> StudentFailure:
        """End the current student process and return the failure to raise."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
        self.connection = None
        self.generation += 1
        self.proxies.clear()
        self.strong.clear()
        self.callbacks.clear()
        self._callback_ids.clear()
        failure = StudentFailure(kind, bound(message))
        self.failure = failure
        self.channel.send("student_failure", kind=kind, test=self.test, message=failure.message)
        return failure

    def stopped_by_time(self) -> StudentFailure:
        self.spawner.end()
        if time.monotonic() >= self.run_deadline:
            limit = f"the run's {self.time_limit_s:g} s time limit was reached"
        else:
            share = self.time_limit_s * TEST_SHARE
            limit = f"one test may use at most {share:g} s of the {self.time_limit_s:g} s time limit"
        elapsed = time.monotonic() - self.test_started
        return self.fail(
            "timeout",
            f"Stopped after {elapsed:.1f} s: {limit}. Look for a loop that never ends "
            "or a call that waits forever.",
        )

    # Requests ----------------------------------------------------------------------

    def can_send(self, value: object) -> bool:
        try:
            wire.encode(value, _SEND_CHECK)
        except (TypeError, ValueError):
            return False
        return True

    def callback_id(self, function: object) -> int:
        number = self._callback_ids.get(id(function))
        if number is None:
            if len(self.callbacks) >= MAX_CALLBACKS:
                raise TypeError("too many objects of the tests were passed to the student's code")
            number = len(self.callbacks)
            self.callbacks.append(function)
            self._callback_ids[id(function)] = number
        return number

    def number_of(self, target: object) -> int:
        generation, number = _ref(target)
        if generation == self.generation:
            return number
        origin = target.__dict__.get("_gf_origin")
        if origin is None or self.module_proxy is None:
            raise self.stale()
        # What the tests took from the module (``from solution import f``) is taken
        # again from the student process that replaced the old one.
        self._connection()
        fresh = self.request_on(self.module_proxy, "get", origin)
        if not isinstance(fresh, _Forwarding):
            raise self.stale()
        ref = _ref(fresh)
        target.__dict__["_gf_ref"] = ref
        self.proxies[ref[1]] = weakref.ref(target)
        return ref[1]

    def request_on(self, target: object, op: str, name: str, *value: object) -> Any:
        number = self.number_of(target)
        fields: list[Any] = [name, *[wire.encode(item, self.refs) for item in value]]
        return self.request([op, self.scope, number, *fields])

    def call(self, target: object, args: tuple[object, ...], kwargs: dict[str, object]) -> Any:
        number = self.number_of(target)
        encoded_args = [wire.encode(arg, self.refs) for arg in args]
        encoded_kwargs = [[name, wire.encode(value, self.refs)] for name, value in kwargs.items()]
        return self.request(["call", self.scope, number, encoded_args, encoded_kwargs])

    def operation(self, target: object, name: str, *args: object) -> Any:
        number = self.number_of(target)
        encoded = [wire.encode(arg, self.refs) for arg in args]
        return self.request(["op", self.scope, number, name, encoded])

    def request(self, message: list[Any]) -> Any:
        connection = self._connection()
        generation = self.generation
        try:
            connection.send(message)
        except wire.TooLarge as exc:
            raise ValueError(f"the value is too large to pass to your code: {exc}") from None
        except wire.PeerGone:
            raise self.crashed() from None
        while True:
            try:
                reply = connection.receive(self.deadline())
            except wire.Timeout:
                raise self.stopped_by_time() from None
            except wire.PeerGone:
                raise self.crashed() from None
            except wire.WireError as exc:
                self.spawner.end()
                raise self.fail("crashed", f"Your program sent something the tests cannot read ({exc}).") from None
            try:
                result = self._answer(reply)
            except wire.WireError as exc:
                self.spawner.end()
                raise self.fail("crashed", f"Your program sent something the tests cannot read ({exc}).") from None
            if result is not _CONTINUE:
                if generation != self.generation:
                    raise self.stale()
                pending, self.pending = self.pending, None
                if pending is not None:
                    raise pending
                if isinstance(result, _Raise):
                    raise result.exception
                return result

    def crashed(self) -> StudentFailure:
        status = self.spawner.end()
        where = f" while running {self.test}" if self.test else ""
        return self.fail("crashed", f"Your program exited{where} ({status}).")

    def _answer(self, reply: list[Any]) -> Any:
        kind = reply[0]
        if type(kind) is not str or len(reply) < 3:
            raise wire.WireError("a reply is malformed")
        self.replay(reply[-2])
        self.write_back(reply[-1])
        if kind == "ok" and len(reply) == 4:
            return wire.decode(reply[1], self.refs)
        if kind == "err" and len(reply) == 4:
            return _Raise(self.exception(reply[1]))
        if kind == "mem":
            self.spawner.end()
            raise self.fail(
                "memory_limit",
                f"MemoryError: your code used more than the {self.memory_mb} MB of memory it may use.",
            )
        if kind == "jo" and len(reply) == 7:
            self._serve_judge_object(reply[1], reply[2], reply[3], reply[4])
            return _CONTINUE
        if kind == "in" and len(reply) == 4:
            self._serve_input(reply[1])
            return _CONTINUE
        raise wire.WireError(f"unexpected {kind!r}")

    def _reply(self, message: list[Any]) -> None:
        assert self.connection is not None
        try:
            self.connection.send(message)
        except wire.PeerGone:
            raise self.crashed() from None

    def _serve_judge_object(
        self, number: object, operation: object, args: object, kwargs: object
    ) -> None:
        """Student code used an object of the tests: only the operations of
        ``JUDGE_OPERATIONS``, never an attribute."""
        target = self.callbacks[_index(number, len(self.callbacks))]
        perform = JUDGE_OPERATIONS.get(operation) if type(operation) is str else None
        if perform is None or type(args) is not list or type(kwargs) is not list:
            raise wire.WireError("a request about an object of the tests is malformed")
        decoded_args = [wire.decode(arg, self.refs) for arg in args]
        decoded_kwargs = {}
        for pair in kwargs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise wire.WireError("keyword arguments are malformed")
            decoded_kwargs[pair[0]] = wire.decode(pair[1], self.refs)
        if decoded_kwargs and operation != "call":
            raise wire.WireError("keyword arguments are for calls only")
        try:
            result = perform(target, *decoded_args, **decoded_kwargs)
            encoded = wire.encode(result, self.refs)
        except StudentFailure:
            raise
        except BaseException as exc:
            if isinstance(exc, _STICKY) and self.pending is None:
                self.pending = exc
            self._reply(["err", [type(exc).__name__, _text(exc)]])
            return
        self._reply(["ok", encoded])

    def _serve_input(self, prompt: object) -> None:
        try:
            value = builtins.input() if prompt is None else builtins.input(str(prompt))
            if not isinstance(value, str):
                raise TypeError("input() returned something other than a string")
        except StudentFailure:
            raise
        except BaseException as exc:
            if isinstance(exc, _STICKY) and self.pending is None:
                self.pending = exc
            self._reply(["err", [type(exc).__name__, _text(exc)]])
            return
        self._reply(["ok", str(value)])

    # What comes back -------------------------------------------------------------

    def replay(self, events: object) -> None:
        """Student output, written where the tests' own output would go."""
        if type(events) is not list:
            raise wire.WireError("output is malformed")
        for event in events:
            if type(event) is not list or not event:
                raise wire.WireError("output is malformed")
            stream = sys.stderr if event[-1] == "e" else sys.stdout
            try:
                if event[0] == "w" and len(event) == 3 and type(event[1]) is str:
                    stream.write(event[1])
                elif event[0] == "p" and len(event) == 4 and type(event[1]) is list:
                    self._print(event[1], event[2], event[-1])
            except (wire.WireError, StudentFailure):
                raise
            except Exception:  # noqa: S112 (the tests closed or replaced their output)
                continue

    def _print(self, args: list[Any], given: object, stream: str) -> None:
        values = [
            arg if type(arg) in (str, int, float, bool) or arg is None else str(arg)
            for arg in args
        ]
        options: dict[str, Any] = {}
        for pair in given if type(given) is list else []:
            if type(pair) is list and len(pair) == 2 and pair[0] in ("sep", "end"):
                value = pair[1]
                options[pair[0]] = value if value is None else str(value)
        if stream == "e":
            options["file"] = sys.stderr
        builtins.print(*values, **options)

    def receive_container(self, tag: str, value: list[Any], refs: wire.Refs) -> object:
        """A container of student code: a copy, kept in step until the test ends."""
        sid, *items = value
        if type(sid) is not int or sid in self.received:
            raise wire.WireError("a container of the student is numbered twice")
        container = wire.decode([_RECEIVED[tag], *items], refs)
        if tag == "sb":
            container = bytearray(container)
        self.received[sid] = container
        self.received_ids[id(container)] = sid
        return container

    def write_back(self, updates: object) -> None:
        """Copy what student code did to shared containers into the judge's copies."""
        if type(updates) is not list:
            raise wire.WireError("container updates are malformed")
        for update in updates:
            if type(update) is not list or len(update) != 3 or update[0] not in ("j", "s"):
                raise wire.WireError("a container update is malformed")
            side, number, data = update
            if side == "j":
                original = self.tracked[_index(number, len(self.tracked))]
            else:
                original = _received(self, number)
            state = wire.decode(data, self.refs)
            if type(original) is list and type(state) is list:
                original[:] = state
            elif type(original) is bytearray and type(state) is bytes:
                original[:] = state
            elif type(original) in (dict, set) and type(state) is type(original):
                original.clear()  # type: ignore[attr-defined]
                original.update(state)  # type: ignore[attr-defined]
            else:
                raise wire.WireError("a container update has the wrong type")

    def proxy(self, value: list[Any]) -> object:
        if len(value) != 3 or type(value[0]) is not int:
            raise wire.WireError("a handle is malformed")
        number, kind, extra = value
        existing = self.proxies.get(number)
        obj = existing() if existing is not None else None
        if obj is not None:
            return obj
        if kind == "m":
            obj = self.module_proxy if number == 0 else None
            if obj is None:
                raise wire.WireError("unexpected module")
        elif kind == "c":
            obj = self._class(number, extra)
        elif kind == "o" and type(extra) is list and extra[:1] == ["h"]:
            cls = self.proxy(extra[1:])
            if not isinstance(cls, RemoteClassMeta):
                raise wire.WireError("an object's class is not a class")
            obj = cls.__new__(cls)
            obj.__dict__["_gf_ref"] = (self.generation, number)
        elif kind in ("o", "f") and type(extra) is str:
            obj = object.__new__(_generic_class(extra[:100], kind == "f"))
            obj.__dict__["_gf_ref"] = (self.generation, number)
        elif kind == "f" and type(extra) is list and len(extra) == 2 and type(extra[1]) is int:
            obj = object.__new__(_generic_class("function", True))
            obj.__dict__["_gf_ref"] = (self.generation, number)
            obj.__dict__["__code__"] = _CodeFlags(extra[1])
        else:
            raise wire.WireError("a handle is malformed")
        self.proxies[number] = weakref.ref(obj)
        return obj

    def _class(self, number: int, description: object) -> type:
        if description is None:
            known = self.strong.get(number)
            if not isinstance(known, type):
                raise wire.WireError("an unknown class")
            return known
        if type(description) is not list or len(description) != 5:
            raise wire.WireError("a class description is malformed")
        name, qualname, ours, builtin_base, bases = description
        if type(name) is not str or type(qualname) is not str or type(bases) is not list:
            raise wire.WireError("a class description is malformed")
        known = self.classes.get(qualname) if ours is True else None
        if known is not None:
            # The same class of a restarted student process: the tests may hold the
            # old proxy class (for isinstance), so it stays the one they get.
            type.__setattr__(known, "_gf_ref", (self.generation, number))
            self.strong[number] = known
            return known
        base_classes = [self.proxy(base[1:]) for base in bases if type(base) is list and base[:1] == ["h"]]
        if not all(isinstance(base, RemoteClassMeta) for base in base_classes):
            raise wire.WireError("a base class is not a class")
        exception = wire.EXCEPTIONS.get(builtin_base) if type(builtin_base) is str else None
        root: type = RemoteException if exception is not None else RemoteObject
        candidates = [tuple(base_classes) or (root,)]
        if exception is not None:
            candidates[0] = (*candidates[0], exception)
            candidates.append((RemoteException, exception))
        candidates.append((root,))
        namespace = {
            "_gf_ref": (self.generation, number),
            "__module__": self.module if ours is True else "builtins",
            "__qualname__": qualname[:200],
        }
        for bases_tuple in candidates:
            try:
                cls = RemoteClassMeta(name[:200], bases_tuple, dict(namespace))
                break
            except TypeError:  # an inconsistent order or layout: fewer bases
                continue
        self.strong[number] = cls
        if ours is True:
            self.classes[qualname] = cls
        return cls

    def exception(self, data: object) -> BaseException:
        """The exception student code raised, rebuilt in the judge."""
        if type(data) is not list or len(data) < 5:
            raise wire.WireError("an exception is malformed")
        if data[0] == "b" and len(data) == 5:
            _, name, args, message, line = data
            cls = wire.EXCEPTIONS.get(name) if type(name) is str else None
            if cls is None:
                raise wire.WireError("an unknown exception class")
            if cls is KeyboardInterrupt:
                self.spawner.end()
                return self.fail("crashed", "Your code raised KeyboardInterrupt, which stops the tests.")
            decoded = self._exception_args(args, message)
            try:
                exc = cls(*decoded)
            except Exception:
                exc = cls(str(message))
        elif data[0] == "s" and len(data) == 6:
            _, cls_ref, obj_ref, args, message, line = data
            cls = self.proxy(cls_ref[1:]) if type(cls_ref) is list else None
            if not isinstance(cls, RemoteClassMeta) or not issubclass(cls, BaseException):
                raise wire.WireError("an exception class is not an exception")
            exc = cls.__new__(cls)
            exc.args = tuple(self._exception_args(args, message))
            exc.__dict__["_gf_message"] = str(message)
            number = obj_ref[1] if type(obj_ref) is list and len(obj_ref) > 1 else None
            if type(number) is not int:
                raise wire.WireError("an exception handle is malformed")
            exc.__dict__["_gf_ref"] = (self.generation, number)
            self.proxies[number] = weakref.ref(exc)
        else:
            raise wire.WireError("an exception is malformed")
        exc.__dict__["_gf_line"] = line if type(line) is int else None
        return exc

    def _exception_args(self, args: object, message: object) -> list[Any]:
        if type(args) is not list:
            raise wire.WireError("exception arguments are malformed")
        try:
            return [wire.decode(arg, _PLAIN_ONLY) for arg in args]
        except wire.WireError:
            return [str(message)]


JUDGE_OPERATIONS: dict[str, Callable[..., Any]] = {
    "call": lambda target, *args, **kwargs: target(*args, **kwargs),
    "len": len,
    "getitem": lambda target, key: target[key],
    "iter": iter,
    "next": next,
    "contains": lambda target, item: item in target,
    "bool": bool,
    "repr": repr,
    "str": str,
}


class _Raise:
    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


_CONTINUE = object()
_PLAIN_ONLY = wire.Refs()


class _SendCheck(wire.Refs):
    """Accepts what the judge could send (proxies, functions), to decide without sending."""

    def local(self, obj: object, depth: int) -> list[Any]:
        if isinstance(obj, (_Forwarding, RemoteModule, RemoteClassMeta)):
            return ["h", 0]
        raise TypeError(type(obj).__name__)


_SEND_CHECK = _SendCheck()
_GENERIC: dict[tuple[str, bool], type] = {}


# Types whose objects tests check with isinstance: their proxies claim the type as
# their __class__, which is what isinstance consults after the real type.
_CLAIMED = {"generator": types.GeneratorType, "function": types.FunctionType}


class _CodeFlags:
    """What a student function's ``__code__`` shows the tests: its flags (is it a
    generator, a coroutine), which ``inspect`` reads; nothing else of its code."""

    def __init__(self, flags: int) -> None:
        self.co_flags = flags


def _generic_class(name: str, function: bool) -> type:
    """The proxy class of objects of a type that is not the student's (a generator, ...)."""
    key = (name, function)
    cls = _GENERIC.get(key)
    if cls is None:
        namespace: dict[str, Any] = {"__module__": "builtins"}
        claimed = _CLAIMED.get(name)
        if claimed is not None:
            namespace["__class__"] = property(lambda self, _claimed=claimed: _claimed)
        cls = _GENERIC[key] = type(name, (RemoteObject,), namespace)
    return cls


def _text(exc: BaseException) -> str:
    try:
        return bound(str(exc))
    except BaseException:
        return type(exc).__name__


# Reporting ----------------------------------------------------------------------


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
    if isinstance(line, int) and _session is not None:
        text += f" (line {line} of {_session.module}.py)"
    return bound(text)


class StreamingResult(unittest.TestResult):
    """Reports each test when it stops, instead of collecting tracebacks in memory."""

    def __init__(self, channel: Channel, ids: dict[int, str], session: Session) -> None:
        super().__init__()
        self.channel = channel
        self.session = session
        self.ids = ids  # id(test object) -> expected test id
        self.reported: set[str] = set()
        self.fixture_problems: list[tuple[str, str]] = []  # (test outcome, message)
        self.current: str | None = None
        self.outcome = "passed"
        self.message = ""

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().startTest(test)
        self.current = self.ids.get(id(test))
        self.outcome, self.message = "passed", ""
        self.session.begin_test(self.current)
        if self.current is not None:
            self.channel.send("start", test=self.current)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802 (unittest's name)
        super().stopTest(test)
        failure = self.session.failure
        if failure is not None:  # whatever the test made of it
            self.outcome, self.message = "error", failure.message
        if self.current is not None and self.current not in self.reported:
            self.reported.add(self.current)
            self.channel.send("test", test=self.current, outcome=self.outcome, message=self.message)
        self.current = None
        self.session.begin_test(None)
        flush_output()

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

    def _problem(self, test: unittest.TestCase, outcome: str, err: ExcInfo, label: str = "") -> None:
        # A failed assertion is raised in tests.py: its message is the whole feedback.
        message = describe_exception(err[1], with_line=outcome != "failed")
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
        setattr(unittest.TestCase, name, _refuse_proxy_against_number(getattr(unittest.TestCase, name)))


def run(channel: Channel, spawner: Spawner, config: dict[str, Any], started: float) -> None:
    global _session
    module: str = config["module"]
    test_ids: list[str] = list(config["test_ids"])
    workdir = os.getcwd()
    tests_path = os.path.join(workdir, "tests.py")
    with open(tests_path, "rb") as file:
        tests_code = compile(file.read(), tests_path, "exec", dont_inherit=True)
    sys.path.insert(0, workdir)
    _guard_almost_equal()
    channel.send("ready")

    session = _session = Session(
        spawner=spawner,
        channel=channel,
        module=module,
        time_limit_s=float(config["time_limit_s"]),
        memory_mb=int(config["memory_mb"]),
        started=started,
    )
    hello = session.start()
    kind = hello[0]
    if kind == "syntax_error" and len(hello) == 5:
        line = hello[1] if type(hello[1]) is int else None
        channel.send("syntax_error", line=line, message=bound(str(hello[2])))
        return
    if kind == "import_error" and len(hello) == 4:
        channel.send("import_error", message=bound(str(hello[1])))
        return
    if kind == "mem":
        channel.send("memory_limit", test=None)
        return
    if kind != "hello":
        status = hello[1] if kind == "exited" else "it sent an unexpected message"
        message = f"Your program exited before the tests finished (before {test_ids[0]} ran; {status})."
        channel.send("stopped", outcome="crashed", message=message)
        return

    proxy = RemoteModule(module)
    proxy.__dict__["__file__"] = os.path.join(workdir, f"{module}.py")
    proxy.__dict__["_gf_ref"] = (session.generation, 0)
    session.module_proxy = proxy
    session.proxies[0] = weakref.ref(proxy)
    sys.modules[module] = proxy

    tests = types.ModuleType("tests")
    tests.__file__ = tests_path
    sys.modules["tests"] = tests
    try:
        exec(tests_code, tests.__dict__)  # noqa: S102 (the assignment's own tests)
    except BaseException as exc:  # typically the tests importing a name the student lacks
        if isinstance(exc, StudentFailure):
            channel.send("stopped", outcome=exc.kind, message=exc.message)
            return
        problem = describe_exception(exc, with_line=False)
        channel.send("import_error", message=bound(f"The tests could not load your code: {problem}"))
        return

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
    try:
        suite.run(result)
    except StudentFailure:
        pass  # raised outside any test (a class fixture); reported as a student failure
    for test_id in test_ids:
        if test_id not in result.reported:
            outcome, message = (
                result.fixture_problems[0]
                if result.fixture_problems
                else ("error", "This test did not run.")
            )
            channel.send("test", test=test_id, outcome=outcome, message=message)
    del keep_alive
    channel.send("done")


def read_config(fd: int) -> dict[str, Any]:
    chunks = []
    while chunk := os.read(fd, 65536):
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

