"""The judge↔student wire: length-prefixed JSON frames and the tagged value codec.

Both jailed processes of a run import this. Values cross as JSON where JSON is
exact (None, bool, int within 64 bits, float, str) and as a list whose first
element is a tag otherwise, so the decoder rebuilds *exact* builtin and standard
library value types and nothing else: no pickle, marshal, eval or lookups by a
name the other side chose (names are looked up in fixed tables below). Objects
that are not plain data never cross; each side sends a reference that the other
turns into a proxy or a stub, through the ``Refs`` callbacks.

Frames and decoding are bounded (size, nesting depth), and every malformed input
raises ``WireError``; the judge turns that into a failed test, never a pass.

Standard library only: it runs inside the jail.
"""

from __future__ import annotations

import base64
import builtins
import collections
import dataclasses
import datetime
import decimal
import fractions
import json
import json.encoder
import json.scanner
import re
import socket
import statistics
import struct
import time
import types
from collections.abc import Callable, Collection, Iterable
from typing import Any, NoReturn

MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 100
_HEADER = struct.Struct(">I")
_HEADER_SIZE = _HEADER.size
_unpack_header = _HEADER.unpack_from
_pack_header = _HEADER.pack
_monotonic = time.monotonic
_TIMEVAL = struct.Struct("@ll")  # struct timeval
# How far a receive may wait past a deadline before its timeout is set again.
TIMEOUT_SLACK_S = 0.005
_HEX = re.compile(r"-?[0-9a-f]+")
_INT_LIMIT = 2**63
# The most one read of a pipe or socket takes, inside the jail. Small: a run near
# its memory limit must still be able to read a request.
RECEIVE_BYTES = 64 * 1024

# Builtin exception classes by name: the only classes either side may name.
EXCEPTIONS: dict[str, type[BaseException]] = {
    name: value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
# The standard library's exceptions that tests expect by name, reachable without
# importing anything the jail does not already hold.
for _cls in (
    dataclasses.FrozenInstanceError,
    decimal.InvalidOperation,
    decimal.DivisionByZero,
    statistics.StatisticsError,
):
    EXCEPTIONS[f"{_cls.__module__}.{_cls.__qualname__}"] = _cls


def exception_name(cls: type[BaseException]) -> str:
    """The name under which ``EXCEPTIONS`` holds ``cls`` or its nearest known base."""
    for base in cls.__mro__:
        for name in (base.__name__, f"{base.__module__}.{base.__qualname__}"):
            if EXCEPTIONS.get(name) is base:
                return name
    return "BaseException"


# defaultdict factories that can cross by name; any other factory crosses as None.
_FACTORIES: dict[str, type] = {
    cls.__name__: cls for cls in (list, dict, set, frozenset, int, float, str, tuple, bytes)
}


# The binary operators a proxy forwards, each also reflected (``radd`` for ``3 + obj``).
BINARY_OPERATORS = [
    "add",
    "sub",
    "mul",
    "matmul",
    "truediv",
    "floordiv",
    "mod",
    "pow",
    "lshift",
    "rshift",
    "and",
    "or",
    "xor",
    "divmod",
]


# Messages end up in the database and in the browser; a student's exception can
# carry megabytes of text, so every message is cut to this many characters.
MESSAGE_LIMIT = 2000


CODE_NAME_LIMIT = 100


def code_name(value: object) -> str | None:
    """``value`` if it reads as a name of Python code (``count_words``,
    ``Counter.add``), else None: what the student's process chose (a class's name) is
    reported only when it is plainly a name."""
    if type(value) is not str or not 0 < len(value) <= CODE_NAME_LIMIT:
        return None
    return value if all(part.isidentifier() for part in value.split(".")) else None


def bound_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def line_in(tb: types.TracebackType | None, path: str) -> int | None:
    """The line of the innermost traceback frame in ``path`` (the student's module, or
    the tests), for the message that names it."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class WireError(Exception):
    """The other side sent something that is not a valid message."""


class PeerGone(Exception):
    """The other side closed the connection or died."""


class Timeout(Exception):
    """The other side did not answer in time."""


class Refs:
    """How one side encodes its non-plain objects and decodes the other's references.

    ``local(obj)`` returns a tagged reference list for an object that is not plain
    data, or raises ``TypeError`` naming why it cannot cross; ``remote(tag, value)``
    turns a reference the other side sent into the object to use here.
    """

    def local(self, obj: object, depth: int) -> list[Any]:
        raise TypeError(f"a {type(obj).__name__} object cannot be sent")

    def remote(self, tag: str, value: list[Any]) -> object:
        raise WireError(f"unexpected reference {tag!r}")

    def tracked(self, obj: object, depth: int) -> list[Any] | None:
        """A reference for a container to copy across with its identity, or None."""
        return None


class Connection:
    """One end of a stream socket carrying frames of JSON.

    A round trip is what every use of student code costs, so the hot path is lean:
    the JSON encoder and scanner are made once (the ``json`` module's C ones, which
    ``json.dumps``/``loads`` would rebuild on every call), a frame goes out in one
    ``send`` of header and body, and comes in through one ``recv_into`` a buffer
    made once (header and body together, as a small frame arrives). A deadline is
    kept by the socket's receive timeout, re-armed only when it drifts from the
    deadline, instead of a ``select`` before every ``recv``.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(True)
        # Received bytes not yet taken as messages are _data[_start:_end]; _view is
        # _data's memoryview, through which the socket writes after what it holds.
        self._data = bytearray(RECEIVE_BYTES)
        self._view = memoryview(self._data)
        self._start = 0
        self._end = 0
        self._encoder = _compact_encoder()
        self._scan = _scanner()
        # The receive timeout set on the socket (None: none); see ``receive``.
        self._timeout: float | None = None

    def send(self, message: list[Any] | str) -> None:
        """Send ``message``, or a message already written as JSON text (``plain_json``)."""
        if type(message) is str:
            data = message.encode("ascii")
        else:
            data = "".join(self._encoder(message, 0)).encode("ascii")
        if len(data) > MAX_FRAME_BYTES:
            raise TooLarge(f"the message is {len(data)} bytes, more than {MAX_FRAME_BYTES}")
        try:
            self.sock.sendall(_pack_header(len(data)) + data)
        except OSError as exc:
            raise PeerGone(str(exc)) from exc

    def receive(self, deadline: float | None = None) -> list[Any]:
        """The next message; ``Timeout`` once ``deadline`` (monotonic) has passed."""
        while True:
            start, end = self._start, self._end
            wanted = _HEADER_SIZE
            if end - start >= wanted:
                (size,) = _unpack_header(self._data, start)
                if size > MAX_FRAME_BYTES:
                    raise WireError(f"a message of {size} bytes is larger than {MAX_FRAME_BYTES}")
                stop = start + wanted + size
                if stop <= end:
                    # Taken before it is read: a frame that fails to decode is gone too.
                    frame = self._data[start + wanted : stop]
                    if stop < end:
                        self._start = stop
                    else:
                        self._start = self._end = 0
                        if len(self._data) > RECEIVE_BYTES:  # a large frame's, given back
                            self._data = bytearray(RECEIVE_BYTES)
                            self._view = memoryview(self._data)
                    return self._message(frame)
                wanted += size
            if start + wanted > len(self._data):
                self._make_room(wanted)
                end = self._end
            # The next recv returns by the deadline, give or take TIMEOUT_SLACK_S: the
            # socket's timeout is set again only once it has drifted that far from it.
            if deadline is not None:
                now = _monotonic()
                if now >= deadline:
                    raise Timeout()
                armed = self._timeout
                if armed is None or abs(now + armed - deadline) > TIMEOUT_SLACK_S:
                    self._set_timeout(deadline - now)
            elif self._timeout is not None:
                self._set_timeout(None)
            try:
                count = self.sock.recv_into(self._view[end:] if end else self._data)
            except BlockingIOError:  # the receive timeout: a deadline passed, or drifted
                continue
            except OSError as exc:
                raise PeerGone(str(exc)) from exc
            if not count:
                raise PeerGone("the connection was closed")
            self._end += count

    def _make_room(self, wanted: int) -> None:
        """Room in the buffer for a frame of ``wanted`` bytes from ``_start`` on: the
        bytes already received move to the front of a new buffer that holds the frame
        (``receive`` goes back to one of ``RECEIVE_BYTES`` once a larger one is empty)."""
        held = self._end - self._start
        data = bytearray(max(RECEIVE_BYTES, wanted))
        data[:held] = self._view[self._start : self._end]
        self._data, self._view = data, memoryview(data)
        self._start, self._end = 0, held

    def _set_timeout(self, seconds: float | None) -> None:
        # SO_RCVTIMEO: a zero timeval means no timeout, so at least a microsecond.
        micros = 0 if seconds is None else max(1, round(seconds * 1_000_000))
        value = _TIMEVAL.pack(*divmod(micros, 1_000_000))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        self._timeout = seconds

    def _message(self, frame: bytearray) -> list[Any]:
        try:
            text = frame.decode("ascii")
            message, end = self._scan(text, 0)
        except StopIteration:
            raise WireError("a message is not valid JSON") from None
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise WireError(f"a message is not valid JSON: {exc}") from None
        if end != len(text):
            raise WireError("a message has data after its JSON")
        if type(message) is not list or not message:
            raise WireError("a message is not a non-empty list")
        return message

    def close(self) -> None:
        self.sock.close()


def _compact_encoder() -> Callable[[Any, int], Any]:
    """What ``json.dumps(value, separators=(",", ":"))`` (ASCII only) joins, called
    with the value and 0, without rebuilding the encoder for every message. Messages
    are trees of fresh lists (``encode`` output), so there is no cycle to check for."""
    make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
    fallback = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False)
    if make_encoder is None:  # an interpreter without the C accelerator
        return lambda value, _level: [fallback.encode(value)]
    encoder = make_encoder(
        None,  # no cycle check
        fallback.default,  # raises TypeError, as json.dumps does
        json.encoder.encode_basestring_ascii,
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan: NaN crosses as NaN
    )
    return encoder  # type: ignore[no-any-return]


def _scanner() -> Callable[[str, int], tuple[Any, int]]:
    """The JSON decoder's value scanner: ``(value, end)`` of the value at an index,
    ``StopIteration`` if there is none."""
    make_scanner: Any = json.scanner.make_scanner  # typeshed types it as a class
    scanner: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())
    return scanner


class TooLarge(ValueError):
    """A value is too large to send."""


def encode(value: object, refs: Refs, depth: int = 0) -> Any:
    """``value`` as JSON-able data: plain types by value, everything else via ``refs``."""
    if depth > MAX_DEPTH:
        raise TooLarge(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:  # type: ignore[operator]
            return value
        return ["I", format(value, "x")]
    if kind is float:
        return value
    tracked = refs.tracked(value, depth)
    if tracked is not None:
        return tracked
    depth += 1
    if kind is list:
        return ["l", *encode_items(value, refs, depth)]  # type: ignore[arg-type]
    if kind is tuple:
        return ["t", *encode_items(value, refs, depth)]  # type: ignore[arg-type]
    if kind is dict:
        return ["d", *_pairs(value, refs, depth)]  # type: ignore[arg-type]
    if kind is set:
        return ["s", *encode_items(value, refs, depth)]  # type: ignore[arg-type]
    if kind is frozenset:
        return ["f", *encode_items(value, refs, depth)]  # type: ignore[arg-type]
    if kind is bytes or kind is bytearray:
        tag = "b" if kind is bytes else "ba"
        return [tag, base64.b64encode(value).decode("ascii")]  # type: ignore[arg-type]
    if kind is complex:
        return ["c", value.real, value.imag]  # type: ignore[attr-defined]
    if kind is range:
        return ["r", value.start, value.stop, value.step]  # type: ignore[attr-defined]
    encoded = _encode_value_type(value, refs, depth)
    if encoded is not None:
        return encoded
    if isinstance(value, type) and issubclass(value, BaseException):
        name = exception_name(value)
        if EXCEPTIONS[name] is value:
            return ["X", name]
    elif isinstance(value, BaseException):
        name = exception_name(type(value))
        if EXCEPTIONS[name] is type(value):  # a known exception: its class and message
            return ["XI", name, _message(value)]
    return refs.local(value, depth)


def encode_all(values: Iterable[object], refs: Refs, depth: int = 0) -> list[Any]:
    """Each value encoded (a call's arguments): the plain scalars most calls pass are
    their own encoding, taken without a call of ``encode`` each."""
    encoded = []
    for value in values:
        kind = type(value)
        if (
            kind is str
            or kind is float
            or kind is bool
            or value is None
            or (kind is int and -_INT_LIMIT < value < _INT_LIMIT)  # type: ignore[operator]
        ):
            encoded.append(value)
        else:
            encoded.append(encode(value, refs, depth))
    return encoded


_INT_TEXT = int.__repr__
_FLOAT_TEXT = float.__repr__
_STR_TEXT: Callable[[str], str] = json.encoder.encode_basestring_ascii
# A str as the connection's encoder writes it, quotes and escapes included.
string_json = _STR_TEXT


def plain_json(values: Iterable[object]) -> str | None:
    """The JSON text of ``values`` joined by commas, byte for byte as the connection's
    encoder writes them, if each is a plain scalar that is its own encoding (see
    ``encode_all``); else None. A call's usual messages, written from a format string
    around it, take less than half the encoder's time."""
    texts = []
    for value in values:
        kind = type(value)
        if kind is int:
            if not -_INT_LIMIT < value < _INT_LIMIT:  # type: ignore[operator]
                return None
            texts.append(_INT_TEXT(value))
        elif kind is str:
            texts.append(_STR_TEXT(value))  # type: ignore[arg-type]
        elif value is None:
            texts.append("null")
        elif kind is bool:
            texts.append("true" if value else "false")
        elif kind is float and -_INFINITY < value < _INFINITY:  # type: ignore[operator]
            texts.append(_FLOAT_TEXT(value))
        else:  # a NaN or an infinity too: JSON has no literal for them
            return None
    return ",".join(texts)


_INFINITY = float("inf")


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:10_000]
    except Exception:
        return ""


_SCALARS = frozenset({str, float, bool, type(None)})
_NUMBERS = frozenset({int, float, bool})
_JSON_SCALARS = _SCALARS | {int}
# Up to this many items, a collection is encoded or decoded item by item: quicker
# than a pass over all of them to learn their types first (``set(map(type, ...))``).
_FEW = 8


def encode_items(items: Collection[Any], refs: Refs, depth: int) -> list[Any]:
    """Each item encoded; a collection of plain scalars (the common case) at once,
    without a call per item: it is its own encoding."""
    if len(items) <= _FEW:
        return encode_all(items, refs, depth)
    kinds = set(map(type, items))
    if kinds <= _SCALARS:
        return list(items)
    if kinds <= _NUMBERS and items and min(items) > -_INT_LIMIT and max(items) < _INT_LIMIT:
        return list(items)
    return [encode(item, refs, depth) for item in items]


def _pairs(mapping: dict[Any, Any], refs: Refs, depth: int) -> list[Any]:
    pairs: list[Any] = []
    for key, item in mapping.items():
        pairs.append(encode(key, refs, depth))
        pairs.append(encode(item, refs, depth))
    return pairs


def _encode_value_type(value: object, refs: Refs, depth: int) -> list[Any] | None:
    kind = type(value)
    if kind is decimal.Decimal:
        return ["D", str(value)]
    if kind is fractions.Fraction:
        return ["Q", encode(value.numerator, refs), encode(value.denominator, refs)]  # type: ignore[attr-defined]
    if kind is datetime.datetime:
        offset = _offset(value.utcoffset())  # type: ignore[attr-defined]
        return ["dt", *_datetime_fields(value), offset, value.fold]  # type: ignore[attr-defined]
    if kind is datetime.date:
        return ["da", value.year, value.month, value.day]  # type: ignore[attr-defined]
    if kind is datetime.time:
        fields = [value.hour, value.minute, value.second, value.microsecond]  # type: ignore[attr-defined]
        return ["ti", *fields, _offset(value.utcoffset()), value.fold]  # type: ignore[attr-defined]
    if kind is datetime.timedelta:
        return ["td", value.days, value.seconds, value.microseconds]  # type: ignore[attr-defined]
    if kind is datetime.timezone:
        return ["tz", _offset(value.utcoffset(None))]  # type: ignore[attr-defined]
    if kind is collections.Counter:
        return ["C", *_pairs(value, refs, depth)]  # type: ignore[arg-type]
    if kind is collections.OrderedDict:
        return ["O", *_pairs(value, refs, depth)]  # type: ignore[arg-type]
    if kind is collections.defaultdict:
        factory = value.default_factory  # type: ignore[attr-defined]
        name = factory.__name__ if factory in _FACTORIES.values() else None
        return ["dd", name, *_pairs(value, refs, depth)]  # type: ignore[arg-type]
    if kind is collections.deque:
        items = [encode(item, refs, depth) for item in value]  # type: ignore[attr-defined]
        return ["dq", value.maxlen, *items]  # type: ignore[attr-defined]
    if isinstance(value, tuple) and _is_namedtuple(kind):
        fields = list(kind._fields)  # type: ignore[attr-defined]
        items = [encode(item, refs, depth) for item in tuple.__iter__(value)]
        return ["nt", kind.__name__, fields, *items]
    return None


def _is_namedtuple(kind: type) -> bool:
    fields = getattr(kind, "_fields", None)
    return isinstance(fields, tuple) and all(type(name) is str for name in fields)


def _datetime_fields(value: Any) -> list[int]:
    return [
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    ]


def _offset(delta: datetime.timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def decode(data: Any, refs: Refs, depth: int = 0) -> Any:
    """Rebuild a value from ``encode``'s output as exact types; ``WireError`` if malformed."""
    kind = type(data)
    if kind is str or kind is int or kind is float or kind is bool or data is None:
        return data
    if kind is not list or not data or type(data[0]) is not str:
        _malformed("a value")
    if depth > MAX_DEPTH:
        raise WireError(f"a value is nested more than {MAX_DEPTH} levels deep")
    tag, rest = data[0], data[1:]
    depth += 1
    try:
        decoder = _DECODERS.get(tag)
        if decoder is not None:
            return decoder(rest, refs, depth)
        return refs.remote(tag, rest)
    except WireError:
        raise
    except (
        TypeError,
        ValueError,
        OverflowError,
        KeyError,
        IndexError,
        ArithmeticError,
        SyntaxError,  # namedtuple compiles its class; keep out whatever it may refuse
        # A reference's own decoding starts again at depth 0 (a student container
        # received inside another): too deep a chain of them ends here, as malformed,
        # not as a RecursionError the tests could catch like any exception.
        RecursionError,
    ) as exc:
        raise WireError(f"a {tag!r} value is malformed: {exc}") from None


def decode_all(items: object, refs: Refs) -> list[Any]:
    """Each item of a list decoded (a call's arguments); ``WireError`` if it is not a
    list. A list of JSON scalars is its own decoding, and a fresh one: it is returned."""
    if type(items) is not list:
        _malformed("a list of values")
    for item in items:
        kind = type(item)
        if not (kind is str or kind is int or kind is float or kind is bool or item is None):
            return [decode(item, refs) for item in items]
    return items


def _malformed(what: str) -> NoReturn:
    raise WireError(f"{what} is malformed")


def _items(rest: list[Any], refs: Refs, depth: int) -> list[Any]:
    """The decoded items of ``rest``, a list of our own (a slice of a decoded message)."""
    if len(rest) <= _FEW:
        for item in rest:
            kind = type(item)
            if not (kind is str or kind is int or kind is float or kind is bool or item is None):
                return [decode(item, refs, depth) for item in rest]
        return rest
    if set(map(type, rest)) <= _JSON_SCALARS:  # already what they are
        return rest
    return [decode(item, refs, depth) for item in rest]


def _mapping(rest: list[Any], refs: Refs, depth: int) -> list[tuple[Any, Any]]:
    if len(rest) % 2:
        _malformed("a mapping")
    return [
        (decode(rest[i], refs, depth), decode(rest[i + 1], refs, depth))
        for i in range(0, len(rest), 2)
    ]


def _int(value: Any) -> int:
    if type(value) is not int:
        _malformed("an integer field")
    return int(value)


def _number(value: Any) -> float:
    if type(value) not in (int, float):
        _malformed("a number field")
    return float(value)


def _big_int(rest: list[Any], refs: Refs, depth: int) -> int:
    (digits,) = rest
    if type(digits) is not str or len(digits) > 100_000 or not _HEX.fullmatch(digits):
        _malformed("a big integer")
    return int(digits, 16)


def _bytes(rest: list[Any], refs: Refs, depth: int) -> bytes:
    (text,) = rest
    if type(text) is not str:
        _malformed("bytes")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _zone(offset: Any) -> datetime.timezone | None:
    if offset is None:
        return None
    return datetime.timezone(datetime.timedelta(seconds=_number(offset)))


def _timezone(offset: Any) -> datetime.timezone:
    if offset is None:
        _malformed("a timezone")
    zone = _zone(offset)
    assert zone is not None
    return zone


def _fields(rest: list[Any], count: int) -> list[Any]:
    if len(rest) != count:
        _malformed(f"a value with {len(rest)} fields instead of {count}")
    return rest


def _datetime(rest: list[Any], refs: Refs, depth: int) -> datetime.datetime:
    *fields, offset, fold = rest
    year, month, day, hour, minute, second, micro = (_int(field) for field in fields)
    zone = _zone(offset)
    return datetime.datetime(year, month, day, hour, minute, second, micro, zone, fold=_int(fold))


def _time(rest: list[Any], refs: Refs, depth: int) -> datetime.time:
    *fields, offset, fold = rest
    hour, minute, second, micro = (_int(field) for field in fields)
    return datetime.time(hour, minute, second, micro, _zone(offset), fold=_int(fold))


def _namedtuple(rest: list[Any], refs: Refs, depth: int) -> tuple[Any, ...]:
    name, fields, *items = rest
    if type(name) is not str or type(fields) is not list or len(fields) != len(items):
        _malformed("a named tuple")
    if len(fields) > 256 or not all(
        type(field) is str and field.isascii() and field.isidentifier() for field in fields
    ):
        _malformed("a named tuple's fields")
    if not (name.isascii() and name.isidentifier()):
        _malformed("a named tuple's name")
    cls = _namedtuple_class(name, tuple(fields))
    value: tuple[Any, ...] = cls(*_items(items, refs, depth))
    return value


_NAMEDTUPLES: dict[tuple[str, tuple[str, ...]], type] = {}


def _namedtuple_class(name: str, fields: tuple[str, ...]) -> type:
    key = (name, fields)
    cls = _NAMEDTUPLES.get(key)
    if cls is None:
        if len(_NAMEDTUPLES) >= 1000:
            raise WireError("too many named tuple types")
        # namedtuple checks that every name is an identifier and no keyword.
        cls = _NAMEDTUPLES[key] = collections.namedtuple(name, fields)
    return cls


def _defaultdict(rest: list[Any], refs: Refs, depth: int) -> collections.defaultdict[Any, Any]:
    name, *pairs = rest
    if name is not None and name not in _FACTORIES:
        _malformed("a defaultdict's factory")
    factory = None if name is None else _FACTORIES[name]
    return collections.defaultdict(factory, _mapping(pairs, refs, depth))


def _deque(rest: list[Any], refs: Refs, depth: int) -> collections.deque[Any]:
    maxlen, *items = rest
    if maxlen is not None:
        maxlen = _int(maxlen)
    return collections.deque(_items(items, refs, depth), maxlen)


def _exception_class(rest: list[Any], refs: Refs, depth: int) -> type[BaseException]:
    (name,) = rest
    if type(name) is not str or name not in EXCEPTIONS:
        _malformed("an exception class")
    return EXCEPTIONS[name]


def _exception(rest: list[Any], refs: Refs, depth: int) -> BaseException:
    name, message = rest
    cls = _exception_class([name], refs, depth)
    try:
        return cls(_text(message, 10_000))
    except TypeError:  # a class whose constructor wants more (UnicodeDecodeError)
        return Exception(_text(message, 10_000))


_Decoder = Callable[[list[Any], Refs, int], Any]
# Tags of values; the tags of references (handles, stubs, shared containers) are the
# Refs' own and must never be one of these.
_DECODERS: dict[str, _Decoder] = {
    "I": _big_int,
    "l": _items,
    "t": lambda rest, refs, depth: tuple(_items(rest, refs, depth)),
    "d": lambda rest, refs, depth: dict(_mapping(rest, refs, depth)),
    "s": lambda rest, refs, depth: set(_items(rest, refs, depth)),
    "f": lambda rest, refs, depth: frozenset(_items(rest, refs, depth)),
    "b": _bytes,
    "ba": lambda rest, refs, depth: bytearray(_bytes(rest, refs, depth)),
    "c": lambda rest, refs, depth: complex(*map(_number, _fields(rest, 2))),
    "r": lambda rest, refs, depth: range(*map(_int, _fields(rest, 3))),
    "D": lambda rest, refs, depth: decimal.Decimal(_text(_fields(rest, 1)[0], 10_000)),
    "Q": lambda rest, refs, depth: fractions.Fraction(
        _exact_int(decode(rest[0], refs, depth)), _exact_int(decode(rest[1], refs, depth))
    ),
    "dt": _datetime,
    "da": lambda rest, refs, depth: datetime.date(*[_int(field) for field in rest]),
    "ti": _time,
    "td": lambda rest, refs, depth: datetime.timedelta(*map(_int, _fields(rest, 3))),
    "tz": lambda rest, refs, depth: _timezone(_fields(rest, 1)[0]),
    "C": lambda rest, refs, depth: collections.Counter(dict(_mapping(rest, refs, depth))),
    "O": lambda rest, refs, depth: collections.OrderedDict(_mapping(rest, refs, depth)),
    "dd": _defaultdict,
    "dq": _deque,
    "nt": _namedtuple,
    "X": _exception_class,
    "XI": _exception,
}


def _text(value: Any, limit: int) -> str:
    if type(value) is not str or len(value) > limit:
        _malformed("a text field")
    return str(value)


def _exact_int(value: Any) -> int:
    if type(value) is not int:
        _malformed("an integer")
    return int(value)
