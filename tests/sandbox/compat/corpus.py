"""The compatibility cases, read from ``cases/<name>/``.

Each case is a small assignment written the ordinary way: ``tests.py`` (stdlib
unittest, with a docstring saying what the case proves), the reference solution
``<module>.py`` and a plausible wrong submission ``wrong.py``; ``case.toml`` says::

    module = "clock"                      # what the tests import; default "solution"
    skipped = ["ClockTest.test_bonus"]    # tests the runs report as skipped; default none

    [wrong]
    fails = ["ClockTest.test_add"]        # exactly the tests wrong.py fails (or errors)
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gradeflow.courses.discovery import discover_test_ids
from gradeflow.grading.sandbox import RunSpec

CASES_DIR = Path(__file__).with_name("cases")


@dataclass(frozen=True)
class Case:
    name: str
    module: str
    tests: str
    solution: str
    wrong: str
    test_ids: tuple[str, ...]
    skipped: frozenset[str]
    wrong_fails: frozenset[str]

    def __str__(self) -> str:
        return self.name

    @property
    def proves(self) -> str:
        """The first line of the docstring of ``tests.py``."""
        docstring = ast.get_docstring(ast.parse(self.tests)) or ""
        return docstring.strip().splitlines()[0] if docstring.strip() else ""

    def spec(self, code: str) -> RunSpec:
        return RunSpec(
            files={"tests.py": self.tests.encode(), f"{self.module}.py": code.encode()},
            module=self.module,
            test_ids=self.test_ids,
            time_limit_s=10,
            memory_mb=256,
        )


def load_case(directory: Path) -> Case:
    config = tomllib.loads((directory / "case.toml").read_text(encoding="utf-8"))
    module = config.get("module", "solution")
    tests = (directory / "tests.py").read_text(encoding="utf-8")
    return Case(
        name=directory.name,
        module=module,
        tests=tests,
        solution=(directory / f"{module}.py").read_text(encoding="utf-8"),
        wrong=(directory / "wrong.py").read_text(encoding="utf-8"),
        test_ids=tuple(discover_test_ids(tests)),
        skipped=frozenset(config.get("skipped", [])),
        wrong_fails=frozenset(config["wrong"]["fails"]),
    )


def load_cases() -> list[Case]:
    return [load_case(path) for path in sorted(CASES_DIR.iterdir()) if path.is_dir()]


CASES = load_cases()
