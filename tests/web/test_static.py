"""The first-party scripts parse: a syntax error would silently break every page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gradeflow.app import STATIC_DIR

# Our own scripts: the static ones and the editor's source (an ES module, bundled by
# `make install` into static/build/, which is generated and not checked here).
FRONTEND_DIR = Path(__file__).parents[2] / "frontend"
SCRIPTS = sorted(Path(STATIC_DIR).glob("*.js")) + sorted(FRONTEND_DIR.glob("*.js"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[path.name for path in SCRIPTS])
def test_each_script_is_valid_javascript(script: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    checked = subprocess.run(
        [node, "--check", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stderr
