"""Start one of the sandbox's own modules in a bare interpreter (``python -I -S -B``).

``-I -S`` gives the interpreter no site-packages, so gradeflow is not importable as
installed; empty stand-ins for the parent packages let the sandbox's modules import
each other by their real names without running any other part of gradeflow.

Standard library only: the judge uses it too, inside the jail.
"""

from __future__ import annotations

import os

JAILED_DIR = os.path.dirname(os.path.abspath(__file__))
# The sandbox package's directory: the stand-in for it below finds this subpackage.
PACKAGE_DIR = os.path.dirname(JAILED_DIR)

# All the environment the host gives an interpreter it starts: nothing of the worker's.
BARE_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

BOOTSTRAP = """\
import importlib, sys, types
for name, path in (("gradeflow", []), ("gradeflow.grading", []),
                   ("gradeflow.grading.sandbox", [sys.argv[1]])):
    module = types.ModuleType(name)
    module.__path__ = path
    sys.modules[name] = module
importlib.import_module("gradeflow.grading.sandbox.jailed." + sys.argv[2]).main(sys.argv[3:])
"""


def command(python: str, module: str, *args: str) -> list[str]:
    """The argv that runs ``module.main(args)`` of this package under ``python``."""
    return [python, "-I", "-S", "-B", "-c", BOOTSTRAP, PACKAGE_DIR, module, *args]
