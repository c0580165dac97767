"""A test-only multiplier of the time limits the sandbox tests give their runs.

``GRADEFLOW_TEST_TIME_SCALE`` (a number ≥ 1, default 1) multiplies every time limit
that the sandbox, attack and forgery tests put in a ``RunSpec``, and the bounds they
put on how long a run or a poll may take. ``make cgroup-vm`` sets it: under qemu's
emulated CPU (TCG, 10 to 30 times slower) a 2 s limit is spent before the judge has imported
the tests, and every run would end as a timeout. Only the time allowed grows; what
the tests assert of each outcome does not change. The sandbox never reads it.
"""

from __future__ import annotations

import os

VARIABLE = "GRADEFLOW_TEST_TIME_SCALE"


def _time_scale() -> float:
    text = os.environ.get(VARIABLE, "1")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{VARIABLE} must be a number ≥ 1, not {text!r}") from None
    if not value >= 1:
        raise ValueError(f"{VARIABLE} must be a number ≥ 1, not {text!r}")
    return value


TIME_SCALE = _time_scale()


def scaled(seconds: float) -> float:
    """``seconds`` of a time limit or a wait, on this machine (see the module docstring)."""
    return seconds * TIME_SCALE
