"""The seccomp filter of a sandboxed run, assembled here as a classic BPF program.

A deny-list: CPython, unittest and the student programs of a Python course use a
wide and version-dependent set of system calls, so an allow-list would break
ordinary code with every new interpreter or C library. What is denied is what
lets a process reach past its namespaces or attack the kernel: tracing other
processes, mounting, new namespaces, kernel modules and keyrings, BPF, perf,
io_uring, handle-based file opening, clock and swap changes, inotify (whose
instances are counted per user across namespaces), and every socket family other
than AF_UNIX. Denied calls fail with EPERM (so the student sees a
``PermissionError``), except ``clone3``, which fails with ENOSYS so that the C
library falls back to ``clone``, whose flags the filter can inspect. A call made
through another ABI (32-bit ``int 0x80``, x32) kills the process, since the
numbers below would not mean the same calls there.

Built by the project rather than through a libseccomp binding: the program is
about a hundred instructions, needs no native dependency, and the only Python
binding on PyPI over libseccomp (``pyseccomp``) has not been released since 2021.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
from dataclasses import dataclass

from gradeflow.grading.sandbox.jailed import linux

# Classic BPF opcodes (linux/filter.h) and seccomp return actions (linux/seccomp.h).
_LD_ABS_W = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# Offsets in struct seccomp_data; arguments are 64-bit, low word first (little endian).
_NR = 0
_ARCH = 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index


@dataclass(frozen=True)
class Abi:
    audit_arch: int
    numbers: dict[str, int]
    x32_bit: int | None = None  # syscall numbers with this bit use another ABI


_DENIED = [
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "personality",
    "acct",
    "swapon",
    "swapoff",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "vhangup",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "name_to_handle_at",
    "open_by_handle_at",
    "fanotify_init",
    # inotify instances and watches are counted per uid across every user namespace
    # (fs.inotify.max_user_instances, 128 by default): unprivileged, a run is the
    # invoking user, and could take them all from the user's own programs.
    "inotify_init",
    "inotify_init1",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "iopl",
    "ioperm",
    "create_module",
    "get_kernel_syms",
    "query_module",
]

# From the kernel's unistd headers (asm/unistd_64.h and asm-generic/unistd.h);
# tests/grading/sandbox/test_seccomp.py checks them against the installed headers.
X86_64 = Abi(
    audit_arch=0xC000003E,
    x32_bit=0x40000000,
    numbers={
        "ioctl": 16, "socket": 41, "socketpair": 53, "clone": 56, "ptrace": 101,
        "syslog": 103, "uselib": 134, "ustat": 136, "personality": 135, "sysfs": 139,
        "vhangup": 153, "_sysctl": 156, "adjtimex": 159, "chroot": 161, "acct": 163,
        "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
        "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
        "create_module": 174, "init_module": 175, "delete_module": 176,
        "get_kernel_syms": 177, "query_module": 178, "quotactl": 179, "nfsservctl": 180,
        "lookup_dcookie": 212, "clock_settime": 227, "inotify_init": 253,
        "inotify_init1": 294, "kexec_load": 246, "add_key": 248,
        "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
        "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "kexec_file_load": 320,
        "bpf": 321, "userfaultfd": 323, "pivot_root": 155, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
        "pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443,
    },
)  # fmt: skip
AARCH64 = Abi(
    audit_arch=0xC00000B7,
    numbers={
        "lookup_dcookie": 18, "inotify_init1": 26, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41,
        "nfsservctl": 42, "chroot": 51, "vhangup": 58, "quotactl": 60, "acct": 89,
        "personality": 92, "unshare": 97, "kexec_load": 104, "init_module": 105,
        "delete_module": 106, "clock_settime": 112, "syslog": 116, "ptrace": 117,
        "reboot": 142, "sethostname": 161, "setdomainname": 162, "settimeofday": 170,
        "adjtimex": 171, "socket": 198, "socketpair": 199, "add_key": 217,
        "request_key": 218, "keyctl": 219, "clone": 220, "swapon": 224, "swapoff": 225,
        "perf_event_open": 241, "fanotify_init": 262, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "clock_adjtime": 266, "setns": 268,
        "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "finit_module": 273,
        "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
        "pidfd_getfd": 438, "mount_setattr": 442, "quotactl_fd": 443,
    },
)  # fmt: skip
ABIS = {"x86_64": X86_64, "aarch64": AARCH64}

AF_UNIX = 1
# Terminal ioctls that push input into, or reprogram, a terminal the run might share.
TIOCSTI = 0x5412
TIOCLINUX = 0x541C


def native_abi() -> Abi | None:
    return ABIS.get(platform.machine())


class _Assembler:
    """Classic BPF with symbolic forward jumps, resolved when the program is packed."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.code.append((_LD_ABS_W, 0, 0, offset))

    def jump(self, op: int, value: int, if_true: int | str, if_false: int | str) -> None:
        self.code.append((op, if_true, if_false, value))

    def ret(self, action: int) -> None:
        self.code.append((_RET_K, 0, 0, action))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def pack(self) -> bytes:
        out = bytearray()
        for position, (op, if_true, if_false, value) in enumerate(self.code):
            out += struct.pack(
                "<HBBI",
                op,
                self._offset(position, if_true),
                self._offset(position, if_false),
                value,
            )
        return bytes(out)

    def _offset(self, position: int, target: int | str) -> int:
        if isinstance(target, int):
            return target
        offset = self.labels[target] - position - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"BPF jump to {target} out of range")
        return offset


def build_filter(abi: Abi) -> bytes:
    """The packed ``sock_filter`` array of the run filter for ``abi``."""
    numbers = abi.numbers
    asm = _Assembler()
    asm.load(_ARCH)
    asm.jump(_JEQ_K, abi.audit_arch, 0, "kill")
    asm.load(_NR)
    if abi.x32_bit is not None:
        asm.jump(_JGE_K, abi.x32_bit, "kill", 0)
    for name in _DENIED:
        if name in numbers:
            asm.jump(_JEQ_K, numbers[name], "eperm", 0)
    asm.jump(_JEQ_K, numbers["clone3"], "enosys", 0)
    asm.jump(_JEQ_K, numbers["clone"], "clone", 0)
    asm.jump(_JEQ_K, numbers["socket"], "socket", 0)
    asm.jump(_JEQ_K, numbers["socketpair"], "socket", 0)
    asm.jump(_JEQ_K, numbers["ioctl"], "ioctl", 0)
    asm.ret(RET_ALLOW)

    asm.label("clone")  # new namespaces through clone's flags (argument 0)
    asm.load(_arg_low(0))
    asm.jump(_JSET_K, linux.NAMESPACE_FLAGS, "eperm", 0)
    asm.ret(RET_ALLOW)

    asm.label("socket")  # socket(domain, ...) and socketpair(domain, ...)
    asm.load(_arg_low(0))
    asm.jump(_JEQ_K, AF_UNIX, 0, "eafnosupport")
    asm.ret(RET_ALLOW)

    asm.label("ioctl")  # ioctl(fd, request, ...): the request is an unsigned int
    asm.load(_arg_low(1))
    asm.jump(_JEQ_K, TIOCSTI, "eperm", 0)
    asm.jump(_JEQ_K, TIOCLINUX, "eperm", 0)
    asm.ret(RET_ALLOW)

    asm.label("eperm")
    asm.ret(RET_ERRNO | errno.EPERM)
    asm.label("enosys")
    asm.ret(RET_ERRNO | errno.ENOSYS)
    asm.label("eafnosupport")
    asm.ret(RET_ERRNO | errno.EAFNOSUPPORT)
    asm.label("kill")
    asm.ret(RET_KILL_PROCESS)
    return asm.pack()


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(program: bytes) -> None:
    """Load ``program`` for this process and its future children; irreversible.

    Sets no_new_privs first, which an unprivileged filter requires and which also
    keeps a setuid binary from gaining privileges on exec.
    """
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    linux.prctl(
        linux.PR_SET_SECCOMP,
        linux.SECCOMP_MODE_FILTER,
        ctypes.c_void_p(ctypes.addressof(fprog)),
    )
