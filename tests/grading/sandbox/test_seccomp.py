"""The seccomp filter: its syscall numbers, and what it does once installed."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gradeflow.grading.sandbox.jailed.seccomp import AARCH64, X86_64, Abi, build_filter

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "generic": Path("/usr/include/asm-generic/unistd.h"),
}


def header_numbers(path: Path) -> dict[str, int]:
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    pattern = re.compile(r"^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$", re.MULTILINE)
    return {name: int(number) for name, number in pattern.findall(path.read_text())}


@pytest.mark.parametrize(("abi", "header"), [(X86_64, "x86_64"), (AARCH64, "generic")])
def test_syscall_numbers_match_the_kernel_headers(abi: Abi, header: str) -> None:
    numbers = header_numbers(HEADERS[header])

    assert {name: numbers.get(name) for name in abi.numbers} == abi.numbers


@pytest.mark.parametrize("abi", [X86_64, AARCH64])
def test_the_filter_is_a_whole_number_of_instructions_within_the_kernel_limit(abi: Abi) -> None:
    program = build_filter(abi)

    assert len(program) % 8 == 0
    assert len(program) // 8 < 4096


PROBE = """
import ctypes, errno, json, os, socket
from gradeflow.grading.sandbox.jailed import seccomp
seccomp.install(seccomp.build_filter(seccomp.native_abi()))
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "ok"
def raw(number, *args):
    def call():
        if libc.syscall(number, *args) < 0:
            raise OSError(ctypes.get_errno(), "")
    return call
print(json.dumps({
    "unshare": errno_of(lambda: os.unshare(0x10000000) if hasattr(os, "unshare")
                        else raw(272, 0x10000000)()),
    "inet": errno_of(lambda: socket.socket(socket.AF_INET).close()),
    "unix": errno_of(lambda: socket.socket(socket.AF_UNIX).close()),
    "clone3": errno_of(raw(435, 0, 0)),
    "fork": errno_of(lambda: os.waitpid(os.fork() or os._exit(0), 0)),
}))
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="raw syscall numbers of x86_64")
def test_the_installed_filter_denies_and_allows_what_it_says() -> None:
    output = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=30
    ).stdout

    assert json.loads(output) == {
        "unshare": "EPERM",
        "inet": "EAFNOSUPPORT",
        "unix": "ok",
        "clone3": "ENOSYS",
        "fork": "ok",
    }
