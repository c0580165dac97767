"""The command line, run as a user runs it: a separate process with its own environment."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import ApiToken, Role, User
from gradeflow.courses import authoring, members
from gradeflow.courses.format import load_assignment
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.migrate import alembic_config
from gradeflow.web.pages import practice_shell
from tests.conftest import LiveServer, free_port
from tests.factories import (
    ADDER_HALF,
    ADDER_SOLUTION,
    ADDER_TESTS,
    ADDER_WRONG,
    PASSWORD,
    authored_assignment,
    create_account,
    write_assignment,
    write_course,
)

DEMO = Path(__file__).parents[1] / "demo" / "python-basics"


def gradeflow(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    # `grade` goes through the warm grader (tests/grade_server); a short idle time so
    # the servers these tests start do not outlive them by long, and their sockets
    # and logs in the test's directory ($TMPDIR/gradeflow-<uid>), not in /tmp.
    environment |= {
        "GRADEFLOW_DATA_DIR": str(data_dir),
        "GRADEFLOW_GRADE_DAEMON_IDLE_MINUTES": "0.1",
        "TMPDIR": str(data_dir.parent),
    } | env
    return subprocess.run(
        [sys.executable, "-m", "gradeflow", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def rows(data_dir: Path, query: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "gradeflow.sqlite3") as connection:
        return connection.execute(query).fetchall()


def test_db_upgrade_creates_the_sqlite_database(tmp_path: Path) -> None:
    result = gradeflow("db", "upgrade", data_dir=tmp_path / "var")
    assert result.returncode == 0, result.stderr
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert rows(tmp_path / "var", "SELECT version_num FROM alembic_version") == [(head,)]


def test_grade_prints_json_and_exits_zero_only_when_passed(tmp_path: Path) -> None:
    assignment = write_assignment(
        tmp_path, toml_extra='module = "adder"\nscoring = "proportional"\npoints = 10\n'
    )
    for code, expected_exit, status, score in [
        (ADDER_SOLUTION, 0, "passed", 10.0),
        (ADDER_HALF, 1, "failed", 5.0),
        (ADDER_WRONG, 1, "failed", 0.0),
        ("def add(a, b)\n    return 1\n", 1, "failed", 0.0),
    ]:
        (tmp_path / "attempt.py").write_text(code)
        result = gradeflow(
            "grade",
            str(assignment),
            "--code",
            str(tmp_path / "attempt.py"),
            "--json",
            data_dir=tmp_path / "var",
        )
        assert result.returncode == expected_exit, result.stderr
        report = json.loads(result.stdout)
        assert (report["status"], report["score"]) == (status, score)
        assert isinstance(report["tests"], list)
    assert report["outcome"] == "syntax_error"
    assert "line 1" in report["message"]


def test_grade_prints_readable_feedback(tmp_path: Path) -> None:
    assignment = write_assignment(tmp_path)
    (tmp_path / "attempt.py").write_text(ADDER_WRONG)
    result = gradeflow(
        "grade", str(assignment), "--code", str(tmp_path / "attempt.py"), data_dir=tmp_path
    )
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "✗ AddTest.test_adds_two_numbers" in result.stdout
    assert "2 + 3 should be 5" in result.stdout


def test_grade_refuses_unreadable_code(tmp_path: Path) -> None:
    assignment = write_assignment(tmp_path)
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00junk")
    result = gradeflow(
        "grade", str(assignment), "--code", str(tmp_path / "binary.py"), data_dir=tmp_path
    )
    assert result.returncode == 2
    assert "not valid UTF-8" in result.stderr


def test_check_validates_without_a_database(tmp_path: Path) -> None:
    course = write_course(tmp_path / "courses")
    result = gradeflow("assignments", "check", str(course), data_dir=tmp_path / "var")
    assert result.returncode == 0, result.stderr
    assert "ok  adder" in result.stdout
    assert "ok  greeter" in result.stdout
    assert not (tmp_path / "var" / "gradeflow.sqlite3").exists()


def test_check_refuses_a_solution_that_fails_its_tests(tmp_path: Path) -> None:
    assignment = write_assignment(tmp_path, solution=ADDER_WRONG)
    result = gradeflow("assignments", "check", str(assignment), data_dir=tmp_path)
    assert result.returncode == 1
    assert f"{assignment / 'solution.py'}: does not pass its tests" in result.stderr


def test_check_names_tests_that_do_not_load_as_the_problem_not_the_solution(
    tmp_path: Path,
) -> None:
    assignment = write_assignment(tmp_path, tests="import unittestt\n" + ADDER_TESTS)
    result = gradeflow("assignments", "check", str(assignment), data_dir=tmp_path)
    assert result.returncode == 1
    assert (
        f"{assignment / 'tests.py'}: The assignment's tests could not be loaded: "
        "ModuleNotFoundError: No module named 'unittestt' (line 1 of tests.py)."
    ) in result.stderr
    assert "solution.py" not in result.stderr


def test_check_grades_a_course_at_once_and_reports_every_failure_in_order(
    tmp_path: Path,
) -> None:
    course = tmp_path / "mixed"
    course.mkdir()
    (course / "course.toml").write_text('title = "Mixed"\n')
    for order, slug in enumerate(["good1", "bad1", "good2", "bad2", "good3"], start=1):
        wrong = slug.startswith("bad")
        write_assignment(
            course, slug, order=order, solution=ADDER_WRONG if wrong else ADDER_SOLUTION
        )
    result = gradeflow(
        "assignments", "check", str(course), data_dir=tmp_path / "var", GRADEFLOW_GRADER_SLOTS="3"
    )
    assert result.returncode == 1
    failures = [line for line in result.stderr.splitlines() if "does not pass" in line]
    assert [line.split("/")[-2] for line in failures] == ["bad1", "bad2"]


def test_pages_write_puts_the_practice_shell_where_nginx_reads_it(tmp_path: Path) -> None:
    result = gradeflow("pages", "write", str(tmp_path / "pages"), data_dir=tmp_path / "var")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pages" / "practice.html").read_bytes() == practice_shell()
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == [
        "practice.html",
        "unavailable.html",
        "unavailable.json",
    ]


def test_import_refuses_invalid_directories_and_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "var"
    course = write_course(tmp_path / "courses")
    assert gradeflow("assignments", "import", str(course), data_dir=data).returncode == 0
    before = rows(data, "SELECT slug, revision FROM assignments ORDER BY slug")
    (course / "greeter" / "tests.py").write_text("import unittest\nclass X(unittest.TestCase:\n")
    result = gradeflow("assignments", "import", str(course), data_dir=data)
    assert result.returncode == 1
    assert f"{course / 'greeter' / 'tests.py'}:2: SyntaxError" in result.stderr
    assert rows(data, "SELECT slug, revision FROM assignments ORDER BY slug") == before


def test_reimport_updates_in_place(tmp_path: Path) -> None:
    data = tmp_path / "var"
    course = write_course(tmp_path / "courses")
    gradeflow("assignments", "import", str(course), data_dir=data)
    ids = rows(data, "SELECT id, slug FROM assignments ORDER BY slug")
    (course / "adder" / "handout.md").write_text("# Add, revised\n")
    result = gradeflow("assignments", "import", str(course), data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "0 created, 1 updated, 1 unchanged" in result.stdout
    assert rows(data, "SELECT id, slug FROM assignments ORDER BY slug") == ids
    assert rows(data, "SELECT handout_md FROM assignments WHERE slug = 'adder'") == [
        ("# Add, revised\n",)
    ]


def test_a_single_assignment_imports_into_a_named_course(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assignment = write_assignment(tmp_path)
    missing = gradeflow("assignments", "import", str(assignment), data_dir=data)
    assert missing.returncode == 1
    assert "--course" in missing.stderr
    result = gradeflow(
        "assignments", "import", str(assignment), "--course", "extras", data_dir=data
    )
    assert result.returncode == 0, result.stderr
    assert rows(
        data, "SELECT c.slug, a.slug FROM assignments a JOIN courses c ON c.id = a.course_id"
    ) == [("extras", "adder")]


@pytest.mark.skipif(not DEMO.exists(), reason="demo course missing")
def test_the_demo_course_imports_once(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = gradeflow("assignments", "import", str(DEMO), "--skip-existing", data_dir=data)
    assert first.returncode == 0, first.stderr
    count = rows(data, "SELECT count(*) FROM assignments")[0][0]
    assert count >= 12
    second = gradeflow("assignments", "import", str(DEMO), "--skip-existing", data_dir=data)
    assert "exists already; skipped" in second.stdout


def test_create_admin(tmp_path: Path) -> None:
    data = tmp_path / "var"
    result = gradeflow(
        "users",
        "create-admin",
        "root@example.org",
        data_dir=data,
        GRADEFLOW_ADMIN_PASSWORD="long enough",
    )
    assert result.returncode == 0, result.stderr
    assert rows(data, "SELECT email, role FROM users") == [("root@example.org", "admin")]
    again = gradeflow(
        "users",
        "create-admin",
        "root@example.org",
        data_dir=data,
        GRADEFLOW_ADMIN_PASSWORD="long enough",
    )
    assert again.returncode == 1
    assert "exists already" in again.stderr


async def test_login_keeps_a_token_that_the_api_accepts(
    tmp_path: Path, live_server: LiveServer, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "t@example.org", role=Role.teacher)
    config = tmp_path / "config"
    wrong = gradeflow(
        "login",
        live_server.url,
        "--email",
        "t@example.org",
        data_dir=tmp_path / "var",
        GRADEFLOW_PASSWORD="wrong password",
        XDG_CONFIG_HOME=str(config),
    )
    assert wrong.returncode == 1
    assert "Wrong email or password" in wrong.stderr
    assert not (config / "gradeflow" / "credentials.json").exists()

    result = gradeflow(
        "login",
        live_server.url + "/",
        "--email",
        "t@example.org",
        data_dir=tmp_path / "var",
        GRADEFLOW_PASSWORD=PASSWORD,
        XDG_CONFIG_HOME=str(config),
    )
    assert result.returncode == 0, result.stderr
    credentials = config / "gradeflow" / "credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    token = json.loads(credentials.read_text())["servers"][live_server.url]["token"]
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == "t@example.org"

    stored_again = gradeflow(
        "login",
        live_server.url,
        "--token",
        token,
        data_dir=tmp_path / "var",
        XDG_CONFIG_HOME=str(config),
    )
    assert stored_again.returncode == 0, stored_again.stderr
    refused = gradeflow(
        "login",
        live_server.url,
        "--token",
        "gf_forged",
        data_dir=tmp_path / "var",
        XDG_CONFIG_HOME=str(config),
    )
    assert refused.returncode == 1
    assert "token refused" in refused.stderr


def test_export_writes_a_directory_that_checks_and_reimports_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "var"
    course = write_course(tmp_path / "courses")
    support = course / "adder" / "support"
    (support / "data").mkdir(parents=True)
    (support / "helpers.py").write_text("TWO = 2\n")
    (support / "data" / "blob.bin").write_bytes(bytes(range(256)))
    (course / "adder" / "assignment.toml").write_text(
        'title = "Add \\"two\\" numbers\\tnow"\norder = 1\nmodule = "adder"\npoints = 10\n'
    )
    assert gradeflow("assignments", "import", str(course), data_dir=data).returncode == 0
    [(adder_id, revision)] = rows(data, "SELECT id, revision FROM assignments WHERE slug='adder'")

    target = tmp_path / "export" / "adder"
    exported = gradeflow("assignments", "export", str(adder_id), str(target), data_dir=data)
    assert exported.returncode == 0, exported.stderr
    assert load_assignment(target).revision == revision
    assert load_assignment(target).title == 'Add "two" numbers\tnow'
    assert (target / "support" / "data" / "blob.bin").read_bytes() == bytes(range(256))
    checked = gradeflow("assignments", "check", str(target), data_dir=data)
    assert checked.returncode == 0, checked.stderr
    reimported = gradeflow(
        "assignments", "import", str(target), "--course", "basics", data_dir=data
    )
    assert reimported.returncode == 0, reimported.stderr
    assert "0 created, 0 updated, 1 unchanged" in reimported.stdout

    again = gradeflow("assignments", "export", str(adder_id), str(target), data_dir=data)
    assert again.returncode == 1
    assert "not empty" in again.stderr
    (target / "support" / "stale.txt").write_text("from an older export")
    forced = gradeflow(
        "assignments", "export", str(adder_id), str(target), "--force", data_dir=data
    )
    assert forced.returncode == 0, forced.stderr
    assert not (target / "support" / "stale.txt").exists()
    assert load_assignment(target).revision == revision


async def test_an_assignment_authored_by_api_exports_and_imports_as_the_same_revision(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    assert gradeflow("db", "upgrade", data_dir=data).returncode == 0
    engine = create_engine(f"sqlite+aiosqlite:///{data / 'gradeflow.sqlite3'}")
    factory = create_session_factory(engine)
    teacher_id = await create_account(factory, "t@example.org", role=Role.teacher)
    fields = authored_assignment(slug="sum", support_files={"words.txt": "a b\n"}, order=4)
    async with transaction(factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="web", title="Web")
        saved = await authoring.create_assignment(
            session, course=course, author=teacher, fields=fields
        )
        assignment_id, revision = saved.assignment.id, saved.assignment.revision
    await engine.dispose()

    target = tmp_path / "out" / "sum"
    exported = gradeflow("assignments", "export", str(assignment_id), str(target), data_dir=data)
    assert exported.returncode == 0, exported.stderr
    assert gradeflow("assignments", "check", str(target), data_dir=data).returncode == 0
    imported = gradeflow("assignments", "import", str(target), "--course", "web", data_dir=data)
    assert imported.returncode == 0, imported.stderr
    # The draft is now the imported, checked version: published, same revision.
    assert rows(data, f"SELECT revision, published FROM assignments WHERE id={assignment_id}") == [
        (revision, 1)
    ]
    assert rows(data, "SELECT count(*) FROM assignment_drafts") == [(0,)]


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["db", "upgrade"],
            {"GRADEFLOW_PORT": "abc"},
            "GRADEFLOW_PORT='abc' is invalid: Input should be a valid integer",
        ),
        (
            ["grade", "adder", "--code", "adder.py"],
            {"GRADEFLOW_GRADE_DAEMON": "maybe"},
            "GRADEFLOW_GRADE_DAEMON='maybe' is invalid: expected true or false",
        ),
        (
            ["assignments", "check", "adder"],
            {"GRADEFLOW_SANDBOX_CGROUPS": "sometimes"},
            "GRADEFLOW_SANDBOX_CGROUPS='sometimes' is invalid: Input should be 'auto', 'on'",
        ),
        (
            ["db", "upgrade", "--revision", "nonsense"],
            {},
            "cannot upgrade the database to --revision 'nonsense': "
            "Can't locate revision identified by 'nonsense'",
        ),
        (
            ["db", "upgrade"],
            {"GRADEFLOW_DATA_DIR": "/proc/nope"},
            "cannot use the data directory /proc/nope (GRADEFLOW_DATA_DIR): "
            "No such file or directory",
        ),
    ],
    ids=["integer", "boolean", "choice", "revision", "data-dir"],
)
def test_an_invalid_setting_or_argument_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = gradeflow(*args, data_dir=tmp_path / "var", **env)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(expected), result.stderr


def test_a_data_directory_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    result = gradeflow("users", "create-admin", "a@example.org", data_dir=taken)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr
        == f"cannot use the data directory {taken} (GRADEFLOW_DATA_DIR): File exists\n"
    )


@pytest.mark.parametrize("command", [["regrade"], ["export", "--force"]], ids=["regrade", "export"])
def test_an_assignment_id_beyond_the_id_range_is_a_usage_error(
    tmp_path: Path, command: list[str]
) -> None:
    data = tmp_path / "var"
    assert gradeflow("db", "upgrade", data_dir=data).returncode == 0
    name, *options = command
    target = [str(tmp_path / "out")] if name == "export" else []
    result = gradeflow("assignments", name, "9223372036854775808", *target, *options, data_dir=data)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "2147483647" in result.stderr


def test_serve_answers_on_its_port_and_ends_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    server = subprocess.Popen(
        # As from a terminal: SIGINT at its default (a script's background job has it
        # ignored), sent to the process group.
        [
            sys.executable,
            "-c",
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
            *["-m", "gradeflow", "serve", "--port", str(port)],
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment | {"GRADEFLOW_DATA_DIR": str(tmp_path / "var")},
        start_new_session=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 120
        while health is None and server.poll() is None and time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, f"not answering; exit code {server.poll()}"
        assert health.status_code == 200
        os.killpg(server.pid, signal.SIGINT)
        out, err = server.communicate(timeout=120)
    finally:
        if server.returncode is None:
            server.kill()
            server.communicate()
    assert server.returncode == 130, err
    first_line = out.splitlines()[0]
    assert first_line == f"gradeflow serving on http://127.0.0.1:{port} (press Ctrl+C to stop)"
    assert "Traceback" not in err, err
    assert "Finished server process" in err, err


def test_serve_on_a_port_in_use_says_so_at_once_and_touches_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gradeflow("serve", "--port", str(port), data_dir=tmp_path / "var")
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use "
        "(is gradeflow already running? choose another with --port)\n"
    )
    assert result.stdout == ""
    assert not (tmp_path / "var" / "gradeflow.sqlite3").exists()
    beyond = gradeflow("serve", "--port", "65536", data_dir=tmp_path / "var")
    assert beyond.returncode == 2, beyond.stderr
    assert "65535" in beyond.stderr
    assert "Traceback" not in beyond.stderr


def test_one_off_commands_print_no_info_logs(tmp_path: Path) -> None:
    assignment = write_assignment(tmp_path)
    graded = gradeflow(
        "grade",
        str(assignment),
        "--code",
        str(assignment / "solution.py"),
        "--no-daemon",
        data_dir=tmp_path / "var",
    )
    assert graded.returncode == 0, graded.stderr
    assert graded.stderr == ""
    checked = gradeflow("assignments", "check", str(assignment), data_dir=tmp_path / "var")
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""


def test_grade_and_import_say_alike_that_a_directory_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    (tmp_path / "attempt.py").write_text(ADDER_SOLUTION)
    data = tmp_path / "var"
    for args in (
        ["grade", str(missing), "--code", str(tmp_path / "attempt.py"), "--no-daemon"],
        ["grade", str(missing), "--code", str(tmp_path / "attempt.py")],
        ["assignments", "import", str(missing), "--course", "c"],
        ["assignments", "check", str(missing)],
    ):
        result = gradeflow(*args, data_dir=data)
        assert result.returncode in (1, 2), result.stderr
        assert result.stderr.splitlines()[-1] == f"{missing}: does not exist", args


@pytest.mark.parametrize(
    "malformed", ["[]", '{"servers": []}', '{"servers": '], ids=["list", "servers-list", "cut"]
)
async def test_login_refuses_a_malformed_credentials_file_before_creating_a_token(
    tmp_path: Path,
    live_server: LiveServer,
    session_factory: async_sessionmaker[AsyncSession],
    malformed: str,
) -> None:
    await create_account(session_factory, "t@example.org", role=Role.teacher)
    credentials = tmp_path / "config" / "gradeflow" / "credentials.json"
    credentials.parent.mkdir(parents=True)
    credentials.write_text(malformed)
    result = gradeflow(
        "login",
        live_server.url,
        "--email",
        "t@example.org",
        data_dir=tmp_path / "var",
        GRADEFLOW_PASSWORD=PASSWORD,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f'{credentials} is malformed: expected a JSON object whose "servers" maps server '
        "URLs to tokens; fix or remove it\n"
    )
    assert credentials.read_text() == malformed
    async with session_factory() as session:
        assert (await session.execute(select(func.count()).select_from(ApiToken))).scalar() == 0
