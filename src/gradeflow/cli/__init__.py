"""The ``gradeflow`` command line: serving, migrations, authoring and local grading."""

from __future__ import annotations

import asyncio
import errno
import getpass
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gradeflow.errors import GradeflowError

if TYPE_CHECKING:
    from gradeflow.courses.format import AssignmentSpec, Problem
    from gradeflow.grade_server.report import GradeReport
    from gradeflow.grading.sandbox import RunResult
from gradeflow.settings import Settings, describe_invalid_settings, get_settings

app = typer.Typer(help="gradeflow: practise and grade Python programming.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
assignments_app = typer.Typer(help="Authoring assignments.", no_args_is_help=True)
users_app = typer.Typer(help="Accounts.", no_args_is_help=True)
pages_app = typer.Typer(help="Pages that nginx serves from disk.", no_args_is_help=True)
stack_app = typer.Typer(
    help="Services mode on this host (nginx + web + workers).", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")
app.add_typer(db_app, name="db")
app.add_typer(assignments_app, name="assignments")
app.add_typer(users_app, name="users")
app.add_typer(pages_app, name="pages")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _listen(host: str, port: int) -> socket.socket:
    """The server's bound socket, or a one-line error when the address is taken.

    Bound before anything starts, so a second `gradeflow serve` on a port in use says so
    at once and touches nothing, instead of starting its grader and then failing.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        hint = " (is gradeflow already running? choose another with --port)"
        raise _fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            + (hint if exc.errno == errno.EADDRINUSE else ""),
            2,
        ) from None
    return listener


# Ids are INTEGER columns: a larger number is no id (and overflows the drivers).
MAX_ID = 2**31 - 1
AssignmentId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The assignment's id.")]


def _settings(*, data_dir: bool = False, log_level: int = logging.WARNING) -> Settings:
    """The settings, or exit 2 saying which one is invalid; the data directory created
    and checked if the command writes there. Only services log at info level: a
    one-off command prints its result, not the sandbox's start."""
    from pydantic import ValidationError

    from gradeflow.logs import configure_logging

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise _fail("\n".join(describe_invalid_settings(exc)), 2) from None
    configure_logging(json=settings.log_json, level=log_level)
    if data_dir:
        try:
            settings.ensure_data_dir()
            if not os.access(settings.data_dir, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            raise _fail(
                f"cannot use the data directory {settings.data_dir} (GRADEFLOW_DATA_DIR): "
                f"{exc.strerror}",
                2,
            ) from None
    return settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [GRADEFLOW_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port [GRADEFLOW_PORT].", min=1, max=65535)
    ] = None,
    insecure_sandbox: Annotated[
        bool, typer.Option(help="Development only: allow the unisolated sandbox.")
    ] = False,
) -> None:
    """Embedded mode: web pages, API and grader slots in one process."""
    import uvicorn

    from gradeflow.app import AppServer, create_app
    from gradeflow.grading.sandbox import namespaces_unavailable_reason
    from gradeflow.migrate import upgrade_database

    settings = _settings(data_dir=True, log_level=logging.INFO)
    if insecure_sandbox:
        settings = settings.model_copy(update={"insecure_sandbox": True})
    host, port = host or settings.host, port or settings.port
    listener = _listen(host, port)
    reason = namespaces_unavailable_reason()
    if reason is not None and not settings.insecure_sandbox:
        raise _fail(
            f"{reason} Refusing to grade without isolation; pass --insecure-sandbox "
            "to use the unisolated sandbox for development only.",
            2,
        )
    upgrade_database(settings.resolved_database_url)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"gradeflow serving on http://{shown}:{port} (press Ctrl+C to stop)")
    served = create_app(settings)
    config = uvicorn.Config(
        served,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    AppServer(config, app=served).run(sockets=[listener])


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Bind address [GRADEFLOW_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port [GRADEFLOW_PORT].", min=1, max=65535)
    ] = None,
) -> None:
    """Services mode: one web process (pages, API, SSE); grading happens in workers."""
    import uvicorn

    from gradeflow.app import AppServer, create_app
    from gradeflow.stack import WEB_KEEP_ALIVE_S

    settings = _settings(log_level=logging.INFO)
    if settings.embedded:
        raise _fail(
            "gradeflow web needs GRADEFLOW_BROKER_URL (services mode); "
            "use `gradeflow serve` for embedded mode",
            2,
        )
    host, port = host or settings.host, port or settings.port
    listener = _listen(host, port)
    served = create_app(settings, grading=False)
    config = uvicorn.Config(
        served,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=WEB_KEEP_ALIVE_S,
    )
    AppServer(config, app=served).run(sockets=[listener])


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Grading runs at once.", min=1, max=64)] = 2,
    insecure_sandbox: Annotated[
        bool, typer.Option(help="Development only: allow the unisolated sandbox.")
    ] = False,
    shutdown_grace: Annotated[
        float, typer.Option(help="Seconds runs in flight may finish after SIGTERM.")
    ] = 30.0,
) -> None:
    """Services mode: one worker process grading jobs from the queue."""
    from gradeflow.cli.worker import run_worker

    overrides: dict[str, object] = {"grader_slots": concurrency}
    if insecure_sandbox:
        overrides["insecure_sandbox"] = True
    settings = _settings(log_level=logging.INFO).model_copy(update=overrides)
    if settings.embedded:
        raise _fail(
            "gradeflow worker needs GRADEFLOW_BROKER_URL (services mode); "
            "in embedded mode `gradeflow serve` grades in-process",
            2,
        )
    try:
        asyncio.run(run_worker(settings, shutdown_grace_s=shutdown_grace))
    except GradeflowError as exc:
        raise _fail(exc.message) from exc


@stack_app.command("up")
def stack_up(
    web_count: Annotated[int, typer.Option("--web", min=1, max=32)] = 2,
    workers: Annotated[int, typer.Option("--workers", min=1, max=32)] = 2,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 1,
    port: Annotated[int, typer.Option(help="nginx port.")] = 8080,
    first_web_port: Annotated[int, typer.Option(help="Port of the first web process.")] = 8001,
) -> None:
    """nginx on 127.0.0.1:8080 in front of web processes on 8001…, plus workers; Ctrl-C stops."""
    import subprocess

    from gradeflow import stack
    from gradeflow.web.pages import write_static_pages

    settings = _settings(data_dir=True, log_level=logging.INFO)
    missing = stack.unreachable_services()
    if missing:
        raise _fail(
            "cannot start the stack, not reachable: "
            + ", ".join(missing)
            + " (`make services` starts them)"
        )
    env = stack.services_environment()
    plan = stack.StackPlan(
        directory=(settings.data_dir / "stack").resolve(),
        web=web_count,
        workers=workers,
        concurrency=concurrency,
        port=port,
        first_web_port=first_web_port,
        max_upload_mb=settings.max_upload_mb,
    )
    try:
        procfile = stack.write_stack_files(plan)
        write_static_pages(plan.pages_directory)
    except stack.StackError as exc:
        raise _fail(str(exc)) from exc
    gradeflow_cmd = [sys.executable, "-m", "gradeflow"]
    steps = [
        ["db", "create-if-missing"],
        ["db", "upgrade"],
        ["assignments", "import", str(DEMO_COURSE), "--skip-existing"],
    ]
    for step in steps:
        if step[0] == "assignments" and not DEMO_COURSE.exists():
            continue
        done = subprocess.run([*gradeflow_cmd, *step], env=env, check=False)
        if done.returncode != 0:
            raise typer.Exit(done.returncode)
    typer.echo(f"gradeflow stack: http://127.0.0.1:{port} ({web_count} web, {workers} workers)")
    manager = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(Path.cwd())],
        env=env,
    )
    plan.pid_file.write_text(str(manager.pid))
    try:
        raise typer.Exit(manager.wait())
    except KeyboardInterrupt:
        raise typer.Exit(manager.wait()) from None
    finally:
        plan.pid_file.unlink(missing_ok=True)


@stack_app.command("down")
def stack_down() -> None:
    """Stop a stack started with `gradeflow stack up` (SIGTERM to its process manager)."""
    import signal
    import time

    settings = _settings()
    pid_file = (settings.data_dir / "stack" / "stack.pid").resolve()
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        raise _fail("no stack is running (no stack.pid)") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        raise _fail("the stack had already stopped") from None
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            typer.echo("stack stopped")
            return
        time.sleep(0.1)
    raise _fail(f"the stack (pid {pid}) did not stop within 30 s")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to the configured database."""
    from alembic.util import CommandError

    from gradeflow.migrate import upgrade_database

    settings = _settings(data_dir=True)
    try:
        upgrade_database(settings.resolved_database_url, revision)
    except CommandError as exc:  # e.g. "Can't locate revision identified by 'x'"
        raise _fail(f"cannot upgrade the database to --revision {revision!r}: {exc}", 2) from None
    typer.echo(f"database at {revision}")


@db_app.command("create-if-missing")
def db_create_if_missing() -> None:
    """Create the PostgreSQL database named by GRADEFLOW_DATABASE_URL if it does not exist."""
    from gradeflow.migrate import create_database_if_missing

    settings = _settings()
    if create_database_if_missing(settings.resolved_database_url):
        typer.echo("database created")


@assignments_app.command("regrade")
def assignments_regrade(
    assignment_id: AssignmentId,
    wait: Annotated[bool, typer.Option(help="Show progress until the regrade is done.")] = True,
    preview: Annotated[
        bool,
        typer.Option(help="Grade into a preview, scores untouched, and print the deltas."),
    ] = False,
) -> None:
    """Grade every submission of an assignment again (each by exactly one worker)."""
    from gradeflow.cli.regrade import preview_from_cli, regrade_from_cli

    settings = _settings(data_dir=True)
    follow = preview_from_cli if preview else regrade_from_cli
    try:
        asyncio.run(follow(settings, assignment_id=assignment_id, wait=wait))
    except GradeflowError as exc:
        raise _fail(exc.message) from exc


@pages_app.command("write")
def pages_write(
    directory: Annotated[Path, typer.Argument(help="nginx's root for the practice paths.")],
) -> None:
    """Write the practice page's shell for nginx to serve; again after each upgrade."""
    from gradeflow.web.pages import write_static_pages

    try:
        written = write_static_pages(directory)
    except OSError as exc:
        raise _fail(f"cannot write into {directory}: {exc.strerror}") from exc
    for path in written:
        typer.echo(f"wrote {path}")


@assignments_app.command("check")
def assignments_check(path: Path) -> None:
    """Validate an assignment or course directory and grade its reference solutions."""
    from gradeflow.courses.format import AssignmentFormatError, load_path
    from gradeflow.grading.verdicts import check_solutions, open_sandbox

    settings = _settings()
    try:
        course = load_path(path, course_slug="check")
    except AssignmentFormatError as exc:
        raise _fail(f"invalid:\n{exc.message}") from exc

    async def check() -> list[Problem]:
        async with open_sandbox(settings, slots=settings.resolved_grader_slots) as sandbox:
            return await check_solutions(sandbox, course=course)

    try:
        problems = asyncio.run(check())
    except GradeflowError as exc:
        raise _fail(exc.message) from exc
    if problems:
        raise _fail("invalid:\n" + "\n".join(str(p) for p in problems))
    for assignment in course.assignments:
        typer.echo(f"ok  {assignment.slug}: {assignment.title} ({len(assignment.test_ids)} tests)")


@assignments_app.command("import")
def assignments_import(
    path: Path,
    course: Annotated[str | None, typer.Option("--course", help="Course slug.")] = None,
    skip_existing: Annotated[
        bool, typer.Option(help="Do nothing if the course exists already (first-run imports).")
    ] = False,
) -> None:
    """Import (or update in place) an assignment or a whole course directory."""
    from gradeflow.courses.format import AssignmentFormatError, load_path, validate_slug
    from gradeflow.courses.service import course_exists, import_course
    from gradeflow.db import transaction
    from gradeflow.grading.verdicts import check_solutions, open_sandbox
    from gradeflow.migrate import upgrade_database
    from gradeflow.runtime import open_database

    settings = _settings(data_dir=True)
    upgrade_database(settings.resolved_database_url)

    async def run() -> None:
        async with open_database(settings) as factory:
            try:
                spec = load_path(path, course_slug=validate_slug(course) if course else None)
            except AssignmentFormatError as exc:
                raise _fail(f"not imported, {path} is invalid:\n{exc.message}") from exc
            except GradeflowError as exc:
                raise _fail(f"not imported: {exc.message}") from exc
            if skip_existing:
                async with factory() as session:
                    if await course_exists(session, slug=spec.slug):
                        typer.echo(f"course {spec.slug} exists already; skipped")
                        return
            try:
                async with open_sandbox(settings, slots=settings.resolved_grader_slots) as sandbox:
                    problems = await check_solutions(sandbox, course=spec)
            except GradeflowError as exc:
                raise _fail(f"not imported: {exc.message}") from exc
            if problems:
                raise _fail("not imported:\n" + "\n".join(str(p) for p in problems))
            async with transaction(factory) as session:
                report = await import_course(session, spec=spec)
            created, updated = len(report.created), len(report.updated)
            unchanged = len(report.unchanged)
            typer.echo(
                f"course {spec.slug}: {created} created, {updated} updated, {unchanged} unchanged"
            )

    asyncio.run(run())


@assignments_app.command("export")
def assignments_export(
    assignment_id: AssignmentId,
    directory: Path,
    force: Annotated[
        bool, typer.Option(help="Overwrite the assignment files of a non-empty DIR.")
    ] = False,
    pending: Annotated[
        bool, typer.Option(help="A published assignment's unchecked working copy instead.")
    ] = False,
) -> None:
    """Write an assignment back as a directory (assignment.toml, handout.md, tests.py, ...)."""
    from gradeflow.courses.authoring import exported_spec
    from gradeflow.courses.export import write_assignment_directory
    from gradeflow.db import create_engine, create_session_factory

    settings = _settings()

    async def read() -> AssignmentSpec:
        engine = create_engine(settings.resolved_database_url)
        try:
            async with create_session_factory(engine)() as session:
                return await exported_spec(session, assignment_id=assignment_id, pending=pending)
        finally:
            await engine.dispose()

    try:
        spec = asyncio.run(read())
        write_assignment_directory(spec, directory, force=force)
    except GradeflowError as exc:
        raise _fail(f"not exported: {exc.message}") from exc
    except OSError as exc:
        raise _fail(f"not exported: {exc}") from exc
    typer.echo(f"assignment {assignment_id} ({spec.slug}) written to {directory}")
    if directory.resolve().name != spec.slug:
        # The directory's name is the slug an import matches on.
        typer.echo(f"note: name the directory {spec.slug!r} to import it back onto this assignment")


@app.command()
def grade(
    path: Annotated[Path, typer.Argument(help="Assignment directory.")],
    code: Annotated[Path, typer.Option("--code", help="The Python file to grade.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    no_daemon: Annotated[
        bool,
        typer.Option(
            "--no-daemon",
            help="Grade in this process, not through the warm grader "
            "[GRADEFLOW_GRADE_DAEMON=false].",
        ),
    ] = False,
) -> None:
    """Grade a file against an assignment directory in the sandbox; exit 0 iff it passed."""
    # `python -m gradeflow grade` and the console script go to the warm grader
    # (gradeflow.grade_server) before this module is imported; this is the path of
    # --no-daemon, and of any call the warm grader could not answer.
    from gradeflow.grade_server.report import (
        GradeRefused,
        graded_report,
        read_grade_inputs,
        refusal,
    )
    from gradeflow.grading.verdicts import grade_code, open_sandbox

    settings = _settings()
    try:
        assignment, source = read_grade_inputs(path, code, max_code_bytes=settings.max_code_bytes)
    except GradeRefused as exc:
        _emit(exc.report)

    async def run() -> RunResult:
        async with open_sandbox(settings) as sandbox:
            return await grade_code(
                sandbox,
                assignment=assignment,
                code=source,
                output_limit_bytes=settings.output_limit_bytes,
            )

    report: GradeReport
    try:
        report = graded_report(assignment, asyncio.run(run()), as_json=as_json)
    except GradeflowError as exc:
        report = refusal(exc.message)
    _emit(report)


def _emit(report: GradeReport) -> NoReturn:
    if report.stdout:
        typer.echo(report.stdout, nl=False)
    if report.stderr:
        typer.echo(report.stderr, err=True, nl=False)
    raise typer.Exit(report.exit_code)


@users_app.command("create-admin")
def create_admin(email: str) -> None:
    """Create the first admin; the password comes from GRADEFLOW_ADMIN_PASSWORD or a prompt."""
    from gradeflow.accounts.models import Role
    from gradeflow.accounts.service import create_user
    from gradeflow.db import transaction
    from gradeflow.migrate import upgrade_database
    from gradeflow.runtime import open_database

    settings = _settings(data_dir=True)
    upgrade_database(settings.resolved_database_url)
    password = os.environ.get("GRADEFLOW_ADMIN_PASSWORD")
    if password is None:
        if not sys.stdin.isatty():
            raise _fail("set GRADEFLOW_ADMIN_PASSWORD or run in a terminal to be asked", 2)
        password = getpass.getpass("Password: ")

    async def run() -> int:
        async with open_database(settings) as factory, transaction(factory) as session:
            user = await create_user(session, email=email, password=password, role=Role.admin)
            return user.id

    try:
        user_id = asyncio.run(run())
    except GradeflowError as exc:
        raise _fail(exc.message) from exc
    typer.echo(f"admin {email} created (user {user_id})")


@app.command()
def login(
    url: Annotated[str, typer.Argument(help="The server, e.g. https://grader.example.org")],
    email: Annotated[str | None, typer.Option(help="Account email; asked if not given.")] = None,
    token: Annotated[
        str | None, typer.Option(help="Store this existing API token instead of signing in.")
    ] = None,
) -> None:
    """Sign in to a server and keep an API token for it (the password is not kept)."""
    from gradeflow.cli.login import check_token, create_token, read_credentials, store_token

    try:
        read_credentials()  # refused before the server creates a token to keep
    except GradeflowError as exc:
        raise _fail(exc.message, 2) from exc
    try:
        if token is not None:
            me = check_token(url, token)
            who = me.get("email") or f"user {me.get('id')}"
        else:
            email = email or typer.prompt("Email")
            password = os.environ.get("GRADEFLOW_PASSWORD")
            if password is None:
                if not sys.stdin.isatty():
                    raise _fail("set GRADEFLOW_PASSWORD or run in a terminal to be asked", 2)
                password = getpass.getpass("Password: ")
            token = str(create_token(url, email=email, password=password)["token"])
            who = email
        path = store_token(url, token)
    except GradeflowError as exc:
        raise _fail(exc.message) from exc
    typer.echo(f"signed in to {url.rstrip('/')} as {who}; token kept in {path}")


DEMO_COURSE = Path(__file__).parents[3] / "demo" / "python-basics"


def main() -> None:
    app()
