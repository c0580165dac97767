"""The student process of a run: import the student module, answer the judge's calls.

It holds nothing of the tests: it sees its own module and the support files, and
learns only what the judge sends it (arguments, attribute names, the values it is
asked to combine with). Everything it returns crosses the wire as plain data
(``wire.encode``) or as a handle, a number naming an object kept here.

What the judge sends back is decoded as plain data too, with three references:
handles of our own objects, call-only stubs for the tests' functions, and copies
of the tests' lists, dicts, sets and bytearrays whose later state is sent back with
every message, so the tests see what student code did to them.

Standard library only: it runs inside the jail (``python -I -S``).
"""

from __future__ import annotations

import _thread
import builtins
import contextlib
import gc
import importlib.util
import io
import mmap
import operator
import os
import socket
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, NoReturn

from gradeflow.grading.sandbox.jailed import wire

# Released on MemoryError, so that reporting it has memory to work with.
RESERVE_BYTES = 512 * 1024
# The most functions and classes of the module the hello names (any other is asked for).
NAMED_LIMIT = 256
_PLAIN_BASES = (int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)
# The operations the judge may ask for by name, each applied to the handle's object.
OPERATIONS: dict[str, Any] = {
    "len": len,
    "iter": iter,
    "next": next,
    "reversed": reversed,
    "repr": repr,
    "str": str,
    "format": format,
    "hash": hash,
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "index": operator.index,
    "round": round,
    "abs": abs,
    "neg": operator.neg,
    "pos": operator.pos,
    "invert": operator.invert,
    "getitem": operator.getitem,
    "setitem": operator.setitem,
    "delitem": operator.delitem,
    "contains": lambda obj, item: item in obj,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "enter": lambda obj: type(obj).__enter__(obj),
    "exit": lambda obj, *args: type(obj).__exit__(obj, *args),
    "dir": lambda obj: sorted(str(name) for name in dir(obj)),
}
for _name in wire.BINARY_OPERATORS:
    _function = {"and": operator.and_, "or": operator.or_, "divmod": divmod}.get(
        _name, getattr(operator, _name, None)
    )
    OPERATIONS[_name] = _function
    OPERATIONS[f"r{_name}"] = lambda obj, other, _f=_function: _f(other, obj)


class JudgeObject:
    """An object of the tests (a function, a sequence, ...) as student code sees it.

    It answers calls and the container protocol (``len``, indexing, iteration,
    ``in``, truth), each performed by the judge on its object; it has no attributes,
    so nothing of the judge's process can be reached through it.
    """

    __slots__ = ("_id", "_student")

    def __init__(self, number: int, student: Student) -> None:
        self._id = number
        self._student = student

    def _ask(self, operation: str, *args: object, **kwargs: object) -> Any:
        return self._student.ask_judge(self._id, operation, args, kwargs)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._ask("call", *args, **kwargs)

    def __len__(self) -> int:
        value = self._ask("len")
        if type(value) is not int:
            raise TypeError("len() of the tests' object is not an integer")
        return value

    def __getitem__(self, key: object) -> object:
        return self._ask("getitem", key)

    def __iter__(self) -> object:
        return self._ask("iter")

    def __next__(self) -> object:
        return self._ask("next")

    def __contains__(self, item: object) -> bool:
        return bool(self._ask("contains", item))

    def __bool__(self) -> bool:
        return bool(self._ask("bool"))

    def __repr__(self) -> str:
        # Said here: the tests' object's own repr could show what it holds.
        return "<object of the tests>"


class Output:
    """Student output, sent to the judge (which replays it) as soon as it is written.

    Not kept until the next message: a process killed at its time limit, or one
    that exits or crashes, would take what it printed before with it, and that is
    the output that explains the problem. ``flush`` is ``Student.send_output``.
    """

    def __init__(self, limit: int) -> None:
        self.events: list[list[Any]] = []
        self._room = {"o": limit, "e": limit}
        self.flush: Callable[[], None] = lambda: None

    def write(self, text: str, stream: str) -> None:
        room = self._room[stream]
        if room <= 0 or not text:
            return
        self._room[stream] = room - len(text)
        self.events.append(["w", text[:room], stream])
        self.flush()

    def print(self, args: tuple[object, ...], options: dict[str, str | None], stream: str) -> None:
        """A ``print`` call, replayed as the same call by the judge (where a test may
        have patched ``print``); only the keyword arguments given are sent."""
        shown = [
            arg if type(arg) in (str, int, float, bool) or arg is None else str(arg) for arg in args
        ]
        sep = options.get("sep")
        end = options.get("end")
        separator = " " if sep is None else sep
        text_size = sum(len(str(arg)) for arg in shown) + len(separator) * max(0, len(shown) - 1)
        size = text_size + len("\n" if end is None else end)
        room = self._room[stream]
        if size <= room:
            self._room[stream] = room - size
            self.events.append(
                ["p", shown, [[name, value] for name, value in options.items()], stream]
            )
            self.flush()
        elif room > 0:  # the part that fits, as text
            line = separator.join(str(arg) for arg in shown) + ("\n" if end is None else end)
            self.write(line[:room], stream)

    def take(self) -> list[list[Any]]:
        events, self.events = self.events, []
        return events


class CapturedStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of student code: text goes to the judge."""

    def __init__(self, output: Output, stream: str, fd: int) -> None:
        self._output = output
        self._stream = stream
        self._fd = fd
        # Bytes (sys.stdout.buffer) go straight to the run's pipe, as fd-level writes do.
        self.buffer = io.FileIO(fd, "w", closefd=False)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._output.write(text, self._stream)
        return len(text)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class Refs(wire.Refs):
    """The student side of the codec: our objects go out as handles."""

    def __init__(self, student: Student) -> None:
        self.student = student

    def local(self, obj: object, depth: int) -> list[Any]:
        if isinstance(obj, JudgeObject):
            return ["cb", obj._id]
        if isinstance(obj, MethodOf):
            return ["bm", obj.number, obj.name]
        if isinstance(obj, _PLAIN_BASES) and not isinstance(obj, BaseException):
            # A subclass of a plain type crosses as its plain value: whatever its
            # methods say about equality, the judge compares the value.
            encoded: list[Any] = wire.encode(_plain_value(obj), self, depth)
            return encoded
        return self.student.handle(obj)

    def remote(self, tag: str, value: list[Any]) -> object:
        student = self.student
        if tag == "h":
            return student.object_of(value[0])
        if tag == "cb":
            if type(value[0]) is not int:
                raise wire.WireError("a callback id is not an integer")
            # One stub per function, so that student code can recognise it again
            # (``callbacks.remove(f)``).
            stub = student.stubs.get(value[0])
            if stub is None:
                stub = student.stubs[value[0]] = JudgeObject(value[0], student)
            return stub
        if tag == "bm":  # a method the judge got from us, given back
            return getattr(student.object_of(value[0]), _name_of(value[1]))
        if tag in ("jr", "sr"):
            return student.shared_container(tag[0], value[0])
        if tag in _CONTAINERS:
            return student.receive_container(tag, value, self)
        raise wire.WireError(f"unknown reference {tag!r}")

    def tracked(self, obj: object, depth: int) -> list[Any] | None:
        if type(obj) in _CONTAINER_TYPES:
            return self.student.share(obj, self, depth)
        return None


_CONTAINERS = {"jl": list, "jd": dict, "js": set, "jb": bytearray}
_CONTAINER_TYPES = (list, dict, set, bytearray)
# Tags of our own containers as the judge receives them (it rebuilds them as copies).
_OUR_TAGS: dict[type, str] = {list: "sl", dict: "sd", set: "ss", bytearray: "sb"}


_TAGS: dict[type, str] = {list: "l", dict: "d", set: "s", bytearray: "b"}
# sys.getrefcount of a shared container in Student.updates when only the sharing
# table holds it: the table's entry, the loop's variable and the call's argument.
_HELD_HERE_ONLY = 3


def _snapshot(container: Any) -> Any:
    return type(container)(container)


def _plain_value(obj: object) -> object:
    """The value of a subclass instance of a plain type, read through the base type."""
    conversions: tuple[tuple[type, Any], ...] = (
        (bool, bool),
        (int, int.__int__),
        (float, float.__float__),
        (complex, complex.__complex__),
        (str, str.__str__),
        (bytes, lambda value: bytes.__getitem__(value, slice(None))),
        (bytearray, lambda value: bytearray(memoryview(value))),
        (tuple, lambda value: tuple(tuple.__iter__(value))),
        (list, lambda value: list(list.__iter__(value))),
        (dict, lambda value: dict(dict.items(value))),
        (set, lambda value: set(set.__iter__(value))),
        (frozenset, lambda value: frozenset(frozenset.__iter__(value))),
    )
    for base, convert in conversions:
        if isinstance(obj, base):
            return convert(obj)
    return obj


class Student:
    """The student module and every object of it the judge holds a handle to."""

    def __init__(self, connection: wire.Connection, module_name: str, output: Output) -> None:
        self.connection = connection
        self.module_name = module_name
        self.output = output
        self.refs = Refs(self)
        self.module: types.ModuleType | None = None
        self.objects: list[object] = []  # handle -> object; kept alive for the run
        self._handles: dict[int, int] = {}  # id(object) -> handle
        self._described: set[int] = set()  # handles of classes the judge knows
        self.stubs: dict[int, JudgeObject] = {}
        self.scope: object = None
        # Containers shared with the judge during the current test, by (side, number):
        # "j" the tests' (numbered by the judge), "s" ours that the judge received.
        # Each with a shallow copy of what the judge last heard of it.
        self.shared: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.shared_ids: dict[int, tuple[str, int]] = {}  # id(container) -> key
        self.retired: dict[tuple[str, int], Any] = {}  # shared ones student code let go
        self._next_sid = 0
        # One message at a time on the socket: threads of student code print too. The
        # sending thread is known, so that output written while it sends (by a
        # student __eq__ asked for an update, or a signal handler) waits for the
        # next message instead of deadlocking or cutting into the frame being sent.
        self._sending = _thread.allocate_lock()
        self._sender: int | None = None
        output.flush = self.send_output

    # Handles ---------------------------------------------------------------

    def handle(self, obj: object) -> list[Any]:
        number = self._handles.get(id(obj))
        if number is None:
            number = len(self.objects)
            self.objects.append(obj)
            self._handles[id(obj)] = number
        if isinstance(obj, type):
            return ["h", number, "c", self._describe_class(number, obj)]
        if isinstance(obj, types.ModuleType):
            return ["h", number, "m", obj.__name__]
        cls = type(obj)
        if self._is_ours(cls):
            return ["h", number, "o", self.handle(cls)]
        if isinstance(obj, types.FunctionType):
            # Its code's flags too: inspect.isgeneratorfunction(f) and the like read them.
            return ["h", number, "f", [cls.__name__, obj.__code__.co_flags]]
        kind = "f" if callable(obj) and not hasattr(obj, "__next__") else "o"
        return ["h", number, kind, cls.__name__]

    def named_objects(self) -> list[list[Any]]:
        """``[name, value]`` of the module's own functions and classes, as a ``get`` of
        each would answer (handles), for the judge to take without asking: the tests
        import them by name (``from solution import f``) before any of them runs."""
        module = self.module
        named: list[list[Any]] = []
        if module is None:
            return named
        for name, value in list(vars(module).items()):
            if len(named) >= NAMED_LIMIT:
                break
            if (
                type(name) is str
                and not name.startswith("_")
                and isinstance(value, types.FunctionType | type)
                and self._is_ours(value)
            ):
                named.append([name, wire.encode(value, self.refs)])
        return named

    def object_of(self, number: object) -> object:
        if type(number) is not int or not 0 <= number < len(self.objects):
            raise wire.WireError("no such handle")
        return self.objects[number]

    def _is_ours(self, cls: object) -> bool:
        return getattr(cls, "__module__", None) == self.module_name

    def _describe_class(self, number: int, cls: type) -> list[Any] | None:
        if number in self._described:
            return None
        self._described.add(number)
        bases = [self.handle(base) for base in cls.__bases__ if self._is_ours(base)]
        builtin_base = next(
            (base.__name__ for base in cls.__mro__ if wire.EXCEPTIONS.get(base.__name__) is base),
            None,
        )
        return [str(cls.__name__), str(cls.__qualname__), self._is_ours(cls), builtin_base, bases]

    # The tests' containers ---------------------------------------------------

    def receive_container(self, tag: str, value: list[Any], refs: Refs) -> object:
        """One of the tests' containers, as our copy of it."""
        jid, *items = value
        if type(jid) is not int or ("j", jid) in self.shared:
            raise wire.WireError("a container id is malformed or was sent twice")
        kind = _CONTAINERS[tag]
        container: Any
        if kind is bytearray:
            container = bytearray(wire.decode(["b", *items], refs))
        elif kind is dict:
            container = dict(wire.decode(["d", *items], refs))
        else:
            container = kind(wire.decode(["l", *items], refs))
        self._remember(("j", jid), container)
        return container

    def share(self, container: Any, refs: Refs, depth: int) -> list[Any]:
        """How a container crosses: a reference if the judge knows it, else as a copy
        that the judge keeps in step with ours until the test ends."""
        key = self.shared_ids.get(id(container))
        if key is not None:
            if key in self.retired:
                self._remember(key, self.retired.pop(key))
            return [key[0] + "r", key[1]]
        sid = self._next_sid
        self._next_sid += 1
        self._remember(("s", sid), container)
        return [_OUR_TAGS[type(container)], sid, *self._contents(container, refs, depth + 1)]

    def _remember(self, key: tuple[str, int], container: Any) -> None:
        self.shared[key] = (container, _snapshot(container))
        self.shared_ids[id(container)] = key

    def _contents(self, container: Any, refs: Refs, depth: int) -> list[Any]:
        if type(container) is dict:
            return wire._pairs(container, refs, depth)
        if type(container) is bytearray:
            return wire.encode(bytes(container), refs)[1:]  # type: ignore[no-any-return]
        return wire.encode_items(container, refs, depth)

    def shared_container(self, side: str, number: object) -> object:
        if type(number) is not int:
            raise wire.WireError("a container id is not an integer")
        key = (side, int(number))
        entry = self.shared.get(key)
        if entry is not None:
            return entry[0]
        container = self.retired.pop(key, None)
        if container is None:
            raise wire.WireError("no such container")
        self._remember(key, container)  # back in student code's hands
        return container

    def updates(self) -> list[Any]:
        """``[side, number, state]`` of each shared container changed since last said."""
        if not self.shared:
            return []
        changed = []
        for key, entry in list(self.shared.items()):
            container, snapshot = entry
            if sys.getrefcount(container) <= _HELD_HERE_ONLY:
                # Nothing of student code holds it any more, so after this last look
                # nothing can change it: it is no longer compared (which made every
                # message cost as much as all the containers of the test together).
                del self.shared[key]
                self.retired[key] = container
            try:
                same = bool(container == snapshot)
            except Exception:
                same = False
            if same:
                continue
            kind = _TAGS[type(container)]
            try:
                state = [kind, *self._contents(container, self.refs, 1)]
            except (TypeError, ValueError):
                continue  # holds something that cannot cross: the judge keeps the old state
            if key in self.shared:
                self.shared[key] = (container, _snapshot(container))
            changed.append([key[0], key[1], state])
        return changed

    def enter_scope(self, scope: object) -> None:
        """A new test: the containers of the last one are no longer kept in step."""
        if scope != self.scope:
            self.scope = scope
            self.shared.clear()
            self.shared_ids.clear()
            self.retired.clear()

    # Talking to the judge -----------------------------------------------------

    def send(self, kind: str, *fields: Any) -> None:
        updates = self.updates()  # may run student code, which may print: taken after
        self.send_frame([kind, *fields, self.output.take(), updates])

    def send_frame(self, message: list[Any] | str) -> None:
        """Send a message (or its JSON text), the only one on the socket meanwhile."""
        me = _thread.get_ident()
        if self._sender == me:  # code run while this thread sends: a signal handler
            raise RuntimeError("your code cannot talk to the tests while a message is being sent")
        with self._sending:
            self._sender = me
            try:
                self.connection.send(message)
            finally:
                self._sender = None

    def send_output(self) -> None:
        """What student code wrote, as an ``out`` message of its own, now."""
        me = _thread.get_ident()
        if self._sender == me:
            return  # written while this thread sends: it goes with the next message
        with self._sending:
            self._sender = me
            try:
                if self.output.events:
                    with contextlib.suppress(wire.PeerGone, wire.TooLarge):
                        self.connection.send(["out", self.output.take(), []])
            finally:
                self._sender = None

    def ask_judge(
        self, number: int, operation: str, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        encoded_args = [wire.encode(arg, self.refs) for arg in args]
        encoded_kwargs = [
            [str(name), wire.encode(value, self.refs)] for name, value in kwargs.items()
        ]
        self.send("jo", number, operation, encoded_args, encoded_kwargs)
        return self.wait_for_judge()

    def input(self, prompt: object = None) -> str:
        self.send("in", None if prompt is None else str(prompt))
        value = self.wait_for_judge()
        if not isinstance(value, str):
            raise TypeError("input() of the tests returned something other than a string")
        return value

    def wait_for_judge(self) -> object:
        """The judge's answer to our request, serving its own requests meanwhile."""
        while True:
            message = self.connection.receive()
            kind = message[0]
            if kind == "ok":
                return wire.decode(message[1], self.refs)
            if kind == "err":
                raise judge_exception(message[1])
            self.serve_one(message)

    # Serving -----------------------------------------------------------------

    def serve_forever(self) -> NoReturn:
        receive, serve_one = self.connection.receive, self.serve_one
        while True:
            serve_one(receive())

    def serve_one(self, message: list[Any]) -> None:
        try:
            result = self.perform(message)
            encoded = wire.encode(result, self.refs)
        except MemoryError:
            release_reserve()
            self.send("mem")
            return
        except wire.WireError:
            raise
        except BaseException as exc:  # every exception of student code is the judge's to see
            self.send("err", self.describe(exc))
            return
        try:
            text = None if self.output.events or self.shared else wire.plain_json((encoded,))
            if text is not None:  # no output, no shared container: what send would write
                self.send_frame(f'["ok",{text},[],[]]')
            else:
                self.send("ok", encoded)
        except wire.TooLarge as exc:
            too_large = ValueError(
                f"the value your code returned is too large for the tests: {exc}"
            )
            self.send("err", self.describe(too_large))

    def perform(self, message: list[Any]) -> object:
        op, scope, number, *rest = message
        if scope != self.scope:
            self.enter_scope(scope)
        target = self.object_of(number)
        request = _REQUESTS.get(op) if type(op) is str else None
        if request is None:
            raise wire.WireError("unknown request")
        return request(self, target, number, rest)

    def _get(self, target: object, number: int, rest: list[Any]) -> object:
        name = _name_of(rest[0])
        value = getattr(target, name)
        if _is_method_of(value, target, name):
            return MethodOf(number, name)
        return value

    def _call_method(self, target: object, number: int, rest: list[Any]) -> object:
        # Decoded before the method is looked up, which runs student code that may
        # raise: the tests' containers among them must be known here all the same.
        args = wire.decode_all(rest[1], self.refs)
        kwargs = self._keywords(rest[2]) if rest[2] else None
        method = getattr(target, _name_of(rest[0]))
        return method(*args) if kwargs is None else method(*args, **kwargs)

    def _set(self, target: object, number: int, rest: list[Any]) -> None:
        setattr(target, _name_of(rest[0]), wire.decode(rest[1], self.refs))

    def _delete(self, target: object, number: int, rest: list[Any]) -> None:
        delattr(target, _name_of(rest[0]))

    def _call(self, target: Any, number: int, rest: list[Any]) -> object:
        args = wire.decode_all(rest[0], self.refs)
        if rest[1]:
            return target(*args, **self._keywords(rest[1]))
        return target(*args)

    def _operation(self, target: object, number: int, rest: list[Any]) -> object:
        operation = OPERATIONS.get(rest[0]) if type(rest[0]) is str else None
        if operation is None:
            raise wire.WireError("unknown operation")
        return operation(target, *wire.decode_all(rest[1], self.refs))

    def _keywords(self, pairs: list[Any]) -> dict[str, Any]:
        return {_name_of(name): wire.decode(value, self.refs) for name, value in pairs}

    def describe(self, exc: BaseException) -> list[Any]:
        """An exception of student code as the judge rebuilds it."""
        message = exception_text(exc)
        line = wire.line_in(exc.__traceback__, self.module_path())
        try:
            args = [wire.encode(arg, _PLAIN_ONLY) for arg in exc.args]
        except (TypeError, ValueError):
            args = [message]
        cls = type(exc)
        if self._is_ours(cls):
            return ["s", self.handle(cls), self.handle(exc), args, message, line]
        return ["b", wire.exception_name(cls), args, message, line]

    def module_path(self) -> str:
        return os.path.join(os.getcwd(), f"{self.module_name}.py")


_PLAIN_ONLY = wire.Refs()
# What the judge may ask of one of our objects, by the request's first field.
_REQUESTS: dict[str, Callable[[Student, Any, int, list[Any]], object]] = {
    "get": Student._get,
    "callm": Student._call_method,
    "set": Student._set,
    "del": Student._delete,
    "call": Student._call,
    "op": Student._operation,
}


class MethodOf:
    """A plain method of an object the judge holds: it crosses as (object, name), so
    that calling it later is one request and leaves no handle behind."""

    __slots__ = ("name", "number")

    def __init__(self, number: int, name: str) -> None:
        self.number = number
        self.name = name


def _is_method_of(value: object, target: object, name: str) -> bool:
    """Whether ``value`` is ``target.name`` as a method defined by its class."""
    return (
        isinstance(value, types.MethodType)
        and value.__self__ is target
        and isinstance(getattr(type(target), name, None), types.FunctionType)
        and name not in getattr(target, "__dict__", {})
    )


def _name_of(value: object) -> str:
    if type(value) is not str:
        raise wire.WireError("an attribute name is not a string")
    return str(value)


def judge_exception(data: object) -> BaseException:
    """An exception the judge's code raised, rebuilt as a builtin exception."""
    if type(data) is not list or len(data) != 2:
        raise wire.WireError("an exception is malformed")
    name, message = data
    cls = wire.EXCEPTIONS.get(name) if type(name) is str else None
    if cls is None or not issubclass(cls, Exception):
        cls = RuntimeError
    try:
        return cls(str(message))
    except BaseException:
        return RuntimeError(str(message))


def exception_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "(the exception could not be displayed)"
    return wire.bound_message(text)


_reserve: mmap.mmap | None = None


def release_reserve() -> None:
    global _reserve
    if _reserve is not None:
        _reserve.close()
    _reserve = None
    gc.collect()


def describe_import_error(exc: BaseException, student_path: str) -> str:
    try:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except BaseException:
        text = f"{type(exc).__name__}: (the exception could not be displayed)"
    text = text.replace(os.path.dirname(student_path) + os.sep, "")
    line = wire.line_in(exc.__traceback__, student_path)
    if line is not None:
        text += f" (line {line} of {os.path.basename(student_path)})"
    return text


def serve(channel_fd: int, module_name: str, output_limit: int) -> NoReturn:
    """Import the student module, say how that went, then answer the judge; never returns."""
    global _reserve
    connection = wire.Connection(socket.socket(fileno=channel_fd))
    _reserve = mmap.mmap(-1, RESERVE_BYTES, flags=mmap.MAP_PRIVATE)
    output = Output(output_limit)
    student = Student(connection, module_name, output)
    sys.stdout = CapturedStream(output, "o", 1)
    sys.stderr = CapturedStream(output, "e", 2)
    original_print = builtins.print

    def student_print(*args: object, **options: Any) -> None:
        target = options.get("file")
        target = sys.stdout if target is None else target
        unknown = set(options) - {"sep", "end", "file", "flush"}
        if unknown or not isinstance(target, CapturedStream):
            original_print(*args, **options)
            return
        given: dict[str, str | None] = {
            name: options[name] for name in ("sep", "end") if name in options
        }
        for name, value in given.items():
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be None or a string, not {type(value).__name__}")
        output.print(args, given, target._stream)

    builtins.print = student_print
    builtins.input = student.input
    path = student.module_path()
    sys.path.insert(0, os.getcwd())
    try:
        with open(path, "rb") as file:
            source = file.read()
        try:
            code = compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = f" on line {exc.lineno}" if exc.lineno else ""
            student.send("syntax_error", exc.lineno, f"{type(exc).__name__}{where}: {exc.msg}")
            finish(connection)
        except ValueError as exc:  # NUL bytes in the source
            student.send("syntax_error", None, f"SyntaxError: {exc}")
            finish(connection)
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        student.module = module
        try:
            exec(code, module.__dict__)  # noqa: S102 (importing the student's module)
        except MemoryError:
            release_reserve()
            student.send("mem")
            finish(connection)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are the student's too
            message = f"Importing your code raised {describe_import_error(exc, path)}"
            line = wire.line_in(exc.__traceback__, path)
            student.send("import_error", wire.bound_message(message), line)
            finish(connection)
        student.handle(module)  # handle 0
        student.send("hello", student.named_objects())
        student.serve_forever()
    except wire.PeerGone:
        pass
    except wire.WireError as exc:
        # The judge's messages come from our own code: say what went wrong.
        with contextlib.suppress(OSError):
            os.write(2, f"gradeflow student process: {exc}\n".encode())
    except MemoryError:
        release_reserve()
        with contextlib.suppress(BaseException):
            student.send("mem")
    os._exit(0)


def finish(connection: wire.Connection) -> NoReturn:
    """After a failed import: wait until the judge lets go, then exit."""
    with contextlib.suppress(BaseException):
        connection.sock.recv(1)
    os._exit(0)


def main(args: list[str]) -> NoReturn:
    """Entry point of an unjailed student process (``ProcessSandbox``):
    ``CHANNEL_FD MODULE OUTPUT_LIMIT ADDRESS_SPACE_BYTES``."""
    import resource

    # Below the judge's, which it inherited.
    limit = int(args[3])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    serve(int(args[0]), args[1], int(args[2]))
