"""The judge's conversation with the current student process of a run.

``Session`` sends the tests' requests (attribute reads, calls, operations on
proxies) and waits for the answer, serving meanwhile what student code asks of the
tests (their functions and containers, ``input``), replaying the student's output
and copying back what it did to shared containers. It enforces each test's time,
turns every failure of the student process into a ``StudentFailure``, and starts
a fresh student process for the next test after one.

Standard library only: it runs inside the jail.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import time
import weakref
from collections.abc import Callable
from typing import Any

from gradeflow.grading.sandbox.jailed import wire
from gradeflow.grading.sandbox.jailed.proxies import (
    ITERATION_METHODS,
    SEND_CHECK,
    STICKY,
    BoundMethod,
    CodeFlags,
    Forwarding,
    RemoteClassMeta,
    RemoteException,
    RemoteModule,
    RemoteObject,
    StudentFailure,
    exception_text,
    generic_class,
    ref_of,
)
from gradeflow.grading.sandbox.jailed.spawn import Spawner
from gradeflow.grading.sandbox.jailed.wire import bound_message, code_name

# The student process may use at most this share of the run's time limit per test,
# so that one test that never returns leaves time for the others.
TEST_SHARE = 0.5
# Per test, the output shown beside its result (the run's whole output is kept too).
TEST_OUTPUT_LIMIT = 2000
# Kept free at the end of the run to report a test stopped at the deadline.
REPORT_MARGIN_S = 0.2
MAX_RESTARTS = 200
# After a student process was killed: what it sent is read for at most this long and
# this many messages (its output, sent as it is written).
DRAIN_S = 0.2
DRAIN_MESSAGES = 10_000
MAX_CALLBACKS = 100_000
# Proxy classes the judge makes in a run (a class crosses once per student process, and
# the tests' isinstance needs it kept): each takes kilobytes of the judge's memory.
MAX_CLASSES = 10_000
# Names of methods remembered (``Session.methods``), a cache of what need not be asked.
MAX_METHODS = 10_000
# The proxies' table keeps a weak reference of every handle of the student process;
# once it holds this many, those of objects the tests let go are dropped.
PURGE_PROXIES = 100_000


class _JudgeRefs(wire.Refs):
    def __init__(self, session: Session) -> None:
        self.session = session

    def local(self, obj: object, depth: int) -> list[Any]:
        session = self.session
        if isinstance(obj, BoundMethod):
            return ["bm", session.number_of(obj.target), obj.name]
        if isinstance(obj, (Forwarding, RemoteModule, RemoteClassMeta)):
            generation, number = ref_of(obj)
            if generation != session.generation:
                raise session.stale()
            return ["h", number]
        # Any other object of the tests (a function, a sequence class of theirs):
        # the student gets a stub that can only call it and use it as a container.
        return ["cb", session.callback_id(obj)]

    def tracked(self, obj: object, depth: int) -> list[Any] | None:
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
        if isinstance(obj, bytearray):
            return [tag, jid, *wire.encode(bytes(obj), self)[1:]]
        if kind is dict:
            return [tag, jid, *wire._pairs(obj, self, depth + 1)]  # type: ignore[arg-type]
        return [tag, jid, *wire.encode_items(obj, self, depth + 1)]  # type: ignore[arg-type]

    def remote(self, tag: str, value: list[Any]) -> object:
        session = self.session
        if tag == "h":
            return session.proxy(value)
        if tag == "bm":
            return session.bound_method(value)
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
    container = session.received.get(number) if type(number) is int else None
    if container is None:
        raise wire.WireError("a reference names no container")
    return container


_TRACKED: dict[type, str] = {list: "jl", dict: "jd", set: "js", bytearray: "jb"}


def _index(value: object, size: int) -> int:
    if type(value) is not int or not 0 <= value < size:
        raise wire.WireError("a reference names nothing")
    return value


class Session:
    """The judge's side of the conversation with the current student process."""

    def __init__(
        self,
        *,
        spawner: Spawner,
        on_failure: Callable[[StudentFailure, str | None], None],
        module: str,
        time_limit_s: float,
        memory_mb: int,
        started: float,
    ) -> None:
        self.spawner = spawner
        self.on_failure = on_failure
        self.module = module
        self.time_limit_s = time_limit_s
        self.memory_mb = memory_mb
        self.run_deadline = started + time_limit_s - REPORT_MARGIN_S
        self._deadline = self.run_deadline  # see deadline(); kept by begin_test
        self.refs = _JudgeRefs(self)
        self.connection: wire.Connection | None = None
        self.generation = 0
        self.restarts = 0
        self.proxies: dict[int, weakref.ref[Any]] = {}
        self._purge_at = PURGE_PROXIES  # see _remember_proxy
        self.strong: dict[int, object] = {}  # classes and the module, kept for the generation
        self.classes: dict[str, type] = {}  # proxies of the student's classes by qualname
        self.classes_made = 0  # proxy classes made in the run, at most MAX_CLASSES
        self.methods: set[tuple[type, str]] = set()  # (proxy class, name) of plain methods
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
        # What the student's code printed during the current test, the start of it.
        self.test_output: list[str] = []
        self.test_output_room = TEST_OUTPUT_LIMIT
        self.pending: BaseException | None = None  # a failure of the tests' code to raise again
        # How many of the tests' functions student code is running now (see _answer_student).
        self.serving = 0
        self.dead: StudentFailure | None = None  # why no student process runs now
        self.module_proxy: RemoteModule | None = None
        self.last_module_read: tuple[tuple[int, str], object] | None = None
        # The module's functions and classes as the student process's hello named
        # them, by name: what a read of them would answer until the first request
        # after it, when student code may have run and rebound them.
        self.named: dict[str, Any] = {}
        # What the tests are calling now, outermost first (a call may call back into
        # the tests, which call the student's code again): the proxy called, or the
        # proxy and the name of its method. Named only when a timeout reports it.
        self.calls: list[object] = []
        # Whether anything was asked of a student process: until then no student code
        # ran since the import, so an error of the tests' code is theirs alone.
        self.asked = False

    # Lifecycle -------------------------------------------------------------------

    def start(self) -> list[Any]:
        """Start the first student process; its first message (``hello`` or why not)."""
        sock = self.spawner.spawn()
        self.connection = wire.Connection(sock)
        try:
            message = self._receive_past_output(self.connection, None)
        except wire.PeerGone:
            status = self.spawner.end()
            if self.spawner.exceeded_memory():
                # Killed while importing, for its cgroup's memory.max: its processes
                # together, which no MemoryError in one of them reported.
                return ["mem"]
            return ["exited", status]
        except wire.WireError as exc:
            self.spawner.end()
            return ["exited", f"it sent something that is not a message: {exc}"]
        self.replay(message[-2] if len(message) >= 3 else [])
        if message[0] == "hello" and not self._remember_names(message):
            self.spawner.end()
            return ["exited", "it sent a malformed hello"]
        return message

    def _remember_names(self, hello: list[Any]) -> bool:
        """Keep what ``hello`` names (see ``named``); False if it is malformed.

        Decoded now, not when read: a class is described only the first time it
        crosses, and later answers refer to it."""
        named = hello[1] if len(hello) == 4 else None
        if type(named) is not list:
            return False
        decoded: dict[str, Any] = {}
        try:
            for pair in named:
                if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                    return False
                value = wire.decode(pair[1], self.refs)
                if not _nameable(value):
                    return False
                decoded[pair[0]] = value
        except wire.WireError:
            return False
        self.named = decoded
        return True

    def _receive_past_output(
        self, connection: wire.Connection, deadline: float | None
    ) -> list[Any]:
        """The student process's first message, replaying the output sent before it."""
        while True:
            message = connection.receive(deadline)
            if message[0] != "out":
                return message
            if len(message) != 3:
                raise wire.WireError("an output message is malformed")
            self.replay(message[1])

    def read_module(self, module: RemoteModule, name: str) -> Any:
        """``module.name`` in the student process: what its hello named, while nothing
        was asked since, else asked for."""
        value = self.named.get(name, _UNNAMED)
        if value is _UNNAMED:
            return self.request_on(module, "get", name)
        return value

    def close(self) -> None:
        """The tests are over: let the student process go."""
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def begin_test(self, test_id: str | None) -> None:
        self.scope += 1
        self.tracked.clear()
        self.tracked_ids.clear()
        self.received.clear()
        self.received_ids.clear()
        self.test = test_id
        self.test_started = time.monotonic()
        self._deadline = self.run_deadline
        if test_id is not None:
            share = self.test_started + self.time_limit_s * TEST_SHARE
            self._deadline = min(self.run_deadline, share)
        self.failure = None
        self.test_output.clear()
        self.test_output_room = TEST_OUTPUT_LIMIT
        self.pending = None

    def deadline(self) -> float:
        """When the current test (or, between tests, the run) must have its answer."""
        return self._deadline

    def _connection(self) -> wire.Connection:
        if self.connection is not None:
            return self.connection
        try:
            return self._start_again()
        except MemoryError:
            # Its hello does not fit in the judge's memory (see ``request``).
            pass
        raise self.judge_out_of_memory()

    def _start_again(self) -> wire.Connection:
        """A new student process for the one that failed; its connection."""
        if self.restarts >= MAX_RESTARTS:
            raise self.fail(
                "crashed", "Your code was restarted too many times; it was not run again."
            )
        self.restarts += 1
        sock = self.spawner.spawn()
        self.connection = wire.Connection(sock)
        try:
            message = self._receive_past_output(self.connection, self.deadline())
        except wire.Timeout:
            raise self.stopped_by_time() from None
        except (wire.PeerGone, wire.WireError):
            status = self.spawner.end()
            raise self.fail(
                "crashed", f"Your code could not be imported again ({status})."
            ) from None
        self.replay(message[-2] if len(message) >= 3 else [])
        if message[0] != "hello" or not self._remember_names(message):
            self.spawner.end()
            raise self.fail(
                "crashed", "Your code could not be imported again after the last problem."
            )
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

    def fail(self, kind: str, message: str, function: str | None = None) -> StudentFailure:
        """End the current student process and return the failure to raise."""
        if self.connection is not None:
            with contextlib.suppress(OSError):
                self.connection.close()
        self.connection = None
        self.generation += 1
        self.named = {}
        self.proxies.clear()
        self.strong.clear()
        self.callbacks.clear()
        self._callback_ids.clear()
        failure = StudentFailure(kind, bound_message(message), function)
        self.failure = failure
        self.on_failure(failure, self.test)
        return failure

    def end_student(self) -> str:
        """Kill the current student process; how it ended. What it wrote before it
        ended is still in the socket, or on its way: replayed, so a test stopped at
        its time limit or by a crash shows what it printed until then."""
        status = self.spawner.end()
        connection = self.connection
        if connection is None:
            return status
        # The process is gone, so its end of the socket is closed and what it sent
        # arrives at once; a child of it that still holds the socket gets this long.
        deadline = time.monotonic() + DRAIN_S
        with contextlib.suppress(wire.PeerGone, wire.Timeout, wire.WireError, StudentFailure):
            for _ in range(DRAIN_MESSAGES):
                message = connection.receive(deadline)
                if message[0] == "out" and len(message) == 3:
                    self.replay(message[1])
        return status

    def stopped_by_time(self) -> StudentFailure:
        self.end_student()
        if time.monotonic() >= self.run_deadline:
            limit = f"the run's {self.time_limit_s:g} s time limit was reached"
        else:
            share = self.time_limit_s * TEST_SHARE
            limit = (
                f"one test may use at most {share:g} s of the {self.time_limit_s:g} s time limit"
            )
        elapsed = time.monotonic() - self.test_started
        function = self.calling()
        where = f" in `{function}`" if function else ""
        return self.fail(
            "timeout",
            f"Stopped after {elapsed:.1f} s: {limit}. Look for a loop that never ends{where} "
            "or a call that waits forever.",
            function,
        )

    def calling(self) -> str | None:
        """The innermost student function being called that the judge can name."""
        return next(filter(None, map(_call_name, reversed(self.calls))), None)

    # Requests ----------------------------------------------------------------------

    def can_send(self, value: object) -> bool:
        try:
            wire.encode(value, SEND_CHECK)
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
        ref = target.__dict__.get("_gf_ref")
        if ref is not None and ref[0] == self.generation:
            return ref[1]  # type: ignore[no-any-return]
        generation, number = ref_of(target)
        if generation == self.generation:
            return number
        origin = target.__dict__.get("_gf_origin")
        if origin is None or self.module_proxy is None:
            raise self.stale()
        # What the tests took from the module (``from solution import f``) is taken
        # again from the student process that replaced the old one.
        self._connection()
        fresh = self.request_on(self.module_proxy, "get", origin)
        if not isinstance(fresh, Forwarding):
            raise self.stale()
        ref = ref_of(fresh)
        target.__dict__["_gf_ref"] = ref
        self.proxies[ref[1]] = weakref.ref(target)
        return ref[1]

    def request_on(self, target: object, op: str, name: str, *value: object) -> Any:
        number = self.number_of(target)
        if not value and op == "get":  # an attribute read
            return self.request(f'["get",{self.scope},{number},{wire.string_json(name)}]')
        return self.request([op, self.scope, number, name, *wire.encode_all(value, self.refs)])

    def call_method(
        self, target: object, name: str, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> Any:
        number = self.number_of(target)
        arguments = None if kwargs else wire.plain_json(args)
        message: list[Any] | str
        if arguments is not None:
            method = wire.string_json(name)
            message = f'["callm",{self.scope},{number},{method},[{arguments}],[]]'
        else:
            message = [
                "callm",
                self.scope,
                number,
                name,
                wire.encode_all(args, self.refs),
                self._keywords(kwargs) if kwargs else [],
            ]
        self.calls.append((target, name))
        try:
            return self.request(message, stops=name in ITERATION_METHODS)
        finally:
            self.calls.pop()

    def call(self, target: object, args: tuple[object, ...], kwargs: dict[str, object]) -> Any:
        number = self.number_of(target)
        arguments = None if kwargs else wire.plain_json(args)
        message: list[Any] | str
        if arguments is not None:
            message = f'["call",{self.scope},{number},[{arguments}],[]]'
        else:
            message = [
                "call",
                self.scope,
                number,
                wire.encode_all(args, self.refs),
                self._keywords(kwargs) if kwargs else [],
            ]
        self.calls.append(target)
        try:
            return self.request(message)
        finally:
            self.calls.pop()

    def _keywords(self, kwargs: dict[str, object]) -> list[list[Any]]:
        return [[name, wire.encode(value, self.refs)] for name, value in kwargs.items()]

    def operation(self, target: object, name: str, *args: object) -> Any:
        number = self.number_of(target)
        arguments = wire.plain_json(args)
        if arguments is not None:
            operation = wire.string_json(name)
            return self.request(
                f'["op",{self.scope},{number},{operation},[{arguments}]]', stops=name == "next"
            )
        message = ["op", self.scope, number, name, wire.encode_all(args, self.refs)]
        return self.request(message, stops=name == "next")

    def request(self, message: list[Any] | str, *, stops: bool = False) -> Any:
        """Send ``message`` (a list, or its JSON text) and wait for the answer.

        ``stops``: whether a StopIteration of student code may end an iteration of the
        tests (``next`` of an iterator, a generator's ``send``); anything else that
        raises it is a RuntimeError, as PEP 479 makes it in a generator: inside
        ``map``, ``filter`` or ``iter(f, end)`` of the tests it would end the iteration
        early, and ``all(map(is_prime, primes))`` pass without an answer."""
        self.asked = True
        self.last_module_read = None
        if self.named:
            self.named = {}
        if time.monotonic() >= self.run_deadline:
            # Nothing left of the run's time: not even a student process to start.
            if self.connection is not None:
                self.spawner.end()
            raise self.fail(
                "timeout",
                f"Not run: the run's {self.time_limit_s:g} s time limit was reached "
                "before this test could call your code.",
            )
        connection = self.connection
        if connection is None:
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
                result = self._receive_answer(connection)
            except MemoryError:
                # What student code sent does not fit in the judge's memory (a value, or
                # handles heaped up since): its failure, as its own MemoryError is,
                # never an exception the tests could catch (an ``assertRaises(Exception)``
                # would pass). Raised once the except block let go of what was decoded.
                result = _OUT_OF_MEMORY
            if result is _OUT_OF_MEMORY:
                raise self.judge_out_of_memory()
            if result is not _CONTINUE:
                if generation != self.generation:
                    raise self.stale()
                pending = self.pending
                if pending is not None:
                    # Raised here, and kept until the outermost call of the tests
                    # returns: a function of the tests that called student code and
                    # caught what that raised must not swallow it for good.
                    if not self.serving:
                        self.pending = None
                    raise pending
                if type(result) is _Raise:
                    exception = result.exception
                    if not stops and isinstance(exception, _STOPPING):
                        raise RuntimeError(
                            f"your code raised {type(exception).__name__} where the tests "
                            "did not iterate over it"
                        ) from None
                    raise exception
                return result

    def _receive_answer(self, connection: wire.Connection) -> Any:
        """The next message of the student process, taken (an answer, or ``_CONTINUE``)."""
        try:
            reply = connection.receive(self._deadline)
        except wire.Timeout:
            raise self.stopped_by_time() from None
        except wire.PeerGone:
            raise self.crashed() from None
        except wire.WireError as exc:
            self.spawner.end()
            raise self.fail(
                "crashed", f"Your program sent something the tests cannot read ({exc})."
            ) from None
        try:
            return self._answer(reply)
        except wire.WireError as exc:
            self.spawner.end()
            raise self.fail(
                "crashed", f"Your program sent something the tests cannot read ({exc})."
            ) from None

    def judge_out_of_memory(self) -> StudentFailure:
        self.spawner.end()
        return self.fail(
            "memory_limit",
            "Your code sent the tests more than the memory they may use can hold "
            "(values, objects or classes of your code), so it was stopped.",
        )

    def crashed(self) -> StudentFailure:
        status = self.end_student()
        where = f" while running {self.test}" if self.test else ""
        if self.spawner.exceeded_memory():
            # Killed by the kernel for its cgroup's memory.max: all of its processes
            # together, which RLIMIT_AS (one process at a time) does not see.
            return self.fail(
                "memory_limit",
                f"Your code used more than the {self.memory_mb} MB of memory it may use{where}, "
                "so it was stopped.",
            )
        return self.fail("crashed", f"Your program exited{where} ({status}).")

    def _answer(self, reply: list[Any]) -> Any:
        kind = reply[0]
        if type(kind) is not str or len(reply) < 3:
            raise wire.WireError("a reply is malformed")
        # Most replies have no output and no container to update: two empty lists.
        events = reply[-2]
        if type(events) is not list or events:
            self.replay(events)
        updates = reply[-1]
        if type(updates) is not list or updates:
            self.write_back(updates)
        if kind == "ok" and len(reply) == 4:
            value = reply[1]
            plain = type(value)
            if plain is int or plain is str or plain is float or plain is bool or value is None:
                return value
            return wire.decode(value, self.refs)
        if kind == "err" and len(reply) == 4:
            return _Raise(self.exception(reply[1]))
        if kind == "mem":
            self.spawner.end()
            raise self.fail(
                "memory_limit",
                f"MemoryError: your code used more than the {self.memory_mb} MB of memory it may use.",
            )
        if kind == "out" and len(reply) == 3:  # written before its answer, as it was
            return _CONTINUE
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
        self._answer_student(lambda: perform(target, *decoded_args, **decoded_kwargs))

    def _serve_input(self, prompt: object) -> None:
        def ask() -> str:
            value = builtins.input() if prompt is None else builtins.input(str(prompt))
            if not isinstance(value, str):
                raise TypeError("input() returned something other than a string")
            return value

        self._answer_student(ask)

    def _answer_student(self, perform: Callable[[], object]) -> None:
        """Run the tests' code student code asked for, and send back what it gave."""
        self.serving += 1
        try:
            encoded = wire.encode(perform(), self.refs)
        except StudentFailure:
            raise
        except BaseException as exc:
            if isinstance(exc, STICKY) and self.pending is None:
                self.pending = exc
            self._reply(["err", [type(exc).__name__, exception_text(exc)]])
            return
        finally:
            self.serving -= 1
        self._reply(["ok", encoded])

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
                    self._keep_output(event[1])
                    stream.write(event[1])
                elif event[0] == "p" and len(event) == 4 and type(event[1]) is list:
                    self._print(event[1], event[2], event[-1])
            except (wire.WireError, StudentFailure):
                raise
            except Exception as exc:  # the tests closed or replaced their output
                # A print the tests patched to fail ("must not print") fails the test
                # as it would have in student code: raised again when the call returns.
                if isinstance(exc, STICKY) and self.pending is None:
                    self.pending = exc
                continue
        if events:
            # Written through now, as the student's own process would have: a run
            # killed at its time limit still shows what its code printed.
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()

    def _print(self, args: list[Any], given: object, stream: str) -> None:
        values = [
            arg if type(arg) in (str, int, float, bool) or arg is None else str(arg) for arg in args
        ]
        options: dict[str, Any] = {}
        for pair in given if type(given) is list else []:
            if type(pair) is list and len(pair) == 2 and pair[0] in ("sep", "end"):
                value = pair[1]
                options[pair[0]] = value if value is None else str(value)
        if stream == "e":
            options["file"] = sys.stderr
        if self.test_output_room > 0:
            sep, end = options.get("sep"), options.get("end")
            text = (" " if sep is None else sep).join(str(value) for value in values)
            self._keep_output(text + ("\n" if end is None else end))
        builtins.print(*values, **options)

    def _keep_output(self, text: str) -> None:
        if self.test is not None and self.test_output_room > 0:
            self.test_output.append(text[: self.test_output_room])
            self.test_output_room -= len(text)

    def take_test_output(self) -> str:
        """What the student's code printed during the current test (bounded, marked
        where it was cut)."""
        text = "".join(self.test_output)
        return text + "…" if self.test_output_room < 0 else text

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
            if (type(original) is list and type(state) is list) or (
                type(original) is bytearray and type(state) is bytes
            ):
                original[:] = state
            elif type(original) in (dict, set) and type(state) is type(original):
                original.clear()  # type: ignore[attr-defined]
                original.update(state)  # type: ignore[attr-defined]
            else:
                raise wire.WireError("a container update has the wrong type")

    def bound_method(self, value: list[Any]) -> BoundMethod:
        if len(value) != 2 or type(value[0]) is not int or type(value[1]) is not str:
            raise wire.WireError("a method is malformed")
        known = self.proxies.get(value[0])
        target = known() if known is not None else None
        if target is None:
            raise wire.WireError("a method of an object the tests do not hold")
        if (
            isinstance(type(target), RemoteClassMeta)
            and len(self.methods) < MAX_METHODS
            and code_name(value[1]) is not None
        ):
            # Its class defines it as a method: later reads need not ask. Bounded, as
            # everything the judge keeps for the run of what student code sent.
            self.methods.add((type(target), value[1]))
        return BoundMethod(target, value[1])

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
            obj = object.__new__(cls) if not issubclass(cls, BaseException) else cls.__new__(cls)
            obj.__dict__["_gf_ref"] = (self.generation, number)
        elif kind in ("o", "f") and type(extra) is str:
            obj = object.__new__(generic_class(extra[:100], kind == "f"))
            obj.__dict__["_gf_ref"] = (self.generation, number)
        elif kind == "f" and type(extra) is list and len(extra) == 2 and type(extra[1]) is int:
            obj = object.__new__(generic_class("function", True))
            obj.__dict__["_gf_ref"] = (self.generation, number)
            obj.__dict__["__code__"] = CodeFlags(extra[1])
        else:
            raise wire.WireError("a handle is malformed")
        self._remember_proxy(number, obj)
        return obj

    def _remember_proxy(self, number: int, obj: object) -> None:
        """Keep ``obj`` as the proxy of handle ``number``, weakly. The table would
        otherwise keep an entry for every handle ever sent, alive or not, and a student
        process sending millions would fill the judge's memory for the run."""
        proxies = self.proxies
        proxies[number] = weakref.ref(obj)
        if len(proxies) >= self._purge_at:
            live = {key: ref for key, ref in proxies.items() if ref() is not None}
            proxies.clear()
            proxies.update(live)
            self._purge_at = max(PURGE_PROXIES, 2 * len(live))

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
        if self.classes_made >= MAX_CLASSES:
            raise wire.WireError(f"more than {MAX_CLASSES} classes")
        self.classes_made += 1
        base_classes: list[type] = []
        for base in bases:
            base_class = self.proxy(base[1:]) if type(base) is list and base[:1] == ["h"] else None
            if not isinstance(base_class, RemoteClassMeta):
                raise wire.WireError("a base class is not a class")
            base_classes.append(base_class)
        exception = wire.EXCEPTIONS.get(builtin_base) if type(builtin_base) is str else None
        root: type = RemoteException if exception is not None else RemoteObject
        candidates: list[tuple[type, ...]] = [tuple(base_classes) or (root,)]
        if exception is not None:
            candidates[0] = (*candidates[0], exception)
            candidates.append((RemoteException, exception))
        candidates.append((root,))
        namespace = {
            "_gf_ref": (self.generation, number),
            "__module__": self.module if ours is True else "builtins",
            "__qualname__": qualname[:200],
        }
        cls: type = root
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
                return self._interrupted()
            decoded = self._exception_args(args, message)
            try:
                exc = cls(*decoded)
            except Exception:
                exc = cls(str(message))
        elif data[0] == "s" and len(data) == 6:
            _, cls_ref, obj_ref, args, message, line = data
            try:  # as inside a value: what the class cannot be made of is malformed
                proxy_class = self.proxy(cls_ref[1:]) if type(cls_ref) is list else None
            except (TypeError, ValueError) as error:
                raise wire.WireError(f"an exception class is malformed: {error}") from None
            if not isinstance(proxy_class, RemoteClassMeta) or not issubclass(
                proxy_class, BaseException
            ):
                raise wire.WireError("an exception class is not an exception")
            if issubclass(proxy_class, KeyboardInterrupt):
                # unittest re-raises a KeyboardInterrupt without recording it: the test
                # it stopped would be reported as passed, and the run would end.
                return self._interrupted()
            cls = proxy_class
            decoded_args = tuple(self._exception_args(args, message))
            try:
                exc = cls.__new__(cls)
            except TypeError:  # a class that wants its arguments (an ExceptionGroup's)
                try:
                    exc = cls.__new__(cls, *decoded_args)
                except (TypeError, ValueError) as error:
                    raise wire.WireError(f"an exception is malformed: {error}") from None
            exc.args = decoded_args
            exc.__dict__["_gf_message"] = str(message)
            number = obj_ref[1] if type(obj_ref) is list and len(obj_ref) > 1 else None
            if type(number) is not int:
                raise wire.WireError("an exception handle is malformed")
            exc.__dict__["_gf_ref"] = (self.generation, number)
            self._remember_proxy(number, exc)
        else:
            raise wire.WireError("an exception is malformed")
        exc.__dict__["_gf_line"] = line if type(line) is int else None
        return exc

    def _interrupted(self) -> StudentFailure:
        """Student code raised KeyboardInterrupt (or a class of its own derived from
        it), which must never reach unittest: the test fails as a crash."""
        self.spawner.end()
        return self.fail("crashed", "Your code raised KeyboardInterrupt, which stops the tests.")

    def _exception_args(self, args: object, message: object) -> list[Any]:
        if type(args) is not list:
            raise wire.WireError("exception arguments are malformed")
        try:
            return [wire.decode(arg, _PLAIN_ONLY) for arg in args]
        except wire.WireError:
            return [str(message)]


def _nameable(value: object) -> bool:
    """Whether ``value`` is what a hello may name: a function or a class of the
    student's module, as ``Student.named_objects`` sends them. Anything else (a plain
    value, say) is read only by asking: the tests would use it without having asked
    the student process anything, so an error it caused while they load would be
    reported as the tests' own (``tests_error``), not the student's."""
    if isinstance(value, RemoteClassMeta):
        return True
    return isinstance(value, RemoteObject) and isinstance(value.__dict__.get("__code__"), CodeFlags)


def _call_name(called: object) -> str | None:
    """A name for what ``Session.calls`` holds, from what the judge holds, never by
    asking the student process: a class by its proxy's name, a function by the module
    name the tests took it by, a method by its name and its class's proxy's."""
    if type(called) is tuple:
        target, name = called
        cls = type(target)
        owner = cls.__qualname__ if isinstance(cls, RemoteClassMeta) else None
        return code_name(f"{owner}.{name}" if owner else name)
    if isinstance(called, RemoteClassMeta):
        return code_name(called.__qualname__)
    return code_name(called.__dict__.get("_gf_origin"))


JUDGE_OPERATIONS: dict[str, Callable[..., Any]] = {
    "call": lambda target, *args, **kwargs: target(*args, **kwargs),
    "len": len,
    "getitem": lambda target, key: target[key],
    "iter": iter,
    "next": next,
    "contains": lambda target, item: item in target,
    "bool": bool,
}


class _Raise:
    def __init__(self, exception: BaseException) -> None:
        self.exception = exception


_STOPPING = (StopIteration, StopAsyncIteration)
_CONTINUE = object()
_OUT_OF_MEMORY = object()
_UNNAMED = object()
_PLAIN_ONLY = wire.Refs()
