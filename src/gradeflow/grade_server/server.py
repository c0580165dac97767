"""The warm grader: one per user, interpreter and environment (``location``), started
by the first ``gradeflow grade`` call that finds none, serving later calls over a
Unix socket in a directory only that user may enter.

It starts the sandbox once (the same secure sandbox, zygote and judge/student split
as every grading run; the server only saves the starting) and grades each request
in it. It answers only peers of its own uid, and exits after
``grade_daemon_idle_minutes`` without a call, when its socket is removed or
replaced, or when the gradeflow code it loaded has changed on disk.

Run as ``python -m gradeflow.grade_server.server DIRECTORY KEY``; it writes
``ready`` on its standard output once it listens, and nothing if it cannot start
(the caller then grades on its own and shows the reason as it always did).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import sys
import time
from pathlib import Path

import structlog

from gradeflow.errors import GradeflowError
from gradeflow.grade_server import location, wire
from gradeflow.grade_server.client import PACKAGE_DIR
from gradeflow.grade_server.report import GradeRefused, graded_report, read_grade_inputs, refusal
from gradeflow.grading.sandbox import Sandbox
from gradeflow.grading.verdicts import grade_code, start_sandbox
from gradeflow.logs import configure_logging
from gradeflow.settings import Settings, get_settings

log = structlog.get_logger(__name__)

# How often the server looks at its idle time, its socket and its code.
CHECK_INTERVAL_S = 2.0


class LoadedCode:
    """The gradeflow modules this process runs, as they were on disk when it started:
    a server whose code has since changed (an upgrade, an edit) must not answer."""

    def __init__(self, package_dir: str) -> None:
        self._files = {
            path: _modified(path)
            for module in list(sys.modules.values())
            if (path := getattr(module, "__file__", None) or "").startswith(package_dir)
        }

    def changed(self) -> bool:
        return any(_modified(path) != stamp for path, stamp in self._files.items())


def _modified(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)


class WarmGrader:
    """Answers grade requests with a started sandbox until it has a reason to stop."""

    def __init__(
        self, *, settings: Settings, sandbox: Sandbox, code: LoadedCode, socket_path: str
    ) -> None:
        self.settings = settings
        self.socket_path = socket_path
        self.socket_inode: int | None = None  # once listening
        self.sandbox = sandbox
        self.code = code
        self.active = 0
        self.no_calls = asyncio.Event()
        self.no_calls.set()
        self.last_call = time.monotonic()
        self.stop = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        self.no_calls.clear()
        try:
            connection: socket.socket = writer.get_extra_info("socket")
            credentials = connection.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
            )
            pid, uid, _gid = struct.unpack("3i", credentials)
            if uid != os.geteuid():
                # The directory keeps other users out; this is the second lock.
                log.warning("grade_server.refused_peer", pid=pid, uid=uid)
                return
            header = await reader.readexactly(4)
            length = wire.decode_length(header, limit=wire.MAX_REQUEST_BYTES)
            request = wire.decode_body(await reader.readexactly(length))
            answer = await self.answer(request)
            writer.write(wire.encode_frame(answer))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, wire.WireError) as exc:
            log.info("grade_server.dropped_call", reason=str(exc))
        finally:
            self.active -= 1
            if not self.active:
                self.no_calls.set()
            self.last_call = time.monotonic()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def answer(self, request: dict[str, object]) -> dict[str, object]:
        cwd, path, code, as_json = (request.get(k) for k in ("cwd", "path", "code", "json"))
        if not (
            isinstance(cwd, str)
            and isinstance(path, str)
            and isinstance(code, str)
            and isinstance(as_json, bool)
        ):
            return {"retry": "malformed request"}
        if self.code.changed():
            self.withdraw()
            return {"retry": "the gradeflow code changed since this server started"}
        try:
            # The paths are the caller's, relative to its directory, and the messages
            # name them as typed; nothing awaits between here and the chdir back, so
            # concurrent calls cannot see each other's directory.
            os.chdir(cwd)
            try:
                assignment, source = read_grade_inputs(
                    Path(path), Path(code), max_code_bytes=self.settings.max_code_bytes
                )
            finally:
                os.chdir("/")
        except GradeRefused as exc:
            return exc.report.to_wire()
        except Exception as exc:  # the in-process path shows the caller this error
            return {"retry": f"cannot read the call's files here: {exc!r}"}
        try:
            result = await grade_code(
                self.sandbox,
                assignment=assignment,
                code=source,
                output_limit_bytes=self.settings.output_limit_bytes,
            )
        except GradeflowError as exc:
            return refusal(exc.message).to_wire()
        except Exception as exc:
            # A broken sandbox: let the caller grade on its own and start afresh.
            log.exception("grade_server.sandbox_failed")
            self.withdraw()
            return {"retry": f"the warm sandbox failed: {exc!r}"}
        return graded_report(assignment, result, as_json=as_json).to_wire()

    def withdraw(self) -> None:
        """Stop, and take the socket away now: the caller, told to retry, must find
        no server there and start a fresh one, not reach this one again."""
        self.stop.set()
        if self.socket_inode is not None and _inode(self.socket_path) == self.socket_inode:
            os.unlink(self.socket_path)

    def idle(self) -> bool:
        idle_s = self.settings.grade_daemon_idle_minutes * 60
        return self.active == 0 and time.monotonic() - self.last_call > idle_s


async def serve(directory: str, key: str) -> int:
    settings = get_settings()
    configure_logging(json=settings.log_json)
    directory_fd = location.open_private_directory(directory, create=False)
    socket_path = location.entry_path(directory_fd, directory, location.socket_name(key))
    sandbox = await start_sandbox(settings, slots=settings.resolved_grader_slots)
    code = LoadedCode(PACKAGE_DIR)
    try:
        grader = WarmGrader(settings=settings, sandbox=sandbox, code=code, socket_path=socket_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)  # a dead server's; the caller holds the start lock
        server = await asyncio.start_unix_server(grader.handle, path=socket_path)
        os.chmod(socket_path, 0o600)
        ours = grader.socket_inode = os.stat(socket_path).st_ino
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, grader.stop.set)
        log.info(
            "grade_server.ready",
            pid=os.getpid(),
            socket=os.path.join(directory, location.socket_name(key)),
        )
        _say_ready()
        async with server:
            while not grader.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(grader.stop.wait(), CHECK_INTERVAL_S)
                if grader.idle() or _inode(socket_path) != ours:
                    grader.stop.set()
            server.close()
            if _inode(socket_path) == ours:
                os.unlink(socket_path)
            await grader.no_calls.wait()  # let calls in flight finish
        log.info("grade_server.exit", pid=os.getpid())
    finally:
        await sandbox.close()
        os.close(directory_fd)
    return 0


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _say_ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # From now on nothing of ours may reach the starting call's pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def main() -> None:
    directory, key = sys.argv[1:3]
    try:
        sys.exit(asyncio.run(serve(directory, key)))
    except GradeflowError as exc:  # e.g. the sandbox refused: the caller says so itself
        log.warning("grade_server.not_started", reason=exc.message)
        sys.exit(2)


if __name__ == "__main__":
    main()
