"""The judge↔student wire codec: exact types back, subclasses never, WireError for junk."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import json
import math
import random
import re
import socket
import statistics
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gradeflow.grading.sandbox.jailed import student, wire

_UTC_PLUS_0530 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
_UTC_MINUS_3 = datetime.timezone(datetime.timedelta(hours=-3))


def _over_json(data: Any) -> Any:
    """``data`` as the other side parses it: the JSON text ``Connection`` would send."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return json.loads(text)


def _round_trip(value: object) -> Any:
    return wire.decode(_over_json(wire.encode(value, wire.Refs())), wire.Refs())


def _assert_same(decoded: object, original: object) -> None:
    """Equal, with the exact type at every level of lists, tuples, dicts and sets."""
    assert type(decoded) is type(original)
    assert decoded == original
    if type(original) in (list, tuple):
        for item, expected in zip(decoded, original, strict=True):  # type: ignore[call-overload]
            _assert_same(item, expected)
    elif isinstance(original, dict):
        pairs = zip(decoded.items(), original.items(), strict=True)  # type: ignore[attr-defined]
        for (key, item), (expected_key, expected) in pairs:
            _assert_same(key, expected_key)
            _assert_same(item, expected)
    elif isinstance(original, (set, frozenset)):
        assert {(type(item), item) for item in decoded} == {  # type: ignore[attr-defined]
            (type(item), item) for item in original
        }


# Round trips -------------------------------------------------------------------

PLAIN_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63) + 1,
    2**63,
    -(2**63),
    2**64,
    2**200,
    -(2**5000),
    1.5,
    1e308,
    5e-324,
    math.inf,
    -math.inf,
    complex(1.5, -2),
    complex(0, math.inf),
    "",
    "plain",
    "héllo wörld ÿ",
    "日本語",
    "😀 👩‍💻",
    "\ud800",
    'a\x00b\n\t"\\',
    b"",
    b"\x00\xff\x80abc",
    bytearray(),
    bytearray(b"\x00\x01\xfe"),
    [],
    (),
    {},
    set(),
    frozenset(),
    [1, [2, (3, {4: [5]})], "x"],
    (1,),
    ((), [], {}),
    [True, 1, 1.0],
    {"a": 1, 2: "b", None: [None], 3.5: (True,)},
    {(1, 2): "tuple key", frozenset({3, 4}): "frozenset key", (1, (2, 3)): "nested"},
    {1, "a", (2, 3), frozenset({4})},
    frozenset({1, frozenset({2, frozenset()})}),
    range(0),
    range(1, 10, 3),
    range(10, -5, -2),
    range(2**100),
    decimal.Decimal("1.10"),
    decimal.Decimal("-3.14159265358979323846264338327950288"),
    decimal.Decimal("1E+999999"),
    decimal.Decimal("-Infinity"),
    fractions.Fraction(1, 3),
    fractions.Fraction(-(2**100), 3),
    fractions.Fraction(0),
    datetime.datetime(2024, 2, 29, 23, 59, 59, 999999),
    datetime.datetime(1, 1, 1),
    datetime.datetime(2024, 6, 1, 12, 0, tzinfo=_UTC_PLUS_0530),
    datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.UTC),
    datetime.datetime(2024, 11, 3, 1, 30, fold=1),
    datetime.date(1, 1, 1),
    datetime.date(9999, 12, 31),
    datetime.time(12, 30, 1, 5),
    datetime.time(23, 59, tzinfo=_UTC_MINUS_3),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
    datetime.timedelta.max,
    datetime.timedelta.min,
    _UTC_MINUS_3,
    datetime.UTC,
    collections.Counter("mississippi"),
    collections.Counter({"a": -2, "b": 0}),
    collections.deque(),
    collections.deque([1, "two", (3,)]),
    collections.deque([1, 2, 3], maxlen=5),
    collections.deque(maxlen=0),
]


def stable_id(value: object) -> str:
    """A test id that every test process makes alike (pytest-xdist compares them): a
    set's repr follows string hashing, which differs per process, and an object's
    repr carries its address."""
    if isinstance(value, (set, frozenset)):
        items = ", ".join(sorted(stable_id(item) for item in value))
        return f"{type(value).__name__}({{{items}}})"
    if type(value) in (tuple, list):
        items = ", ".join(stable_id(item) for item in value)  # type: ignore[attr-defined]
        return f"{type(value).__name__}({items})"
    if type(value) is dict:
        items = ", ".join(f"{stable_id(k)}: {stable_id(v)}" for k, v in value.items())  # type: ignore[attr-defined]
        return f"{{{items}}}"
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=stable_id)
def test_a_plain_value_comes_back_with_its_exact_type_and_value(value: object) -> None:
    _assert_same(_round_trip(value), value)


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=stable_id)
def test_a_plain_value_comes_back_without_json_in_between(value: object) -> None:
    _assert_same(wire.decode(wire.encode(value, wire.Refs()), wire.Refs()), value)


def test_ints_inside_64_bits_cross_as_json_ints_and_larger_ones_are_tagged() -> None:
    refs = wire.Refs()
    assert wire.encode(2**63 - 1, refs) == 2**63 - 1
    assert wire.encode(-(2**63) + 1, refs) == -(2**63) + 1
    assert wire.encode(2**63, refs)[0] == "I"
    assert wire.encode(-(2**63), refs)[0] == "I"


@pytest.mark.parametrize("size", [1, 8, 9, 1000])
@pytest.mark.parametrize("kind", [list, tuple, set, frozenset])
def test_a_collection_of_any_size_tags_its_ints_beyond_64_bits(size: int, kind: type) -> None:
    # Up to eight items are encoded one by one, more at once: both ways tag big ints.
    values = kind([*range(size - 1), 2**63])
    encoded = wire.encode(values, wire.Refs())
    assert ["I", format(2**63, "x")] in encoded
    _assert_same(wire.decode(_over_json(encoded), wire.Refs()), values)


@pytest.mark.parametrize("size", [1, 8, 9, 1000])
def test_a_collection_of_any_size_with_a_lying_int_goes_to_the_refs(size: int) -> None:
    with pytest.raises(TypeError):
        wire.encode([*range(size - 1), _Int(2)], wire.Refs())


def test_arguments_are_encoded_each_as_encode_would() -> None:
    refs = wire.Refs()
    values = [7, True, None, 2.5, "text", 2**63, -(2**63), (1, "a"), [2.0], {"k": 1}]
    assert wire.encode_all(values, refs) == [wire.encode(value, refs) for value in values]
    assert wire.encode_all((), refs) == []
    with pytest.raises(TypeError):
        wire.encode_all([1, _Int(2)], refs)


def test_arguments_are_decoded_each_as_decode_would() -> None:
    refs = wire.Refs()
    data = [7, True, None, 2.5, "text", ["I", "8000000000000000"], ["t", 1, "a"], ["l"]]
    assert wire.decode_all(data, refs) == [wire.decode(item, refs) for item in data]
    assert type(wire.decode_all(data, refs)[6]) is tuple
    assert wire.decode_all([], refs) == []


@pytest.mark.parametrize(
    "data",
    [None, 7, "args", {"a": 1}, [["no such tag"]], [1, ["t", ["I", "xyz"]]], [["l", {}]]],
    ids=repr,
)
def test_arguments_that_are_not_a_list_of_values_are_refused(data: Any) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_all(data, wire.Refs())


def test_a_deque_keeps_its_maxlen() -> None:
    decoded = _round_trip(collections.deque([1, 2, 3], maxlen=3))
    assert decoded.maxlen == 3
    decoded.append(4)
    assert list(decoded) == [2, 3, 4]
    assert _round_trip(collections.deque([1])).maxlen is None


def test_nan_comes_back_as_a_nan_float() -> None:
    decoded = _round_trip(math.nan)
    assert type(decoded) is float
    assert math.isnan(decoded)


def test_negative_zero_keeps_its_sign() -> None:
    decoded = _round_trip(-0.0)
    assert type(decoded) is float
    assert decoded == 0.0
    assert math.copysign(1.0, decoded) == -1.0


def test_a_complex_with_nan_and_negative_zero_parts_keeps_them() -> None:
    decoded = _round_trip(complex(math.nan, -0.0))
    assert type(decoded) is complex
    assert math.isnan(decoded.real)
    assert math.copysign(1.0, decoded.imag) == -1.0


def test_a_nan_decimal_comes_back_as_a_nan_decimal() -> None:
    decoded = _round_trip(decimal.Decimal("NaN"))
    assert type(decoded) is decimal.Decimal
    assert decoded.is_nan()


def test_a_negative_zero_decimal_keeps_its_sign() -> None:
    decoded = _round_trip(decimal.Decimal("-0"))
    assert type(decoded) is decimal.Decimal
    assert decoded.is_zero()
    assert decoded.is_signed()
    assert str(decoded) == "-0"


def test_a_decimal_keeps_its_trailing_zeros() -> None:
    assert str(_round_trip(decimal.Decimal("1.100"))) == "1.100"


def test_an_aware_datetime_keeps_its_offset() -> None:
    original = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=_UTC_PLUS_0530)
    decoded = _round_trip(original)
    assert type(decoded) is datetime.datetime
    assert type(decoded.tzinfo) is datetime.timezone
    assert decoded.utcoffset() == datetime.timedelta(hours=5, minutes=30)
    assert decoded == original


def test_a_naive_datetime_stays_naive() -> None:
    assert _round_trip(datetime.datetime(2024, 1, 1)).tzinfo is None


def test_a_datetime_keeps_its_fold() -> None:
    assert _round_trip(datetime.datetime(2024, 11, 3, 1, 30, fold=1)).fold == 1


def test_an_ordered_dict_keeps_its_order() -> None:
    original = collections.OrderedDict([("b", 1), ("a", 2), ("c", 3)])
    decoded = _round_trip(original)
    assert type(decoded) is collections.OrderedDict
    assert list(decoded.items()) == [("b", 1), ("a", 2), ("c", 3)]


def test_a_counter_stays_a_counter_that_counts() -> None:
    decoded = _round_trip(collections.Counter("abca"))
    assert type(decoded) is collections.Counter
    assert decoded["a"] == 2
    assert decoded["missing"] == 0


def test_a_defaultdict_of_list_keeps_its_factory() -> None:
    original: collections.defaultdict[str, list[int]] = collections.defaultdict(list)
    original["a"].append(1)
    decoded = _round_trip(original)
    assert type(decoded) is collections.defaultdict
    assert decoded.default_factory is list
    assert decoded == {"a": [1]}
    assert decoded["missing"] == []


@pytest.mark.parametrize("factory", [dict, set, frozenset, int, float, str, tuple, bytes])
def test_a_defaultdict_with_a_builtin_factory_keeps_it(factory: type) -> None:
    decoded = _round_trip(collections.defaultdict(factory, {1: factory()}))
    assert decoded.default_factory is factory
    assert decoded == {1: factory()}


def test_a_defaultdict_with_a_lambda_factory_crosses_without_a_factory() -> None:
    original = collections.defaultdict(lambda: 0, {"a": 1})
    decoded = _round_trip(original)
    assert type(decoded) is collections.defaultdict
    assert decoded.default_factory is None
    assert decoded == {"a": 1}


def test_a_namedtuple_is_rebuilt_with_its_name_and_fields() -> None:
    point = collections.namedtuple("Point", ["x", "y"])
    decoded = _round_trip(point(1, 2))
    assert type(decoded).__name__ == "Point"
    assert type(decoded)._fields == ("x", "y")
    assert isinstance(decoded, tuple)
    assert type(decoded) is not tuple
    assert decoded == (1, 2)
    assert decoded.x == 1
    assert decoded.y == 2


def test_a_namedtuple_type_is_rebuilt_once_and_reused() -> None:
    point = collections.namedtuple("Point", ["x", "y"])
    assert type(_round_trip(point(1, 2))) is type(_round_trip(point(3, 4)))


def test_a_namedtuple_inside_a_namedtuple_comes_back_nested() -> None:
    inner = collections.namedtuple("Inner", ["a"])
    outer = collections.namedtuple("Outer", ["inner", "b"])
    decoded = _round_trip(outer(inner([1]), "b"))
    assert type(decoded.inner).__name__ == "Inner"
    assert decoded.inner.a == [1]
    assert decoded == ((([1],), "b"))


KNOWN_EXCEPTION_CLASSES = [
    BaseException,
    Exception,
    ValueError,
    KeyError,
    ZeroDivisionError,
    StopIteration,
    SystemExit,
    KeyboardInterrupt,
    RecursionError,
    UnicodeDecodeError,
    dataclasses.FrozenInstanceError,
    decimal.InvalidOperation,
    decimal.DivisionByZero,
    statistics.StatisticsError,
]


@pytest.mark.parametrize("cls", KNOWN_EXCEPTION_CLASSES, ids=lambda cls: cls.__name__)
def test_a_known_exception_class_comes_back_as_itself(cls: type[BaseException]) -> None:
    encoded = wire.encode(cls, wire.Refs())
    assert encoded[0] == "X"
    assert _round_trip(cls) is cls


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("boom"),
        TypeError("not a number: ü"),
        ZeroDivisionError("division by zero"),
        StopIteration(),
        dataclasses.FrozenInstanceError("cannot assign to field 'x'"),
        statistics.StatisticsError("no mode"),
    ],
    ids=repr,
)
def test_a_known_exception_instance_comes_back_with_its_class_and_message(
    exc: BaseException,
) -> None:
    encoded = wire.encode(exc, wire.Refs())
    assert encoded[0] == "XI"
    decoded = _round_trip(exc)
    assert type(decoded) is type(exc)
    assert str(decoded) == str(exc)


def test_a_frozen_instance_error_from_a_dataclass_crosses_by_name() -> None:
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        x: int

    try:
        Frozen(1).x = 2  # type: ignore[misc]
    except dataclasses.FrozenInstanceError as exc:
        raised = exc
    encoded = wire.encode(raised, wire.Refs())
    assert encoded[:2] == ["XI", "dataclasses.FrozenInstanceError"]
    decoded = _round_trip(raised)
    assert type(decoded) is dataclasses.FrozenInstanceError
    assert str(decoded) == str(raised)


def test_a_value_nested_to_the_depth_limit_round_trips() -> None:
    value: Any = 1
    for _ in range(wire.MAX_DEPTH):
        value = [value]
    assert _round_trip(value) == value


# Subclasses and other objects ---------------------------------------------------


class _Int(int):
    pass


class _Str(str):
    __slots__ = ()


class _List(list):  # type: ignore[type-arg]
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


class _Tuple(tuple):  # type: ignore[type-arg]
    __slots__ = ()


class _Float(float):
    pass


class _Colour(enum.IntEnum):
    RED = 1


class _StudentError(ValueError):
    pass


_PLAIN_SCALARS = [
    0,
    -1,
    2**63 - 1,
    -(2**63) + 1,
    True,
    False,
    None,
    0.1,
    -0.0,
    1e16,
    1e-7,
    5e-324,
    1.7976931348623157e308,
    "",
    "plain",
    'quote " backslash \\ newline \n tab \t nul \x00 del \x7f',
    "é ü 😀 \ud800 \udfff",
]


@pytest.mark.parametrize("value", _PLAIN_SCALARS, ids=repr)
def test_plain_json_writes_a_scalar_as_the_encoder_does(value: object) -> None:
    assert wire.plain_json([value]) == "".join(wire._compact_encoder()([value], 0))[1:-1]


def test_plain_json_writes_several_scalars_as_the_encoder_does() -> None:
    written = "".join(wire._compact_encoder()(_PLAIN_SCALARS, 0))
    assert wire.plain_json(_PLAIN_SCALARS) == written[1:-1]
    assert wire.plain_json([]) == ""


@pytest.mark.parametrize(
    "value",
    [
        2**63,
        -(2**63),
        math.nan,
        math.inf,
        -math.inf,
        _Int(1),
        _Str("s"),
        _Float(1.0),
        b"x",
        [1],
        (1,),
    ],
    ids=repr,
)
def test_plain_json_leaves_anything_else_to_the_encoder(value: object) -> None:
    assert wire.plain_json([1, value]) is None


@pytest.mark.parametrize(
    "value",
    [
        _Int(5),
        _Str("x"),
        _List([1]),
        _Dict(a=1),
        _Tuple((1,)),
        _Float(1.5),
        _Colour.RED,
        [1, _Int(2)],
        {"key": _Str("v")},
        {_Str("k"): 1},
        _StudentError("boom"),
        _StudentError,
        object(),
        len,
        lambda: 0,
        iter([]),
    ],
    ids=stable_id,
)
def test_the_base_refs_refuse_subclasses_and_other_objects(value: object) -> None:
    with pytest.raises(TypeError):
        wire.encode(value, wire.Refs())


class _LyingInt(int):
    def __int__(self) -> int:
        return 0

    def __index__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _LyingFloat(float):
    def __float__(self) -> float:
        return 0.0

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _LyingComplex(complex):
    def __complex__(self) -> complex:
        return 0j

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _LyingStr(str):
    __slots__ = ()

    def __str__(self) -> str:
        return "lie"

    def __iter__(self) -> Iterator[str]:
        return iter("lie")

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _LyingBytes(bytes):
    def __bytes__(self) -> bytes:
        return b"lie"

    def __iter__(self) -> Iterator[int]:
        return iter(b"lie")

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _LyingBytearray(bytearray):
    def __iter__(self) -> Iterator[int]:
        return iter(b"lie")

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class _LyingTuple(tuple):  # type: ignore[type-arg]
    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return iter(["lie"])

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


class _LyingList(list):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        return iter(["lie"])

    def __len__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class _LyingDict(dict):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        return iter(["lie"])

    def items(self) -> Any:
        return [("lie", "lie")]

    def keys(self) -> Any:
        return ["lie"]

    def __getitem__(self, key: object) -> object:
        return "lie"

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class _LyingSet(set):  # type: ignore[type-arg]
    def __iter__(self) -> Iterator[Any]:
        return iter(["lie"])

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class _LyingFrozenset(frozenset):  # type: ignore[type-arg]
    __slots__ = ()

    def __iter__(self) -> Iterator[Any]:
        return iter(["lie"])

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


@pytest.mark.parametrize(
    ("liar", "value"),
    [
        (_LyingInt(7), 7),
        (_LyingInt(2**100), 2**100),
        (_Colour.RED, 1),
        (_LyingFloat(2.5), 2.5),
        (_LyingComplex(1, 2), complex(1, 2)),
        (_LyingStr("truth"), "truth"),
        (_LyingBytes(b"truth"), b"truth"),
        (_LyingBytearray(b"truth"), bytearray(b"truth")),
        (_LyingTuple((1, 2)), (1, 2)),
        (_LyingList([1, 2]), [1, 2]),
        (_LyingDict(a=1), {"a": 1}),
        (_LyingSet({1, 2}), {1, 2}),
        (_LyingFrozenset({1, 2}), frozenset({1, 2})),
    ],
    ids=lambda value: type(value).__name__,
)
def test_the_student_side_reads_a_lying_subclass_through_its_base_type(
    liar: object, value: object
) -> None:
    plain = student._plain_value(liar)
    assert type(plain) is type(value)
    assert plain is not liar
    # Compare through the base type: the liar's own __eq__ would say yes to anything.
    assert type(value).__eq__(value, plain) is True


def test_the_student_side_leaves_a_bool_a_bool() -> None:
    assert student._plain_value(True) is True


@pytest.fixture
def connections() -> Iterator[tuple[wire.Connection, wire.Connection]]:
    left, right = socket.socketpair()
    first, second = wire.Connection(left), wire.Connection(right)
    yield first, second
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("liar", "value"),
    [
        (_LyingInt(7), 7),
        (_LyingInt(-(2**70)), -(2**70)),
        (_LyingFloat(2.5), 2.5),
        (_LyingStr("truth"), "truth"),
        (_LyingTuple((1, "a")), (1, "a")),
        (_LyingFrozenset({3}), frozenset({3})),
        (_Colour.RED, 1),
    ],
    ids=lambda value: type(value).__name__,
)
def test_a_lying_subclass_sent_by_the_student_arrives_as_its_plain_value(
    connections: tuple[wire.Connection, wire.Connection], liar: object, value: object
) -> None:
    the_student = student.Student(connections[0], "submission", student.Output(1000))
    decoded = _round_trip_with(liar, student.Refs(the_student))
    _assert_same(decoded, value)


def _round_trip_with(value: object, refs: wire.Refs) -> Any:
    return wire.decode(_over_json(wire.encode(value, refs)), wire.Refs())


# Malformed input -----------------------------------------------------------------


def _nested(tag: str, depth: int) -> Any:
    data: Any = 1
    for _ in range(depth):
        data = [tag, data] if tag != "d" else [tag, "key", data]
    return data


MALFORMED = {
    # not a tagged list at all
    "a JSON object": {"a": 1},
    "an empty list": [],
    "a tuple": ("l", 1),
    "a bytes value": b"l",
    "a set": {1},
    # non-string tags
    "an int tag": [1, 2],
    "a None tag": [None],
    "a bool tag": [True, 1],
    "a float tag": [1.5],
    "a list tag": [["l"], 1],
    # unknown tags
    "an unknown tag": ["zz"],
    "an upper-case list tag": ["L", 1],
    "an empty tag": ["", 1],
    "a pickle tag": ["pickle", "gASVBAAAAAAAAACMAS6ULg=="],
    "an eval tag": ["eval", "__import__('os')"],
    # references when the Refs have none
    "a handle reference": ["h", 0, "o", "Thing"],
    "a callback reference": ["cb", 0],
    "a judge container": ["jl", 0, 1],
    "a student container": ["sl", 0, 1],
    "a judge container reference": ["jr", 0],
    "a student container reference": ["sr", 0],
    # malformed items inside containers
    "a list holding a JSON object": ["l", {"a": 1}],
    "a list holding an unknown tag": ["l", ["zz"]],
    "a tuple holding an empty list": ["t", []],
    "a list holding a non-string tag": ["l", [1]],
    "a set holding a reference": ["s", ["h", 0]],
    # wrong arity
    "a big int without digits": ["I"],
    "a big int with two digit strings": ["I", "ff", "00"],
    "bytes without text": ["b"],
    "bytes with two texts": ["b", "AA==", "AA=="],
    "a complex with one part": ["c", 1],
    "a range with two fields": ["r", 1, 2],
    "a timedelta with one field": ["td", 1],
    "an exception class without a name": ["X"],
    "an exception class with two names": ["X", "ValueError", "TypeError"],
    "an exception without a message": ["XI", "ValueError"],
    "an exception with two messages": ["XI", "ValueError", "m", "m"],
    "a fraction with one part": ["Q", 1],
    "a datetime with one field": ["dt", 2020],
    "a datetime with nine fields": ["dt", 2020, 1, 1, 0, 0, 0, 0, 0, None, 0],
    "a datetime with only a date": ["dt", 2020, 1, 1, None, 0],
    "a time without its clock fields": ["ti", None, 0],
    "a time with only an hour": ["ti", 1, None, 0],
    "a date with two fields": ["da", 2020, 1],
    "a date with four fields": ["da", 2020, 1, 1, 1],
    "a time without fields": ["ti"],
    "a deque without maxlen": ["dq"],
    "a defaultdict without factory": ["dd"],
    "a named tuple without fields": ["nt", "P"],
    "a named tuple without anything": ["nt"],
    "a timezone without offset": ["tz"],
    "a decimal without text": ["D"],
    "a dict with an odd pair": ["d", 1],
    "a counter with an odd pair": ["C", "a"],
    "an ordered dict with an odd pair": ["O", 1, 2, 3],
    "a defaultdict with an odd pair": ["dd", "list", "a"],
    # big ints
    "a big int with non-hex digits": ["I", "xyz"],
    "a big int with a trailing non-hex digit": ["I", "12g"],
    "a big int with empty digits": ["I", ""],
    "a big int that is only a sign": ["I", "-"],
    "a big int with 200,000 digits": ["I", "1" * 200_000],
    "a big int given as a number": ["I", 255],
    "a big int given as None": ["I", None],
    # bytes
    "bytes that are not base64": ["b", "not base64!"],
    "bytes with bad padding": ["b", "AAA"],
    "bytes with non-ASCII text": ["b", "é"],
    "a bytearray that is not base64": ["ba", "@@@@"],
    "bytes given as a number": ["b", 12],
    "bytes given as a list": ["b", [0, 1]],
    # numbers
    "a complex with a string part": ["c", "1", 2],
    "a complex with a None part": ["c", None, 0],
    "a complex with a bool part": ["c", True, 0],
    "a range with zero step": ["r", 0, 10, 0],
    "a range with a float field": ["r", 0.0, 1, 1],
    "a range with a string field": ["r", "0", 1, 1],
    "a decimal that is not a number": ["D", "abc"],
    "a decimal given as a number": ["D", 1],
    "a decimal of 10,001 characters": ["D", "1" * 10_001],
    "a decimal with an exponent out of range": ["D", "1e999999999999999999999"],
    "a fraction with zero denominator": ["Q", 1, 0],
    "a fraction with a tagged zero denominator": ["Q", 1, ["I", "0"]],
    "a fraction with a float numerator": ["Q", 1.5, 2],
    "a fraction with a string numerator": ["Q", "1", 2],
    "a fraction with a bool numerator": ["Q", True, 1],
    "a fraction with a list denominator": ["Q", 1, ["l", 2]],
    # dates and times
    "a datetime with month 13": ["dt", 2024, 13, 1, 0, 0, 0, 0, None, 0],
    "a datetime on 30 February": ["dt", 2024, 2, 30, 0, 0, 0, 0, None, 0],
    "a datetime at hour 24": ["dt", 2024, 1, 1, 24, 0, 0, 0, None, 0],
    "a datetime with year 0": ["dt", 0, 1, 1, 0, 0, 0, 0, None, 0],
    "a datetime with a float year": ["dt", 2024.0, 1, 1, 0, 0, 0, 0, None, 0],
    "a datetime with a bool month": ["dt", 2024, True, 1, 0, 0, 0, 0, None, 0],
    "a datetime with a day-long offset": ["dt", 2024, 1, 1, 0, 0, 0, 0, 86400, 0],
    "a datetime with a string offset": ["dt", 2024, 1, 1, 0, 0, 0, 0, "UTC", 0],
    "a datetime with a nan offset": ["dt", 2024, 1, 1, 0, 0, 0, 0, math.nan, 0],
    "a datetime with a huge offset": ["dt", 2024, 1, 1, 0, 0, 0, 0, 1e300, 0],
    "a datetime with an infinite offset": ["dt", 2024, 1, 1, 0, 0, 0, 0, math.inf, 0],
    "a datetime with fold 2": ["dt", 2024, 1, 1, 0, 0, 0, 0, None, 2],
    "a datetime with a None fold": ["dt", 2024, 1, 1, 0, 0, 0, 0, None, None],
    "a date with month 0": ["da", 2024, 0, 1],
    "a date in year 10000": ["da", 10000, 1, 1],
    "a date with a string day": ["da", 2024, 1, "1"],
    "a time at hour 25": ["ti", 25, 0, 0, 0, None, 0],
    "a time with a million microseconds": ["ti", 0, 0, 0, 1_000_000, None, 0],
    "a timedelta out of range": ["td", 10**10, 0, 0],
    "a timedelta with a float field": ["td", 1.5, 0, 0],
    "a timezone of a whole day": ["tz", 86400],
    "a timezone given as a string": ["tz", "x"],
    "a timezone given as a bool": ["tz", True],
    # named tuples
    "a named tuple with a keyword field": ["nt", "P", ["class"], 1],
    "a named tuple with a None field": ["nt", "P", ["None"], 1],
    "a named tuple with duplicate fields": ["nt", "P", ["x", "x"], 1, 2],
    "a named tuple with fewer items than fields": ["nt", "P", ["x", "y"], 1],
    "a named tuple with more items than fields": ["nt", "P", ["x"], 1, 2],
    "a named tuple with a keyword name": ["nt", "def", ["x"], 1],
    "a named tuple with an empty name": ["nt", "", ["x"], 1],
    "a named tuple with a dotted name": ["nt", "os.path", ["x"], 1],
    "a named tuple with an underscore field": ["nt", "P", ["_x"], 1],
    "a named tuple with a field starting with a digit": ["nt", "P", ["1x"], 1],
    "a named tuple with a field holding a space": ["nt", "P", ["x y"], 1],
    "a named tuple with a field of code": ["nt", "P", ["x):pass\nimport os#"], 1],
    "a named tuple with fields as a string": ["nt", "P", "xy", 1, 2],
    "a named tuple with a number name": ["nt", 5, ["x"], 1],
    "a named tuple with a number field": ["nt", "P", [1], 1],
    "a named tuple with 257 fields": ["nt", "P", [f"f{i}" for i in range(257)], *range(257)],
    "a named tuple with a malformed item": ["nt", "P", ["x"], ["zz"]],
    # defaultdict factories
    "a defaultdict whose factory is os.system": ["dd", "os.system"],
    "a defaultdict whose factory is eval": ["dd", "eval"],
    "a defaultdict whose factory is exec": ["dd", "exec"],
    "a defaultdict whose factory is __import__": ["dd", "__import__"],
    "a defaultdict whose factory is object": ["dd", "object"],
    "a defaultdict whose factory is type": ["dd", "type"],
    "a defaultdict whose factory is builtins.list": ["dd", "builtins.list"],
    "a defaultdict whose factory is a list": ["dd", ["l"]],
    "a defaultdict whose factory is a number": ["dd", 1],
    "a defaultdict with an unhashable key": ["dd", "list", ["l"], 1],
    # exception names
    "an exception class named os": ["X", "os"],
    "an exception class named SystemExit2": ["X", "SystemExit2"],
    "an exception class named object": ["X", "object"],
    "an exception class named int": ["X", "int"],
    "an exception class named print": ["X", "print"],
    "an exception class named __import__": ["X", "__import__"],
    "an exception class named builtins.ValueError": ["X", "builtins.ValueError"],
    "an exception class named dataclasses.dataclass": ["X", "dataclasses.dataclass"],
    "an exception class named by a number": ["X", 1],
    "an exception class named by a list": ["X", ["ValueError"]],
    "an exception instance named os": ["XI", "os", "m"],
    "an exception instance named SystemExit2": ["XI", "SystemExit2", "m"],
    "an exception with a number message": ["XI", "ValueError", 5],
    "an exception with a message of 10,001 characters": ["XI", "ValueError", "m" * 10_001],
    # nesting
    "lists nested 500 deep": _nested("l", 500),
    "tuples nested 500 deep": _nested("t", 500),
    "dicts nested 500 deep": _nested("d", 500),
    "frozensets nested 500 deep": _nested("f", 500),
    "lists nested just past the limit": _nested("l", wire.MAX_DEPTH + 2),
    # unhashable keys and items
    "a dict with a list key": ["d", ["l"], 1],
    "a dict with a dict key": ["d", ["d"], 1],
    "a dict with a set key": ["d", ["s"], 1],
    "a dict with a bytearray key": ["d", ["ba", ""], 1],
    "a counter with a list key": ["C", ["l"], 1],
    "an ordered dict with a list key": ["O", ["l", 1], 1],
    "a set with a list item": ["s", ["l", 1]],
    "a set with a dict item": ["s", ["d"]],
    "a frozenset with a set item": ["f", ["s"]],
    "a tuple key holding a list": ["d", ["t", ["l"]], 1],
    # deques
    "a deque whose maxlen is a string": ["dq", "3", 1],
    "a deque whose maxlen is negative": ["dq", -1],
    "a deque whose maxlen is a float": ["dq", 1.5],
    "a deque whose maxlen is a bool": ["dq", True],
    "a deque whose maxlen is huge": ["dq", 2**70],
}


@pytest.mark.parametrize("data", list(MALFORMED.values()), ids=list(MALFORMED))
def test_the_decoder_refuses_malformed_input_with_a_wire_error(data: Any) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(data, wire.Refs())


@pytest.mark.parametrize(
    "fields",
    [["ﬁ", "fi"], ["ｘ", "x"], ["x", "𝐱"]],
    ids=["ligature fi and fi", "fullwidth x and x", "x and mathematical bold x"],
)
def test_a_named_tuple_with_fields_equal_after_normalisation_is_refused(
    fields: list[str],
) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(["nt", "P", fields, 1, 2], wire.Refs())


@pytest.mark.parametrize(
    "data",
    [
        ["c", 1, 2, 3],
        ["r", 0, 1, 1, 9],
        ["td", 1, 2, 3, 4],
        ["D", "1", "x"],
        ["tz", 0, 1],
    ],
    ids=repr,
)
def test_a_value_with_trailing_fields_is_refused(data: Any) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(data, wire.Refs())


def test_a_timezone_without_an_offset_is_refused() -> None:
    with pytest.raises(wire.WireError):
        wire.decode(["tz", None], wire.Refs())


@pytest.mark.parametrize("digits", ["0x1f", "1_f", " 1f ", "١٢", "-0x1"], ids=repr)
def test_a_big_int_with_digits_other_than_hex_is_refused(digits: str) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(["I", digits], wire.Refs())


def test_the_decoder_refuses_a_thousand_and_first_named_tuple_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire, "_NAMEDTUPLES", {})
    for number in range(1000):
        wire.decode(["nt", f"T{number}", ["x"], 1], wire.Refs())
    with pytest.raises(wire.WireError):
        wire.decode(["nt", "OneTooMany", ["x"], 1], wire.Refs())
    assert wire.decode(["nt", "T7", ["x"], 2], wire.Refs()) == (2,)


def test_a_big_int_of_100000_hex_digits_is_accepted() -> None:
    assert wire.decode(["I", "f" * 100_000], wire.Refs()) == 16**100_000 - 1


def test_an_exception_that_needs_more_arguments_decodes_as_a_plain_exception() -> None:
    decoded = wire.decode(["XI", "UnicodeDecodeError", "bad byte"], wire.Refs())
    assert type(decoded) is Exception
    assert str(decoded) == "bad byte"


# A bounded fuzz ------------------------------------------------------------------

_TAGS = [*sorted(wire._DECODERS), "h", "cb", "jl", "jr", "sl", "sr", "zz", "", "L"]
# No compatibility characters (see the normalisation test above): the fuzz looks for
# new failures, the known one has its own test.
_JUNK_TEXT = [
    "",
    "x",
    "y",
    "P",
    "class",
    "_x",
    "1x",
    "list",
    "int",
    "os.system",
    "eval",
    "ValueError",
    "SystemExit",
    "UnicodeDecodeError",
    "dataclasses.FrozenInstanceError",
    "AA==",
    "@@",
    "ff",
    "-1f",
    "zz",
    "NaN",
    "-0",
    "1E+999999",
    "1e99999999999999999999",
    "é",
    "\ud800",
    "😀",
]


def _junk(rng: random.Random, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    roll = rng.random()
    if depth <= 0 or budget[0] <= 0 or roll < 0.45:
        return rng.choice(
            [
                None,
                True,
                False,
                0,
                1,
                -1,
                rng.randint(-(2**70), 2**70),
                rng.randint(-3, 40),
                2**63,
                1.5,
                -0.0,
                math.nan,
                math.inf,
                86400.0,
                rng.choice(_JUNK_TEXT),
                rng.choice(_JUNK_TEXT),
                {},
                [],
            ]
        )
    width = rng.randint(0, 10)
    if roll < 0.5:  # a list without a string tag
        first: Any = rng.choice([1, None, 1.5, True, [], ["l"]])
        return [first, *[_junk(rng, budget, depth - 1) for _ in range(width)]]
    if roll < 0.55:
        return {rng.choice(_JUNK_TEXT): _junk(rng, budget, depth - 1)}
    tag = rng.choice(_TAGS)
    rest = [_junk(rng, budget, depth - 1) for _ in range(width)]
    if tag == "nt" and rng.random() < 0.7:  # give named tuples a fair chance
        fields = rng.sample(["x", "y", "z", "class", "_a"], rng.randint(0, 3))
        rest = [rng.choice(["P", "Q", "def"]), fields, *rest[: len(fields)]]
    return [tag, *rest]


def test_random_junk_decodes_to_a_value_or_a_wire_error_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire, "_NAMEDTUPLES", {})
    rng = random.Random(20240611)
    outcomes = collections.Counter[str]()
    failures = []
    for _ in range(5000):
        data = _junk(rng, [40], rng.randint(1, 6))
        try:
            wire.decode(data, wire.Refs())
        except wire.WireError:
            outcomes["refused"] += 1
        except BaseException as exc:
            failures.append((data, type(exc).__name__, str(exc)[:200]))
        else:
            outcomes["decoded"] += 1
    assert failures == []
    # The generator exercises both paths, not just one of them.
    assert outcomes["refused"] > 500
    assert outcomes["decoded"] > 500


# Connections -----------------------------------------------------------------------


def _frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def test_messages_round_trip_over_a_connection(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.send(["call", 1, "text"])
    right.send(["reply", None])
    assert right.receive() == ["call", 1, "text"]
    assert left.receive() == ["reply", None]


def test_encoded_values_survive_a_real_connection(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    for value in PLAIN_VALUES:
        left.send(["value", wire.encode(value, wire.Refs())])
        kind, data = right.receive()
        assert kind == "value"
        _assert_same(wire.decode(data, wire.Refs()), value)


def test_nan_and_a_lone_surrogate_survive_a_real_connection(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.send(["v", math.nan, "\ud800", -0.0])
    _, nan, surrogate, zero = right.receive()
    assert math.isnan(nan)
    assert surrogate == "\ud800"
    assert math.copysign(1.0, zero) == -1.0


def test_several_frames_sent_at_once_are_received_one_by_one(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.sock.sendall(_frame(b'["one"]') + _frame(b'["two",2]') + _frame(b'["three",[3]]'))
    assert right.receive() == ["one"]
    assert right.receive() == ["two", 2]
    assert right.receive() == ["three", [3]]


def test_a_frame_sent_a_byte_at_a_time_is_received_whole(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    for byte in _frame(b'["slow", "frame"]'):
        left.sock.sendall(bytes([byte]))
    assert right.receive() == ["slow", "frame"]


def test_a_message_larger_than_a_socket_buffer_arrives_whole(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    message = ["big", "x" * (wire.MAX_FRAME_BYTES // 2)]
    sender = threading.Thread(target=left.send, args=(message,))
    sender.start()
    try:
        assert right.receive() == message
    finally:
        sender.join()


@pytest.mark.parametrize("size", [wire.MAX_FRAME_BYTES + 1, 2**32 - 1])
def test_a_frame_announcing_too_many_bytes_is_refused_before_its_body(
    connections: tuple[wire.Connection, wire.Connection], size: int
) -> None:
    left, right = connections
    left.sock.sendall(struct.pack(">I", size))  # and no body at all
    # Waiting for the body would end in Timeout; the header alone must be refused.
    with pytest.raises(wire.WireError):
        right.receive(deadline=time.monotonic() + 30)


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"",
        b"not json",
        b"[1,",
        b"\xff\xfe",
        '["é"]'.encode(),
        b'{"a": 1}',
        b"5",
        b'"text"',
        b"null",
        b"[]",
        b"[" * 100_000 + b"]" * 100_000,
        b"[" + b"9" * 5000 + b"]",
    ],
    ids=lambda payload: repr(payload[:20]),
)
def test_a_frame_that_is_not_a_non_empty_json_list_is_refused(
    connections: tuple[wire.Connection, wire.Connection], payload: bytes
) -> None:
    left, right = connections
    left.sock.sendall(_frame(payload))
    with pytest.raises(wire.WireError):
        right.receive(deadline=time.monotonic() + 30)


def test_a_closed_peer_is_reported_as_gone(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.close()
    with pytest.raises(wire.PeerGone):
        right.receive()


def test_a_peer_that_closes_in_the_middle_of_a_frame_is_reported_as_gone(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.sock.sendall(_frame(b'["cut short"]')[:8])
    left.close()
    with pytest.raises(wire.PeerGone):
        right.receive()


def test_sending_to_a_closed_peer_is_reported_as_gone(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    right.close()
    with pytest.raises(wire.PeerGone):
        left.send(["anyone there?"])


def test_waiting_past_the_deadline_for_a_silent_peer_times_out(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    _, right = connections
    with pytest.raises(wire.Timeout):
        right.receive(deadline=time.monotonic() + 0.05)


def test_a_deadline_already_past_times_out(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    _, right = connections
    with pytest.raises(wire.Timeout):
        right.receive(deadline=time.monotonic() - 1)


def test_a_timeout_ends_no_earlier_than_its_deadline(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    _, right = connections
    deadline = time.monotonic() + 0.1
    with pytest.raises(wire.Timeout):
        right.receive(deadline=deadline)
    assert time.monotonic() >= deadline


def _send_later(connection: wire.Connection, message: list[Any], delay_s: float) -> threading.Timer:
    timer = threading.Timer(delay_s, connection.send, args=(message,))
    timer.start()
    return timer


def test_a_receive_without_a_deadline_after_one_that_timed_out_waits_for_the_message(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    with pytest.raises(wire.Timeout):
        right.receive(deadline=time.monotonic() + 0.01)
    # The socket's receive timeout of the last call must not cut this one short.
    timer = _send_later(left, ["late"], 0.2)
    try:
        assert right.receive() == ["late"]
    finally:
        timer.join()


def test_a_later_deadline_after_a_short_one_waits_until_the_message_comes(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    with pytest.raises(wire.Timeout):
        right.receive(deadline=time.monotonic() + 0.01)
    timer = _send_later(left, ["in time"], 0.2)
    try:
        assert right.receive(deadline=time.monotonic() + 30) == ["in time"]
    finally:
        timer.join()


def test_messages_keep_coming_across_many_receives_with_one_deadline(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    deadline = time.monotonic() + 30
    for number in range(200):
        left.send(["n", number])
        assert right.receive(deadline=deadline) == ["n", number]


@pytest.mark.parametrize(
    "payload",
    [b' ["padded"]', b'["padded"] ', b'["one"]["two"]', b"[1]\n"],
    ids=["leading space", "trailing space", "two values", "newline"],
)
def test_a_frame_with_anything_around_its_json_list_is_refused(
    connections: tuple[wire.Connection, wire.Connection], payload: bytes
) -> None:
    left, right = connections
    left.sock.sendall(_frame(payload))
    with pytest.raises(wire.WireError):
        right.receive(deadline=time.monotonic() + 30)


def test_a_message_given_as_json_text_arrives_as_its_value(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.send('["ok",7,[],[]]')
    assert right.receive() == ["ok", 7, [], []]


def test_a_message_given_as_json_text_over_the_frame_limit_raises_too_large(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    with pytest.raises(wire.TooLarge):
        left.send('["' + "x" * wire.MAX_FRAME_BYTES + '"]')
    left.send(["next"])
    assert right.receive(deadline=time.monotonic() + 30) == ["next"]


def _filler(size: int) -> bytes:
    """A frame of exactly ``size`` bytes, header included."""
    return _frame(b'["' + b"f" * (size - wire._HEADER.size - 4) + b'"]')


@pytest.mark.parametrize("cut", [0, 1, 3, 4, 5, 9])
def test_a_frame_that_straddles_the_end_of_the_receive_buffer_is_received_whole(
    connections: tuple[wire.Connection, wire.Connection], cut: int
) -> None:
    # The first frame leaves ``cut`` bytes of the buffer for the second one's start
    # (part of its header, or of its body), whose rest comes in the next read.
    left, right = connections
    second = _frame(b'["second", 2]')
    first = _filler(wire.RECEIVE_BYTES - cut)
    left.sock.sendall(first + second[:cut])
    assert right.receive(deadline=time.monotonic() + 30)[0] == "f" * (len(first) - 8)
    left.sock.sendall(second[cut:] + _frame(b'["third"]'))
    assert right.receive(deadline=time.monotonic() + 30) == ["second", 2]
    assert right.receive(deadline=time.monotonic() + 30) == ["third"]


@pytest.mark.parametrize(
    "size", [wire.RECEIVE_BYTES - 1, wire.RECEIVE_BYTES, wire.RECEIVE_BYTES + 1]
)
def test_a_frame_the_size_of_the_receive_buffer_give_or_take_a_byte_is_received_whole(
    connections: tuple[wire.Connection, wire.Connection], size: int
) -> None:
    left, right = connections
    sender = threading.Thread(target=left.sock.sendall, args=(_filler(size) + _frame(b"[1]"),))
    sender.start()
    try:
        assert len(right.receive(deadline=time.monotonic() + 30)[0]) == size - 8
        assert right.receive(deadline=time.monotonic() + 30) == [1]
    finally:
        sender.join()


def test_small_frames_after_a_large_one_are_received_into_a_buffer_of_the_usual_size(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    message = ["big", "x" * (wire.RECEIVE_BYTES * 4)]
    sender = threading.Thread(target=left.send, args=(message,))
    sender.start()
    try:
        assert right.receive(deadline=time.monotonic() + 30) == message
    finally:
        sender.join()
    for number in range(3):
        left.send(["small", number])
        assert right.receive(deadline=time.monotonic() + 30) == ["small", number]
    assert len(right._data) == wire.RECEIVE_BYTES


def test_a_frame_that_fails_to_decode_is_dropped_and_the_next_one_is_read(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    # The judge gives up on a connection after a WireError; still, a bad frame must
    # not leave the buffer pointing into its own body.
    left, right = connections
    left.sock.sendall(_frame(b"[1,") + _frame(b'["after"]'))
    with pytest.raises(wire.WireError):
        right.receive(deadline=time.monotonic() + 30)
    assert right.receive(deadline=time.monotonic() + 30) == ["after"]


def test_a_header_cut_short_by_a_closed_peer_is_reported_as_gone(
    connections: tuple[wire.Connection, wire.Connection],
) -> None:
    left, right = connections
    left.sock.sendall(b"\x00\x00")
    left.close()
    with pytest.raises(wire.PeerGone):
        right.receive()


@pytest.mark.parametrize(
    "message",
    [
        ["x" * wire.MAX_FRAME_BYTES],
        # ensure_ascii writes each é as six bytes: the limit is on bytes, not characters.
        ["é" * (wire.MAX_FRAME_BYTES // 6 + 1)],
    ],
    ids=["ascii", "escaped"],
)
def test_sending_a_message_over_the_frame_limit_raises_too_large_and_sends_nothing(
    connections: tuple[wire.Connection, wire.Connection], message: list[Any]
) -> None:
    left, right = connections
    with pytest.raises(wire.TooLarge):
        left.send(message)
    left.send(["next"])
    assert right.receive(deadline=time.monotonic() + 30) == ["next"]


# Encoding limits -------------------------------------------------------------------


def test_too_large_is_a_value_error() -> None:
    assert issubclass(wire.TooLarge, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda inner: [inner],
        lambda inner: (inner,),
        lambda inner: {"key": inner},
        lambda inner: collections.deque([inner]),
        lambda inner: collections.OrderedDict(key=inner),
    ],
    ids=["list", "tuple", "dict", "deque", "ordered dict"],
)
def test_encoding_a_value_nested_500_deep_raises_too_large(make: Any) -> None:
    value: Any = 1
    for _ in range(500):
        value = make(value)
    with pytest.raises(wire.TooLarge):
        wire.encode(value, wire.Refs())


def test_encoding_a_list_that_contains_itself_raises_too_large() -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(wire.TooLarge):
        wire.encode(looped, wire.Refs())


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("count_words", "count_words"),
        ("Counter.add", "Counter.add"),
        ("wörter", "wörter"),
        ("f.<locals>.g", None),
        ("x; rm -rf /", None),
        ("`x`", None),
        ("", None),
        ("a" * 101, None),
        (42, None),
        (None, None),
    ],
)
def test_only_a_plain_name_of_code_is_reported_as_the_function(
    value: object, named: str | None
) -> None:
    assert wire.code_name(value) == named
