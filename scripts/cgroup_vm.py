#!/usr/bin/env python3
"""The sandbox's cgroup v2 tests in a virtual machine whose only cgroup hierarchy is v2.

This host binds the ``pids`` and ``memory`` controllers to cgroup v1 hierarchies,
which no test may change, so the sandbox's cgroup v2 path cannot run here. This
script boots Debian's kernel under qemu (TCG: no KVM needed) with
``cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1``, the host's ``/`` shared
read-only over 9p with tmpfs for ``/tmp`` and ``/run``, from a small initramfs
(busybox and the 9p modules) whose init mounts it and runs one script that:

1. runs the sandbox tests as root, whose cgroup is the root of the hierarchy;
2. makes a delegated subtree for ``nobody`` (the directory and its
   ``cgroup.procs``, ``cgroup.subtree_control`` and ``cgroup.threads`` chowned,
   as systemd's ``Delegate=yes`` does), moves a shell into it and runs the same
   tests as ``nobody`` there, in unprivileged mode;
3. prints a result line per user (pytest's summary and exit code) and a last line
   with both exit codes to the console, which this script captures (``--log``),
   echoes and checks;
4. with ``--bench``, runs ``bench/sandbox.py --cgroup-cost`` as root in the same
   boot (cgroup limits on against off).

    sudo .venv/bin/python scripts/cgroup_vm.py [--tests PATH ...] [--time-scale N]
        [--bench="--runs N --rounds N"] [--log FILE]

The emulated CPU is 10 to 30 times slower than the host's, so the tests' own time
limits are multiplied by ``--time-scale`` (``GRADEFLOW_TEST_TIME_SCALE``, read by
``tests/grading/sandbox/time_scale.py``; default 10).

Needs root (to read the whole host over 9p), qemu-system-x86, busybox-static and
``/usr/bin/python3``; the kernel package is downloaded with ``apt-get download``
and unpacked into the cache (``/var/tmp/gradeflow-cgroup-vm``), never installed.
The tests run from a copy of the tree with a venv of Debian's interpreter (as
``make test-unprivileged`` does), kept while ``pyproject.toml`` is unchanged.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CACHE = Path("/var/tmp/gradeflow-cgroup-vm")  # noqa: S108 (root's cache, like make's)
KERNEL_PACKAGE = "linux-image-amd64"
# Kernel modules that mount the host's root over virtio 9p; their dependencies are
# read from each module's own modinfo.
ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p")
DEFAULT_TESTS = ("tests/grading/sandbox/test_cgroups.py",)
DEFAULT_TIME_SCALE = 10.0
RESULT_MARKER = "gradeflow-cgroup-vm:"
BOOT_TIMEOUT_S = 4 * 3600  # the attacks and forgeries as root and nobody took 55 min under load
MEMORY_MB = 2048
DELEGATED = "/sys/fs/cgroup/gradeflow-delegated"

INIT = """#!/bin/busybox sh
# PID 1 of the VM: mount the host's root read-only, run the guest script, power off.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for module in $($B cat /modules/order); do
    $B insmod /modules/$module.ko || echo "insmod $module failed"
done
R=/newroot
if ! $B mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $R; then
    echo "{marker} the host's root could not be mounted"
    $B poweroff -f
fi
$B mount -t tmpfs -o mode=1777 tmpfs $R/tmp
$B mount -t tmpfs -o mode=0755 tmpfs $R/run
$B mount -t proc proc $R/proc
$B mount -t sysfs sys $R/sys
$B mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
$B mount -t devtmpfs dev $R/dev
$B mkdir -p $R/dev/shm $R/dev/pts
$B mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
# switch_root, not chroot: the host's root must be the mount namespace's root, or
# the kernel refuses new user namespaces (it refuses them to chrooted processes).
exec $B switch_root $R /bin/sh {guest}
"""

GUEST = """#!/bin/sh
# Runs in the VM, chrooted into the host's root (read-only) with tmpfs /tmp and /run.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
echo "{marker} kernel $(uname -r); cgroup mounts: $(grep cgroup /proc/mounts | cut -d' ' -f2,3 | tr '\\n' ' ')"
echo "{marker} the root cgroup offers: $(cat /sys/fs/cgroup/cgroup.controllers)"
cd {tree}
# Unbuffered: pytest writes through tee, and its progress should show as it goes.
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH={tree}/src:{tree} GRADEFLOW_TEST_TIME_SCALE={time_scale}
started=$(date +%s)

echo "{marker} === as root, in cgroup $(cat /proc/self/cgroup)"
# dash has no PIPESTATUS: the exit code goes through a file, the output through tee.
{{ {venv}/bin/pytest -q -p no:cacheprovider --basetemp=/tmp/pytest-root {tests}; \\
    echo $? > /tmp/root.status; }} 2>&1 | tee /tmp/root.out
root=$(cat /tmp/root.status)
echo "{marker} root: $(tail -n 1 /tmp/root.out) (exit $root, $(($(date +%s) - started)) s)"
echo "{marker} cgroups left under the root: $(cd /sys/fs/cgroup && find . -mindepth 1 -type d | tr '\\n' ' ')"

echo "{marker} === as nobody, in a delegated subtree ({delegated})"
mkdir {delegated}
# Delegation as systemd's Delegate=yes does it: the directory and the three files
# that let its owner move processes and enable controllers below it.
chown nobody:nogroup {delegated} {delegated}/cgroup.procs \\
    {delegated}/cgroup.subtree_control {delegated}/cgroup.threads
install -d -m 0700 -o nobody -g nogroup /tmp/nobody-home
started=$(date +%s)
{{ sh -c 'echo $$ > {delegated}/cgroup.procs &&
    exec setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env /bin/sh {nobody}'; \\
    echo $? > /tmp/nobody.status; }} 2>&1 | tee /tmp/nobody.out
nobody=$(cat /tmp/nobody.status)
echo "{marker} nobody: $(tail -n 1 /tmp/nobody.out) (exit $nobody, $(($(date +%s) - started)) s)"
echo "{marker} cgroups left under {delegated}: $(cd {delegated} && find . -mindepth 1 -type d | tr '\\n' ' ')"
{bench}
echo "{marker} RESULT root=$root nobody=$nobody"
busybox poweroff -f
"""

# As root, after the tests: the cost of cgroup limits, on against off, in this boot.
BENCH = """
echo "{marker} === bench/sandbox.py --cgroup-cost, as root"
{venv}/bin/python bench/sandbox.py --cgroup-cost {arguments} 2>&1 | sed 's/^/{marker} bench: /'
"""

NOBODY = """#!/bin/sh
# The unprivileged run, started by guest.sh as nobody in the delegated subtree.
export PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=/tmp/nobody-home TMPDIR=/tmp/nobody-home
# Unbuffered: pytest writes through tee, and its progress should show as it goes.
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH={tree}/src:{tree} GRADEFLOW_TEST_TIME_SCALE={time_scale}
echo "{marker} uid $(id -u), in cgroup $(cat /proc/self/cgroup)"
cd {tree} && exec {venv}/bin/pytest -q -p no:cacheprovider --basetemp=$HOME/pytest {tests}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tests", nargs="+", default=list(DEFAULT_TESTS), help="test paths, from the tree"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help="multiplies the tests' time limits (the emulated CPU is slow)",
    )
    parser.add_argument(
        "--bench",
        metavar="ARGUMENTS",
        help='also run bench/sandbox.py --cgroup-cost with these arguments ("" for defaults)',
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=CACHE,
        help="where this boot's tree copy and scripts go (another directory than a "
        "running boot's, to boot two at once; the kernel and venv stay in the cache)",
    )
    parser.add_argument("--log", type=Path, help="the console's copy (default: in --work)")
    args = parser.parse_args()
    if not args.time_scale >= 1:
        parser.error("--time-scale must be at least 1")
    if os.geteuid() != 0:
        print("cgroup-vm: run as root (qemu reads the host's whole root over 9p)")
        return 2
    for directory in (CACHE, args.work):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(directory, 0o755)  # noqa: S103 (nobody reads the tree from it, in the VM)
    kernel, modules = unpacked_kernel()
    tree, venv = test_tree(args.work / "tree")
    guest, nobody = args.work / "guest.sh", args.work / "nobody.sh"
    values = {
        "marker": RESULT_MARKER,
        "tree": tree,
        "venv": venv,
        "tests": " ".join(args.tests),
        "time_scale": f"{args.time_scale:g}",
    }
    bench = "" if args.bench is None else BENCH.format(**values, arguments=args.bench)
    nobody.write_text(NOBODY.format(**values))
    guest.write_text(GUEST.format(**values, delegated=DELEGATED, nobody=nobody, bench=bench))
    initramfs = args.work / "initramfs.gz"
    write_initramfs(initramfs, modules, INIT.format(marker=RESULT_MARKER, guest=guest))
    return boot(kernel, initramfs, args.log or args.work / "console.log")


def unpacked_kernel() -> tuple[Path, Path]:
    """Debian's current kernel image (vmlinuz, module directory), unpacked into the cache."""
    depends = subprocess.run(
        ["apt-cache", "depends", KERNEL_PACKAGE], check=True, capture_output=True, text=True
    ).stdout
    package = next(
        line.split(":", 1)[1].strip()
        for line in depends.splitlines()
        if line.strip().startswith("Depends: linux-image-")
    )
    root = CACHE / package
    if not (root / "boot").is_dir():
        download = CACHE / "download"
        shutil.rmtree(download, ignore_errors=True)
        download.mkdir()
        subprocess.run(["apt-get", "download", package], cwd=download, check=True)
        shutil.rmtree(root, ignore_errors=True)
        deb = next(download.glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        shutil.rmtree(download)
    kernel = next((root / "boot").glob("vmlinuz-*"))
    modules = next((root / "lib" / "modules").iterdir())
    return kernel, modules


def test_tree(tree: Path) -> tuple[Path, Path]:
    """A copy of the tree that nobody can read, with a venv of Debian's interpreter
    (shared by every copy: the guest puts its copy's ``src`` first on the path)."""
    os.umask(0o022)
    venv = CACHE / "venv"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir()
    for name in ("src", "tests", "demo", "bench", "pyproject.toml", "README.md"):
        source = REPOSITORY / name
        if source.is_dir():
            shutil.copytree(
                source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy(source, tree / name)
    marker = venv / "pyproject.toml"
    if not marker.exists() or marker.read_bytes() != (tree / "pyproject.toml").read_bytes():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "-e", f"{tree}[dev]"], check=True)
        shutil.copy(tree / "pyproject.toml", marker)
    return tree, venv


def module_files(modules: Path) -> list[Path]:
    """The modules of ROOT_MODULES and their dependencies, each after what it needs."""
    found = {_module_name(path): path for path in modules.rglob("*.ko*")}
    ordered: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        path = found[name]
        for dependency in _depends(_module_bytes(path)):
            visit(dependency)
        ordered.append(path)

    for name in ROOT_MODULES:
        visit(name)
    return ordered


def _module_name(path: Path) -> str:
    return path.name.split(".ko")[0].replace("-", "_")


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def _depends(module: bytes) -> list[str]:
    start = module.find(b"\0depends=")
    if start < 0:
        return []
    end = module.index(b"\0", start + 1)
    value = module[start + len(b"\0depends=") : end].decode()
    return [name.replace("-", "_") for name in value.split(",") if name]


def write_initramfs(target: Path, modules: Path, init: str) -> None:
    """A gzipped newc cpio archive: busybox, the modules (uncompressed) and init."""
    archive = _Cpio()
    for directory in ("bin", "dev", "proc", "sys", "newroot", "modules"):
        archive.add(directory, 0o040755, b"")
    archive.add("dev/console", 0o020600, b"", rdev=(5, 1))
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    archive.add("bin/busybox", 0o100755, busybox.read_bytes())
    order = []
    for path in module_files(modules):
        name = _module_name(path)
        archive.add(f"modules/{name}.ko", 0o100644, _module_bytes(path))
        order.append(name)
    archive.add("modules/order", 0o100644, ("\n".join(order) + "\n").encode())
    archive.add("init", 0o100755, init.encode())
    target.write_bytes(gzip.compress(archive.finish(), compresslevel=1))


class _Cpio:
    """The "newc" format the kernel unpacks an initramfs from."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.inode = 1

    def add(self, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = [self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(encoded), 0]
        self.inode += 1
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self.parts.append(_padded(header + encoded))
        self.parts.append(_padded(data))

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0, b"")
        return b"".join(self.parts)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def boot(kernel: Path, initramfs: Path, log: Path) -> int:
    """Boot the VM; echo and keep its console; 0 if both test runs passed."""
    command = [
        "qemu-system-x86_64",
        # TCG: nested KVM on this host fails (a CPU-model MSR write is refused, then
        # the firmware hangs), and TCG needs nothing of the host's virtualisation.
        "-accel",
        "tcg",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        str(MEMORY_MB),
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initramfs),
        "-append",
        "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1",
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    ]
    print("cgroup-vm:", " ".join(command), flush=True)
    started = time.monotonic()
    result = ""
    with log.open("w") as console:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert process.stdout is not None
        # A VM that hangs prints nothing: the timer ends it, and the loop below.
        watchdog = threading.Timer(BOOT_TIMEOUT_S, process.kill)
        watchdog.start()
        try:
            for line in process.stdout:
                console.write(line)
                sys.stdout.write(line)
                if RESULT_MARKER + " RESULT" in line:
                    result = line.strip()
        finally:
            watchdog.cancel()
            process.kill()
            process.wait()
    print(f"cgroup-vm: console kept in {log}; {time.monotonic() - started:.0f} s")
    if not result:
        print("cgroup-vm: the VM printed no result")
        return 1
    fields = dict(part.split("=") for part in result.split() if "=" in part)
    return 0 if fields == {"root": "0", "nobody": "0"} else 1


if __name__ == "__main__":
    sys.exit(main())
