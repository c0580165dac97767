"""Host uids for grader slots: each slot of each worker process gets its own.

RLIMIT_NPROC counts the processes of a uid across the whole host, so a slot's
limit only means something if nothing else runs as that uid: not root (for which
the kernel ignores the limit), not another slot, not another worker's slot on the
same host. A uid is claimed by holding an exclusive ``flock`` on a lock file in a
root-only directory; the kernel releases the lock when the holder exits, so a
crashed worker never leaks its uids. Uids that name an account in the user
database are skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import stat

# Far above regular accounts (1000-60000), systemd's dynamic users (61184-65519)
# and the usual /etc/subuid ranges (100000 + 65536 n), below 2^31.
UID_BASE = 1_610_000_000
UID_RANGE = 4096


class UidsUnavailable(RuntimeError):
    """No free host uids are left for grader slots."""


class NotPrivateDirectory(PermissionError):
    """The sandbox's state directory exists but is not ours alone."""


def private_directory(path: str) -> str:
    """Create (or check) a directory that only we can enter; refuse anything else."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise NotPrivateDirectory(f"{path} must be a directory owned by us with mode 0700")
    return path


class UidClaim:
    """``count`` host uids held for this process until ``release``."""

    def __init__(self, lock_dir: str, count: int, *, base: int = UID_BASE) -> None:
        private_directory(lock_dir)
        self.uids: list[int] = []
        self._locks: list[int] = []
        try:
            for uid in range(base, base + UID_RANGE):
                if len(self.uids) == count:
                    break
                if _is_account(uid):
                    continue
                lock = _try_lock(os.path.join(lock_dir, f"{uid}.lock"))
                if lock is not None:
                    self.uids.append(uid)
                    self._locks.append(lock)
            if len(self.uids) < count:
                raise UidsUnavailable(
                    f"only {len(self.uids)} of {count} sandbox uids are free "
                    f"in {base}..{base + UID_RANGE - 1}"
                )
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        while self._locks:
            with contextlib.suppress(OSError):
                os.close(self._locks.pop())
        self.uids.clear()


def _is_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _try_lock(path: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
