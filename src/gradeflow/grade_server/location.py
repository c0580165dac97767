"""Where a user's warm grader listens, and whether a directory there can be trusted.

Standard library only: this runs on every ``gradeflow grade`` call. The socket lives
in a directory that only the invoking user may enter (mode 0700, owned by them),
opened without following links and then addressed through ``/proc/self/fd``, so
no one can swap the directory for a link between the check and its use, and the
path stays short whatever the directory's length.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys

# Raised when the wire format between client and server changes: an old server
# then listens on another name and is never asked in a format it does not know.
PROTOCOL = 1

# Environment variables that decide what the server computes: its settings and how
# it reads files. A call whose values differ gets a server of its own.
_ENV_PREFIXES = ("GRADEFLOW_", "PYTHON", "LC_")
_ENV_NAMES = ("LANG",)


class UntrustedLocation(Exception):
    """The warm grader's directory is not a private directory of this user's."""


def socket_directory() -> str:
    """The directory for this user's warm graders, the same wherever the call runs.

    ``$XDG_RUNTIME_DIR/gradeflow`` when that is a private directory of the user's,
    else ``gradeflow-<uid>`` in ``$TMPDIR`` (when absolute) or ``/tmp``, checked on
    use; root included, so that no call leaves files in its working directory.
    """
    # The rule of the sandbox's ``zygote_client.default_state_dir``, written again:
    # importing it would load the sandbox package (asyncio, structlog) on every call.
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/"):
        try:
            info = os.lstat(runtime)
        except OSError:
            info = None
        if (
            info is not None
            and stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.geteuid()
            and not info.st_mode & 0o022
        ):
            return os.path.join(runtime, "gradeflow")
    # tempfile.gettempdir()'s first choice, without importing tempfile on every call;
    # a relative TMPDIR would make the directory follow the working directory.
    temporary = os.environ.get("TMPDIR", "")
    if not temporary.startswith("/"):
        temporary = "/tmp"  # noqa: S108 (checked on use)
    return os.path.join(temporary, f"gradeflow-{os.geteuid()}")


def open_private_directory(path: str, *, create: bool) -> int:
    """An open descriptor of ``path``, created mode 0700 if asked; refuses a link,
    a directory someone else owns, or one that others may enter."""
    if create:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except FileExistsError as exc:
            raise UntrustedLocation(f"{path} exists and is not a directory") from exc
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise UntrustedLocation(f"{path}: {exc.strerror}") from exc
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        os.close(fd)
        raise UntrustedLocation(
            f"{path} is owned by uid {info.st_uid} with mode {stat.S_IMODE(info.st_mode):o}; "
            f"the warm grader needs a directory of uid {os.geteuid()}'s with mode 0700"
        )
    return fd


def entry_path(directory_fd: int, directory: str, name: str) -> str:
    """A path to ``name`` inside the opened directory that cannot be redirected."""
    if os.path.isdir(f"/proc/self/fd/{directory_fd}"):
        return f"/proc/self/fd/{directory_fd}/{name}"
    return os.path.join(directory, name)  # no /proc: the checked path itself


def server_key(package_dir: str) -> str:
    """Names a server that computes exactly what this call would: the same protocol,
    interpreter, gradeflow tree and environment. The server also notices when the
    tree's files change under it (``server.LoadedCode``)."""
    digest = hashlib.sha256()
    environment = sorted(
        (name, value)
        for name, value in os.environ.items()
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES
    )
    for part in (str(PROTOCOL), sys.executable, package_dir, *(f"{n}={v}" for n, v in environment)):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()[:20]


def socket_name(key: str) -> str:
    return f"grade-{key}.sock"


def lock_name(key: str) -> str:
    return f"grade-{key}.lock"


def log_name(key: str) -> str:
    return f"grade-{key}.log"
