"""Course pages over HTTP: a teacher creates a course, enrols, shares a join code,
edits settings; a student joins with the code; refused forms change nothing."""

from __future__ import annotations

import contextlib
import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses.models import Course, CourseMember, MemberRole
from tests.api.test_grade_uploads import signed_in_teacher
from tests.factories import PASSWORD, create_account
from tests.web.test_accounts import HTML, form_token, post_form

Factory = async_sessionmaker[AsyncSession]


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    response = await post_form(
        client, "/sign-in", {"email": email, "password": PASSWORD}, token_from="/sign-in"
    )
    assert response.status_code == 303, response.text


def browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_a_teacher_runs_a_course_and_a_student_joins_it_by_code(
    app: FastAPI, session_factory: Factory
) -> None:
    await create_account(session_factory, "teach@example.org", role=Role.teacher)
    await create_account(session_factory, "ann@example.org")
    await create_account(session_factory, "bob@example.org")
    async with browser(app) as teacher, browser(app) as student:
        await sign_in(teacher, "teach@example.org")
        created = await post_form(
            teacher,
            "/courses",
            {"title": "Intro to Python", "slug": "intro-2027", "description": "Weekly labs."},
            token_from="/courses",
        )
        assert created.status_code == 303, created.text
        course_path = created.headers["location"]
        course_id = int(course_path.rsplit("/", 1)[1])

        enrolled = await post_form(
            teacher,
            f"{course_path}/students",
            {"email": "ann@example.org"},
            token_from=course_path,
        )
        assert enrolled.status_code == 303
        opened = await post_form(
            teacher, f"{course_path}/join-code", {"action": "new"}, token_from=course_path
        )
        assert opened.status_code == 303
        page = await teacher.get(course_path, headers=HTML)
        assert "ann@example.org" in page.text
        assert f'href="/courses/{course_id}/gradebook"' in page.text
        match = re.search(r'data-testid="join-code">([A-Z0-9]{4}-[A-Z0-9]{4})<', page.text)
        assert match is not None, page.text

        # A private course is unseen until joined; the code (as shown, with its dash) joins.
        await sign_in(student, "bob@example.org")
        assert (await student.get(course_path, headers=HTML)).status_code == 404
        joined = await post_form(
            student, "/courses/join", {"code": match[1]}, token_from="/courses"
        )
        assert joined.status_code == 303
        assert joined.headers["location"] == course_path
        listing = await student.get("/courses", headers=HTML)
        assert "Intro to Python" in listing.text
        own = await student.get(course_path, headers=HTML)
        assert own.status_code == 200
        assert "you take it" in own.text
        assert "Unenrol" not in own.text  # a student sees no teacher tools

        changed = await post_form(
            teacher,
            f"{course_path}/settings",
            {"title": "Intro to Python (2027)", "description": "", "public": "on"},
            token_from=course_path,
        )
        assert changed.status_code == 303
    async with session_factory() as session:
        course = await session.get_one(Course, course_id)
        assert (course.title, course.public, course.archived) == (
            "Intro to Python (2027)",
            True,
            False,
        )
        students = set(
            await session.scalars(
                select(CourseMember.user_id).where(
                    CourseMember.course_id == course_id, CourseMember.role == MemberRole.student
                )
            )
        )
    assert len(students) == 2


async def test_refused_course_forms_say_why_and_change_nothing(
    app: FastAPI, session_factory: Factory
) -> None:
    await create_account(session_factory, "teach@example.org", role=Role.teacher)
    await create_account(session_factory, "ann@example.org")
    async with browser(app) as teacher, browser(app) as student:
        await sign_in(teacher, "teach@example.org")
        bad_slug = await post_form(
            teacher, "/courses", {"title": "X", "slug": "Not A Slug"}, token_from="/courses"
        )
        assert bad_slug.status_code == 422
        assert "slug" in bad_slug.text
        await sign_in(student, "ann@example.org")
        not_teacher = await post_form(
            student, "/courses", {"title": "X", "slug": "mine"}, token_from="/courses"
        )
        assert not_teacher.status_code == 403
        wrong_code = await post_form(
            student, "/courses/join", {"code": "NOPE-NOPE"}, token_from="/courses"
        )
        assert wrong_code.status_code == 404
        assert "join code" in wrong_code.text
        basics = "/courses/1"
        unknown = await post_form(
            teacher, "/courses", {"title": "Y", "slug": "y-course"}, token_from="/courses"
        )
        course_path = unknown.headers["location"]
        nobody = await post_form(
            teacher,
            f"{course_path}/students",
            {"email": "ghost@example.org"},
            token_from=course_path,
        )
        assert nobody.status_code == 404
        assert "ghost@example.org" in nobody.text
        # Another teacher's course: seen (it is public) but not theirs to change.
        forbidden = await post_form(
            student, f"{basics}/students", {"email": "ann@example.org"}, token_from="/courses"
        )
        assert forbidden.status_code == 403
    async with session_factory() as session:
        slugs = set(await session.scalars(select(Course.slug)))
        members = list(await session.scalars(select(CourseMember.user_id)))
    assert slugs == {"basics", "y-course"}
    assert len(members) == 1  # only the teacher of y-course


async def test_enrolling_a_staff_account_says_whose_account_it_is_in_good_english(
    app: FastAPI, session_factory: Factory
) -> None:
    await create_account(session_factory, "teach@example.org", role=Role.teacher)
    await create_account(session_factory, "other@example.org", role=Role.teacher)
    await create_account(session_factory, "root@example.org", role=Role.admin)
    async with browser(app) as teacher:
        await sign_in(teacher, "teach@example.org")
        created = await post_form(
            teacher, "/courses", {"title": "Z", "slug": "z-course"}, token_from="/courses"
        )
        course_path = created.headers["location"]
        admin = await post_form(
            teacher,
            f"{course_path}/students",
            {"email": "root@example.org"},
            token_from=course_path,
        )
        assert admin.status_code == 422
        assert "root@example.org is an admin&#39;s account; only students enrol." in admin.text
        other = await post_form(
            teacher,
            f"{course_path}/students",
            {"email": "other@example.org"},
            token_from=course_path,
        )
        assert "other@example.org is a teacher&#39;s account; only students enrol." in other.text


async def test_visitors_are_sent_to_sign_in_and_back(client: httpx.AsyncClient) -> None:
    page = await client.get("/courses/1/gradebook", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=/courses/1/gradebook"
    account = await client.get("/account", headers=HTML, follow_redirects=False)
    assert account.headers["location"] == "/sign-in?next=/account"


async def test_a_teacher_enrols_a_roster_file_from_the_course_page(
    app: FastAPI, session_factory: Factory
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    course_path = f"/courses/{course_id}"
    roster_path = f"{course_path}/roster"
    async with contextlib.aclosing(client):
        page = await client.get(course_path, headers=HTML)
        assert f'action="{roster_path}" enctype="multipart/form-data"' in page.text
        token = await form_token(client, course_path)

        forged = await client.post(
            roster_path,
            files={"file": ("r.csv", b"student\ns1@example.org\n")},
            data={"csrf_token": "0" * 64},
            headers=HTML,
        )
        assert forged.status_code == 403
        assert await enrolled(session_factory, course_id) == ["s0@example.org"]

        # Any bad row: each is listed by its row, and nobody is enrolled.
        bad = await client.post(
            roster_path,
            files={"file": ("roster.csv", b"student\ns1@example.org\nnobody@example.org\n\n")},
            data={"csrf_token": token},
            headers=HTML,
        )
        assert bad.status_code == 422
        assert "1 error in the roster; nobody was enrolled" in bad.text
        errors = re.search(r'data-testid="roster-errors">(.*?)</table>', bad.text, re.S)
        assert errors is not None, bad.text
        assert re.search(
            r'<td class="num">3</td><td>No account has [^<]*nobody@example.org', errors[1]
        )
        assert await enrolled(session_factory, course_id) == ["s0@example.org"]

        good = await client.post(
            roster_path,
            files={
                "file": ("roster.csv", b"Student,Name\nS0@example.org,A\nN1,B\ns2@example.org,C\n")
            },
            data={"csrf_token": token},
            headers=HTML,
        )
        assert good.status_code == 200, good.text
        assert "roster.csv: 3 rows read · 2 enrolled · 1 already enrolled." in good.text
        assert "s2@example.org" in good.text  # the students' table already shows them
        assert await enrolled(session_factory, course_id) == [
            "s0@example.org",
            "s1@example.org",
            "s2@example.org",
        ]


async def enrolled(factory: Factory, course_id: int) -> list[str]:
    async with factory() as session:
        emails = await session.scalars(
            select(User.email)
            .join(CourseMember, CourseMember.user_id == User.id)
            .where(CourseMember.course_id == course_id, CourseMember.role == MemberRole.student)
            .order_by(User.email)
        )
        return [email for email in emails if email is not None]
