"""Find the test ids of a ``tests.py`` by reading its syntax tree, never by running it.

The expected test list must come from outside the sandbox: a run that reports fewer
(or other) tests than this list fails, so student code cannot pass by making tests
disappear. Static analysis covers the way exercise tests are written — top-level
``unittest.TestCase`` subclasses with ``test*`` methods, possibly inherited from other
classes in the same file — and the judge runs exactly the ids found here.
"""

from __future__ import annotations

import ast

_TEST_CASE_BASES = frozenset({"TestCase", "IsolatedAsyncioTestCase"})


class TestDiscoveryError(ValueError):
    """The tests file has no runnable tests."""

    # Not a test class, despite the name: keep pytest from collecting it.
    __test__ = False

    def __init__(self, message: str, *, filename: str, line: int | None = None) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line


def discover_test_ids(tests_source: str, filename: str = "tests.py") -> list[str]:
    """The ids ("ClassName.test_method") of the tests in ``tests_source``, in definition order."""
    try:
        tree = ast.parse(tests_source, filename=filename)
    except SyntaxError as exc:
        line = exc.lineno
        where = f"{filename}, line {line}" if line else filename
        raise TestDiscoveryError(f"{where}: {exc.msg}", filename=filename, line=line) from exc
    except ValueError as exc:  # source with NUL bytes
        raise TestDiscoveryError(f"{filename}: {exc}", filename=filename) from exc

    unittest_names, test_case_names = _imported_names(tree)
    # Every top-level class -> its test method names, own and inherited from classes
    # of this file (mixins included, as unittest would find them). Dicts keep the
    # first position of a redefined name, as a module's namespace does.
    methods: dict[str, list[str]] = {}
    test_cases: dict[str, None] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        names: list[str] = []
        is_test_case = False
        for base in node.bases:
            if _is_test_case_base(base, unittest_names, test_case_names):
                is_test_case = True
            elif isinstance(base, ast.Name) and base.id in methods:
                is_test_case = is_test_case or base.id in test_cases
                names += [name for name in methods[base.id] if name not in names]
        methods[node.name] = names + [name for name in _test_methods(node) if name not in names]
        if is_test_case:
            test_cases[node.name] = None
        else:
            test_cases.pop(node.name, None)

    ids = [f"{cls}.{method}" for cls in test_cases for method in methods[cls]]
    if not ids:
        raise TestDiscoveryError(
            f"{filename}: no tests found; write unittest.TestCase subclasses "
            "with methods whose names start with 'test'",
            filename=filename,
        )
    return ids


def _imported_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the unittest module and to its TestCase classes by top-level imports."""
    unittest_names = {"unittest"}
    test_case_names = set(_TEST_CASE_BASES)
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "unittest":
                    unittest_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module in ("unittest", "unittest.case"):
            for alias in node.names:
                if alias.name in _TEST_CASE_BASES:
                    test_case_names.add(alias.asname or alias.name)
    return unittest_names, test_case_names


def _is_test_case_base(base: ast.expr, unittest_names: set[str], test_case_names: set[str]) -> bool:
    if isinstance(base, ast.Name):
        return base.id in test_case_names
    return (
        isinstance(base, ast.Attribute)
        and base.attr in _TEST_CASE_BASES
        and isinstance(base.value, ast.Name)
        and base.value.id in unittest_names
    )


def _test_methods(node: ast.ClassDef) -> list[str]:
    names: list[str] = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if item.name.startswith("test") and item.name not in names:
            names.append(item.name)
    return names
