"""Student objects as the tests in the judge see them: proxies whose every use is a
request to the student process.

The rules that keep the verdict the judge's (see docs/security.md):

- a proxy is never equal to, nor ordered against, a plain value;
- a ``with`` block's failure is never suppressed by a student ``__exit__``;
- only whitelisted dunder attributes are asked for (a function's ``__name__``),
  so the judge's own machinery (traceback, unittest) never asks student code;
- a ``StudentFailure`` (the student process died, hung, ran out of memory) is a
  ``BaseException``: no ``except Exception`` or ``assertRaises`` turns it into a pass.

Standard library only: it runs inside the jail.
"""

from __future__ import annotations

import types
import unittest
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gradeflow.grading.sandbox.jailed import wire
from gradeflow.grading.sandbox.jailed.wire import bound_message

if TYPE_CHECKING:
    from gradeflow.grading.sandbox.jailed.session import Session


class StudentFailure(BaseException):
    """The student process failed in a way that fails the test whatever the test does.

    A ``BaseException`` so that ``except Exception`` and ``assertRaises(Exception)``
    in the tests do not catch it; unittest records it as the test's error.
    """

    def __init__(self, kind: str, message: str, function: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout", "memory_limit" or "crashed"
        self.message = message
        # The student's function the tests were calling when time ran out, as the
        # judge named it (``Session.calling``); None when it was not a call.
        self.function = function

    def __str__(self) -> str:
        return self.message


# The judge's one conversation with student code; set when the run starts.
current: Session | None = None


def _current() -> Session:
    assert current is not None
    return current


def ref_of(obj: object) -> tuple[int, int]:
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
    {
        "__name__",
        "__qualname__",
        "__doc__",
        "__annotations__",
        "__defaults__",
        "__kwdefaults__",
        "__slots__",
        "__match_args__",
        "__dataclass_fields__",
        "__members__",
    }
)


class Forwarding:
    """Operations every student object answers remotely."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_gf_") or (name.startswith("__") and name not in _FORWARDED_DUNDERS):
            raise AttributeError(name)
        session = _current()
        if (type(self), name) in session.methods:  # known to be a method: no request
            return BoundMethod(self, name)
        value = session.request_on(self, "get", name)
        if name in ITERATION_METHODS and isinstance(value, Forwarding):
            # A generator's send, called as a method of it, whose StopIteration is its
            # own to raise (see ``Session.request``): not the proxy the read gave, which
            # may be a function of student code the tests also hold and map over.
            return BoundMethod(self, name)
        return value

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


_T = TypeVar("_T")


def _answer_of_type(target: object, operation: str, kind: type[_T]) -> _T:
    """An operation Python requires an exact type from (``len`` an int, ...)."""
    value = _current().operation(target, operation)
    if type(value) is not kind:
        raise TypeError(f"__{operation}__ of your object did not return a {kind.__name__}")
    return value


class BoundMethod:
    """A method of a student object: calling it is one request (``callm``)."""

    __slots__ = ("name", "target")

    def __init__(self, target: object, name: str) -> None:
        self.target = target
        self.name = name

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return _current().call_method(self.target, self.name, args, kwargs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoundMethod):
            return NotImplemented
        return self.target is other.target and self.name == other.name

    def __hash__(self) -> int:
        return hash((id(self.target), self.name))

    def __repr__(self) -> str:
        return f"<bound method {type(self.target).__qualname__}.{self.name}>"


class RemoteObject(Forwarding):
    """A student object seen from the judge: every use of it is a request."""

    def __setattr__(self, name: str, value: object) -> None:
        _current().request_on(self, "set", name, value)

    def __delattr__(self, name: str) -> None:
        _current().request_on(self, "del", name)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        return _current().call(self, args, kwargs)

    def __hash__(self) -> int:
        return _answer_of_type(self, "hash", int)

    def __bool__(self) -> bool:
        return _answer_of_type(self, "bool", bool)

    def __len__(self) -> int:
        return _answer_of_type(self, "len", int)

    def __index__(self) -> int:
        return _answer_of_type(self, "index", int)

    def __exit__(self, *exc_info: object) -> bool:
        exc = exc_info[1]
        args: tuple[object, ...] = (None, None, None)
        if isinstance(exc, RemoteException):
            args = (type(exc), exc, None)
        elif isinstance(exc, BaseException):
            # The tests' exception, as the builtin one it is or derives from.
            base = wire.EXCEPTIONS[wire.exception_name(type(exc))]
            args = (base, _rebuilt(base, exc), None)
        try:
            suppress = bool(_current().operation(self, "exit", *args))
        except StudentFailure:
            raise
        except BaseException:
            # Nor replace them by raising something else (which an assertRaises
            # around the block would take as the exception it expects).
            if isinstance(exc, STICKY):
                raise exc from None
            raise
        # The tests' own failures are theirs: student code may not swallow them.
        if suppress and isinstance(exc, STICKY):
            return False
        return suppress

    __eq__ = _remote_with_proxy("eq")
    __ne__ = _remote_with_proxy("ne")
    __lt__ = _remote_with_proxy("lt")
    __le__ = _remote_with_proxy("le")
    __gt__ = _remote_with_proxy("gt")
    __ge__ = _remote_with_proxy("ge")


for _name in [
    "iter",
    "next",
    "reversed",
    "contains",
    "getitem",
    "setitem",
    "delitem",
    "enter",
    "format",
    "int",
    "float",
    "complex",
    "round",
    "abs",
    "neg",
    "pos",
    "invert",
]:
    setattr(RemoteObject, f"__{_name}__", _remote(_name))
for _name in wire.BINARY_OPERATORS:
    setattr(RemoteObject, f"__{_name}__", _remote(_name))
    setattr(RemoteObject, f"__r{_name}__", _remote(f"r{_name}"))


def _rebuilt(base: type[BaseException], exc: BaseException) -> BaseException:
    try:
        return base(exception_text(exc))
    except TypeError:
        return Exception(exception_text(exc))


class RemoteException(Forwarding):
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
        return value

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
        session = _current()
        # ``from solution import f`` reads f twice in a row (hasattr, then getattr):
        # the second read is the first's answer, if nothing was asked in between.
        last = session.last_module_read
        if last is not None and last[0] == (session.generation, name):
            return last[1]
        value = session.read_module(self, name)
        if isinstance(value, Forwarding) and "_gf_origin" not in value.__dict__:
            value.__dict__["_gf_origin"] = name
        session.last_module_read = ((session.generation, name), value)
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


STICKY = (AssertionError, unittest.SkipTest, StudentFailure)
# Names of the methods of an iterator or a generator whose StopIteration is theirs to
# raise (``gen.send(None)`` at its end); see ``Session.request``.
ITERATION_METHODS = frozenset({"send", "throw", "next"})


class _SendCheck(wire.Refs):
    """Accepts what the judge could send (proxies, functions), to decide without sending."""

    def local(self, obj: object, depth: int) -> list[Any]:
        if isinstance(obj, (Forwarding, RemoteModule, RemoteClassMeta)):
            return ["h", 0]
        raise TypeError(type(obj).__name__)


SEND_CHECK = _SendCheck()
_GENERIC: dict[tuple[str, bool], type] = {}


# Types whose objects tests check with isinstance: their proxies claim the type as
# their __class__, which is what isinstance consults after the real type.
_CLAIMED = {"generator": types.GeneratorType, "function": types.FunctionType}


class CodeFlags:
    """What a student function's ``__code__`` shows the tests: its flags (is it a
    generator, a coroutine), which ``inspect`` reads; nothing else of its code."""

    def __init__(self, flags: int) -> None:
        self.co_flags = flags


def _claiming(claimed: type) -> Callable[[object], type]:
    return lambda self: claimed


def generic_class(name: str, function: bool) -> type:
    """The proxy class of objects of a type that is not the student's (a generator, ...)."""
    key = (name, function)
    cls = _GENERIC.get(key)
    if cls is None:
        namespace: dict[str, Any] = {"__module__": "builtins"}
        claimed = _CLAIMED.get(name)
        if claimed is not None:
            namespace["__class__"] = property(_claiming(claimed))
        cls = _GENERIC[key] = type(name, (RemoteObject,), namespace)
    return cls


def exception_text(exc: BaseException) -> str:
    try:
        return bound_message(str(exc))
    except BaseException:
        return type(exc).__name__
