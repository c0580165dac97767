"""Dependencies point inward (STYLE.md): an AST walk over every import in ``src/``.

Each module belongs to a ring; a module may import its own package and rings inside
its own, never one further out. Features never import the web stack; the sandbox
imports nothing else of gradeflow, and the code that runs in the jail nothing but
the standard library. No import cycle anywhere, lazy imports included.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradeflow

SRC = Path(gradeflow.__file__).parent
ROOT = "gradeflow"

# Outermost last. A module's ring is that of the longest prefix listed here.
RINGS: list[tuple[str, ...]] = [
    # core
    ("settings", "errors", "logs", "metrics"),
    # imports nothing else of gradeflow: courses check assignments by its staging rules
    ("grading.sandbox",),
    ("db",),
    # adapters
    ("infra",),
    ("events",),
    # features, each may use those before it
    ("accounts",),
    ("courses",),
    ("grading",),
    ("grades",),
    # which cached reads a write makes stale: knows every feature's tables
    ("purges",),
    # the edges that consume jobs; only the composition root builds them
    ("grading.worker", "grading.preview_worker", "grades.worker"),
    # the composition root: builds adapters, the sandbox and the grader from settings
    ("runtime",),
    # edges
    ("migrate", "migrations", "stack"),
    ("body_limit",),
    ("deps",),
    ("api", "web"),
    ("app",),
    # the warm grader behind `gradeflow grade`: settings, courses and the sandbox only
    ("grade_server",),
    ("cli",),
    ("__main__",),
]
WEB_STACK = ("fastapi", "starlette", "jinja2", "uvicorn", "typer", "httpx")
FIRST_EDGE = RINGS.index(("migrate", "migrations", "stack"))
SANDBOX = "grading.sandbox"
JAILED = "grading.sandbox.jailed"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted, without the "gradeflow." prefix
    target: str  # dotted; a gradeflow target without the prefix, else the full name
    internal: bool
    line: int
    typing_only: bool  # under `if TYPE_CHECKING:`, never executed


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def resolve(importer: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([ROOT, *base, *([node.module] if node.module else [])])


def typing_only_nodes(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            found.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return found


def imports_of(path: Path) -> Iterator[Import]:
    importer = module_name(path)
    tree = ast.parse(path.read_text(), str(path))
    typing_only = typing_only_nodes(tree)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(importer, path, node)
            # `from gradeflow.grading import service` imports the module `service`.
            names = [
                f"{base}.{alias.name}"
                if base.startswith(ROOT) and is_module(f"{base}.{alias.name}"[len(ROOT) + 1 :])
                else base
                for alias in node.names
            ]
        for name in names:
            if name == ROOT or name.startswith(ROOT + "."):
                target, internal = name[len(ROOT) + 1 :], True
            else:
                target, internal = name, False
            yield Import(importer, target, internal, node.lineno, id(node) in typing_only)


def all_imports() -> list[Import]:
    return [found for path in sorted(SRC.rglob("*.py")) for found in imports_of(path)]


def ring(module: str) -> int:
    best, best_length = -1, -1
    for index, members in enumerate(RINGS):
        for member in members:
            matches = module == member or module.startswith(member + ".")
            if matches and len(member) > best_length:
                best, best_length = index, len(member)
    assert best >= 0, f"{module} is in no ring: add it to RINGS in {__file__}"
    return best


def package(module: str) -> str:
    return module.split(".")[0]


def inside(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations() -> list[str]:
    found = []
    for imp in all_imports():
        where = f"{imp.importer} (line {imp.line}) imports {imp.target}"
        if not imp.internal:
            top = imp.target.split(".")[0]
            if inside(imp.importer, JAILED) and top not in sys.stdlib_module_names:
                found.append(f"{where}: code in the jail uses the standard library only")
            elif ring(imp.importer) < FIRST_EDGE and top in WEB_STACK:
                found.append(f"{where}: only edges use the web stack")
            continue
        if inside(imp.importer, JAILED) and not inside(imp.target, JAILED):
            found.append(f"{where}: code in the jail imports nothing outside jailed/")
        elif inside(imp.importer, SANDBOX) and not inside(imp.target, SANDBOX):
            found.append(f"{where}: the sandbox imports nothing else of gradeflow")
        elif ring(imp.target) > ring(imp.importer):
            found.append(f"{where}: an inner ring imports an outer one")
        elif ring(imp.target) == ring(imp.importer) and package(imp.target) != package(
            imp.importer
        ):
            found.append(f"{where}: modules of one ring do not import each other")
    return found


def cycles() -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for imp in all_imports():
        if imp.internal and not imp.typing_only and imp.target != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.target)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_every_module_is_in_a_ring() -> None:
    for path in SRC.rglob("*.py"):
        if path.parent != SRC or path.name != "__init__.py":
            ring(module_name(path))


def test_imports_point_inward() -> None:
    assert violations() == []


def test_there_is_no_import_cycle() -> None:
    assert cycles() == []


def test_the_walk_sees_what_it_checks() -> None:
    """The rules are only as good as the walk: it must find the imports we know of."""
    found = {(i.importer, i.target) for i in all_imports() if i.internal}
    assert ("runtime", "grading.worker") in found
    assert (
        "api.assignments",
        "grading.service",
    ) in found  # `from gradeflow.grading import service`
    assert ("cli", "app") in found  # a lazy import inside a function
    # The longest prefix decides: the pure sandbox sits inside the features that use it.
    assert ring("grading.sandbox.jailed.zygote") == ring("grading.sandbox") < ring("courses")
    assert ring("grading.worker") > ring("grading.service")


def test_grading_from_the_command_line_loads_no_database_broker_or_web_stack() -> None:
    # `gradeflow grade` and `assignments check` start in a fraction of a second
    # because of this; an import that drags SQLAlchemy in would triple their time.
    probe = (
        "import sys, gradeflow.cli, gradeflow.grading.verdicts, gradeflow.courses.format\n"
        "heavy = ('sqlalchemy', 'redis', 'aio_pika', 'fastapi', 'starlette', 'asyncpg')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_warm_grade_call_imports_only_the_standard_library() -> None:
    # What `python -m gradeflow grade` runs before it knows whether the warm grader
    # answers: every third-party import here is paid on every call (issue 11).
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import gradeflow.__main__, gradeflow.grade_server.client\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'gradeflow'}))\n"
        "print('asyncio' in sys.modules, 'subprocess' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "False False"]
