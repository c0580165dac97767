"""Grade imports end to end through the importer: apply, dry run, rejections, stale checks,
duplicates of files, reverts, concurrency and taking over a crashed import."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.courses import members
from gradeflow.courses.models import Course
from gradeflow.db import transaction, utcnow
from gradeflow.errors import Conflict
from gradeflow.events.models import Event
from gradeflow.grades import apply, gradebook, imports, staging
from gradeflow.grades.models import (
    GradeChange,
    GradeUpload,
    RevertStatus,
    UploadStatus,
    grade_upload_rows,
)
from tests.factories import xlsx_bomb
from tests.grades.conftest import GradeWorld


def csv(*rows: str, header: str = "student,grade,assessment,comment") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


async def history(
    world: GradeWorld,
) -> list[tuple[str, float | None, float | None, str, int | None]]:
    """Every change in the order made: ``grade_changes`` and applied uploads' kept rows."""
    kept = grade_upload_rows
    logged = select(
        GradeChange.id.label("position"),
        literal(0).label("file_row"),
        GradeChange.assessment,
        GradeChange.old_value,
        GradeChange.new_value,
        GradeChange.reason,
        GradeChange.upload_id,
    )
    uploaded = (
        select(
            GradeUpload.history_seq,
            kept.c.file_row,
            kept.c.assessment,
            kept.c.old_value,
            kept.c.value,
            literal("upload"),
            kept.c.upload_id,
        )
        .join(GradeUpload, GradeUpload.id == kept.c.upload_id)
        .where(GradeUpload.history_seq.is_not(None))
    )
    every = union_all(logged, uploaded).subquery()
    async with world.factory() as session:
        rows = await session.execute(
            select(
                every.c.assessment,
                every.c.old_value,
                every.c.new_value,
                every.c.reason,
                every.c.upload_id,
            ).order_by(every.c.position, every.c.file_row)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_a_file_is_applied_with_history_and_progress_events(grade_world: GradeWorld) -> None:
    world = grade_world
    upload_id = await world.upload(
        csv("s0@example.org,87.5,final,Good", "N0001,B+,quiz,", "S2@EXAMPLE.ORG,70,final,")
    )
    upload = await world.run(upload_id)
    assert upload.status is UploadStatus.applied, upload.message
    assert (upload.rows_total, upload.rows_done, upload.changes_total) == (3, 3, 3)
    assert await world.grades() == {
        ("s0@example.org", "final"): (87.5, None, "Good"),
        ("s1@example.org", "quiz"): (88.0, "B+", ""),
        ("s2@example.org", "final"): (70.0, None, ""),
    }
    assert [c["student"] for c in upload.changes] == [
        "s0@example.org",
        "s1@example.org",
        "s2@example.org",
    ]
    assert [(h[1], h[2], h[3], h[4]) for h in await history(world)] == [
        (None, 87.5, "upload", upload_id),
        (None, 88.0, "upload", upload_id),
        (None, 70.0, "upload", upload_id),
    ]
    async with world.factory() as session:
        events = list(
            await session.scalars(
                select(Event).where(Event.type == "grade_upload").order_by(Event.id)
            )
        )
        kept = await session.scalar(select(func.count()).select_from(grade_upload_rows))
    assert events[-1].payload["upload"]["status"] == "applied"
    assert {e.payload["upload"]["phase"] for e in events} >= {
        "queued",
        "reading",
        "staging",
        "done",
    }
    assert kept == 3  # the staged rows that changed a cell are the upload's history
    assert upload.blob_key is None
    assert list(world.blobs.root.iterdir()) == []

    # Changing one grade and its comment only changes that cell; a file without a
    # comment column keeps the comments.
    second = await world.run(
        await world.upload(
            csv("s0@example.org,90,final", "N0001,b+,quiz", header="student,grade,assessment")
        )
    )
    assert second.status is UploadStatus.applied
    assert second.changes_total == 1
    assert (await world.grades())[("s0@example.org", "final")] == (90.0, None, "Good")


async def test_ignored_columns_are_named_as_the_file_writes_them(grade_world: GradeWorld) -> None:
    upload = await grade_world.run(
        await grade_world.upload(
            csv("s0@example.org,80,Sat at the back", header="Student,Grade,Extra Col")
        )
    )
    assert upload.status is UploadStatus.applied
    assert upload.message.endswith("Ignored columns: Extra Col.")


async def test_any_row_error_rejects_the_file_and_applies_nothing(grade_world: GradeWorld) -> None:
    world = grade_world
    content = csv(
        "s0@example.org,80,final,",
        "outsider@example.org,70,final,",
        "nobody@example.org,70,final,",
        "s1@example.org,lots,final,",
        "s2@example.org,60,final,",
        "N0002,61,final,",
        "s3@example.org,-5,final," + "x" * 2001,
    )
    upload = await world.run(await world.upload(content))
    assert upload.status is UploadStatus.rejected
    by_row = {(e["row"], e["column"]): e["message"] for e in upload.errors}
    assert "not enrolled" in by_row[(3, "student")]
    assert "No account" in by_row[(4, "student")]
    assert "neither a number" in by_row[(5, "grade")]
    assert "Rows 6 and 7 both grade s2@example.org" in by_row[(6, "student")]
    assert "negative" in by_row[(8, "grade")]
    assert "2001 characters" in by_row[(8, "comment")]
    assert upload.errors_total == 6
    assert "nothing was applied" in upload.message
    assert await world.grades() == {}


async def test_a_missing_column_rejects_and_an_unreadable_file_fails(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    missing = await world.run(await world.upload(b"email,grade\ns0@example.org,1\n"))
    assert missing.status is UploadStatus.rejected
    assert missing.errors == [
        {"row": 1, "column": "student", "message": "The header has no 'student' column."}
    ]
    junk = await world.run(await world.upload(bytes(range(256)) * 100))
    assert junk.status is UploadStatus.failed
    assert junk.errors == []
    assert "not text" in junk.message
    empty = await world.run(await world.upload(b""))
    assert (empty.status, empty.message) == (UploadStatus.failed, "The file is empty.")
    header_only = await world.run(await world.upload(b"student,grade\n"))
    assert header_only.status is UploadStatus.failed
    assert "no grades" in header_only.message


async def test_a_dry_run_validates_and_is_applied_later(grade_world: GradeWorld) -> None:
    world = grade_world
    await world.run(await world.upload(csv("s0@example.org,50,final,")))
    dry = await world.run(
        await world.upload(csv("s0@example.org,60,final,", "s1@example.org,A,final,"), dry_run=True)
    )
    assert dry.status is UploadStatus.validated
    assert dry.changes_total == 2
    assert dry.changes[0] == {
        "student": "s0@example.org",
        "assessment": "final",
        "old": 50.0,
        "new": 60.0,
        "old_letter": None,
        "new_letter": None,
    }
    assert dry.blob_key is not None
    assert (await world.grades())[("s0@example.org", "final")][0] == 50.0
    async with transaction(world.factory) as session:
        upload = await session.get_one(GradeUpload, dry.id)
        user = await session.get_one(User, world.teacher_id)
        await imports.request_apply(
            session, outbox=world.outbox, upload=upload, user=user, force=False
        )
    applied = await world.run(dry.id)
    assert applied.status is UploadStatus.applied
    assert applied.changes_total == 2
    assert (await world.grades())[("s1@example.org", "final")] == (95.0, "A", "")


async def _change_by_hand(world: GradeWorld, email: str, value: float) -> None:
    """Another way of changing a grade (what a gradebook edit does): a new history row."""
    async with transaction(world.factory) as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        session.add(
            GradeChange(
                course_id=world.course_id,
                user_id=user_id,
                assessment="final",
                new_value=value,
                reason="edit",
                changed_at=utcnow(),
            )
        )
        from gradeflow.grades.models import Grade

        await session.execute(update(Grade).where(Grade.user_id == user_id).values(value=value))


async def test_applying_a_dry_run_after_its_grades_changed_is_refused_unless_forced(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    await world.run(await world.upload(csv("s0@example.org,50,final,")))
    dry = await world.run(await world.upload(csv("s0@example.org,60,final,"), dry_run=True))
    await _change_by_hand(world, "s0@example.org", 55)
    for force, expected_status, value in [
        (False, UploadStatus.rejected, 55.0),
        (True, UploadStatus.applied, 60.0),
    ]:
        async with transaction(world.factory) as session:
            upload = await session.get_one(GradeUpload, dry.id)
            if force:  # a refused apply is final; the same file is uploaded again with force
                upload_id = await world.upload(csv("s0@example.org,60,final,"), force=True)
            else:
                user = await session.get_one(User, world.teacher_id)
                await imports.request_apply(
                    session, outbox=world.outbox, upload=upload, user=user, force=False
                )
                upload_id = dry.id
        result = await world.run(upload_id)
        assert result.status is expected_status, result.message
        assert (await world.grades())[("s0@example.org", "final")][0] == value
    refused = await world.get(dry.id)
    assert "changed since the dry run" in refused.message


async def test_the_same_file_is_recognised_and_checked_against_what_it_left(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    content = csv("s0@example.org,50,final,", "s1@example.org,60,final,")
    first = await world.run(await world.upload(content))
    again = await world.run(await world.upload(content))
    assert again.duplicate_of_id == first.id
    assert again.status is UploadStatus.applied
    assert again.changes_total == 0
    assert f"uploaded before, as upload #{first.id}" in again.message
    await _change_by_hand(world, "s1@example.org", 65)
    third = await world.run(await world.upload(content))
    assert third.status is UploadStatus.rejected
    assert f"changed since upload #{again.id}" in third.message
    assert (await world.grades())[("s1@example.org", "final")][0] == 65.0


async def _request_revert(world: GradeWorld, upload_id: int, *, force: bool) -> None:
    async with transaction(world.factory) as session:
        row = await session.get_one(GradeUpload, upload_id)
        user = await session.get_one(User, world.teacher_id)
        await imports.request_revert(
            session, outbox=world.outbox, upload=row, user=user, force=force
        )


async def test_an_applied_upload_is_reverted_atomically_by_a_queued_job(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    await world.run(await world.upload(csv("s0@example.org,50,final,old")))
    upload = await world.run(
        await world.upload(csv("s0@example.org,70,final,new", "s1@example.org,80,final,"))
    )
    await _change_by_hand(world, "s1@example.org", 85)

    await _request_revert(world, upload.id, force=False)
    queued = await world.get(upload.id)
    assert (queued.status, queued.revert_status, queued.reverted_at) == (
        UploadStatus.applied,
        RevertStatus.queued,
        None,
    )
    with pytest.raises(Conflict, match="being reverted already"):
        await _request_revert(world, upload.id, force=True)
    refused = await world.run(upload.id)
    assert refused.revert_status == RevertStatus.refused
    assert "1 of the grades" in refused.message
    assert refused.reverted_at is None
    assert (await world.grades())[("s0@example.org", "final")] == (70.0, None, "new")

    await _request_revert(world, upload.id, force=True)
    reverted = await world.run(upload.id)
    assert (reverted.status, reverted.revert_status) == (
        UploadStatus.applied,
        RevertStatus.reverted,
    )
    assert reverted.reverted_at is not None
    assert "2 grades put back" in reverted.message
    assert await world.grades() == {("s0@example.org", "final"): (50.0, None, "old")}
    reasons = [h[3] for h in await history(world)]
    assert reasons[-2:] == ["revert", "revert"]
    with pytest.raises(Conflict, match="reverted already"):
        await _request_revert(world, upload.id, force=True)
    async with world.factory() as session:
        phases = [
            e.payload["upload"]["phase"]
            for e in await session.scalars(
                select(Event).where(Event.type == "grade_upload").order_by(Event.id)
            )
            if e.payload["upload"]["id"] == upload.id
        ]
    assert phases[-3:] == ["queued", "reverting", "done"]


async def test_a_crashed_revert_is_taken_over_and_reverts_once(grade_world: GradeWorld) -> None:
    world = grade_world
    upload = await world.run(
        await world.upload(csv(*[f"s{i}@example.org,{i},final," for i in range(5)]))
    )
    await _request_revert(world, upload.id, force=False)
    # A worker claimed the revert and died before its transaction committed.
    async with transaction(world.factory) as session:
        claimed = await imports.claim_revert(
            session,
            outbox=world.outbox,
            upload_id=upload.id,
            owner="dead:1",
            max_attempts=3,
            lease_s=30,
        )
        assert claimed is not None
    await world.importer.run(upload.id)  # leased by the dead worker: nothing to claim
    assert (await world.get(upload.id)).revert_status == RevertStatus.running
    assert len(await world.grades()) == 5
    async with transaction(world.factory) as session:
        await session.execute(
            update(GradeUpload).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert await world.importer.sweep() == 1
    reverted = await world.run(upload.id)
    assert (reverted.revert_status, reverted.attempts) == (RevertStatus.reverted, 2)
    assert await world.grades() == {}
    # The dead worker's late end and a duplicate message change nothing.
    async with transaction(world.factory) as session:
        with pytest.raises(apply.LeaseLost):
            await apply.guard_revert(session, upload_id=upload.id, owner="dead:1")
    await world.importer.run(upload.id)
    assert [h[3] for h in await history(world)].count("revert") == 5


async def test_concurrent_uploads_to_one_course_both_end_correct(grade_world: GradeWorld) -> None:
    world = grade_world
    rows_a = [f"s{i}@example.org,{10 + i},a," for i in range(5)]
    rows_b = [f"s{i}@example.org,{20 + i},b," for i in range(5)]
    first = await world.upload(csv(*rows_a, *[f"s{i}@example.org,1,shared," for i in range(5)]))
    second = await world.upload(csv(*rows_b, *[f"s{i}@example.org,2,shared," for i in range(5)]))
    results = await asyncio.gather(world.run(first), world.run(second))
    assert [r.status for r in results] == [UploadStatus.applied, UploadStatus.applied]
    grades = await world.grades()
    assert len(grades) == 15
    assert grades[("s3@example.org", "a")][0] == 13.0
    assert grades[("s3@example.org", "b")][0] == 23.0
    shared = [h[2] for h in await history(world) if h[0] == "shared"]
    # One went first and the other changed every shared cell after it: history is whole.
    assert len(shared) == 10
    assert grades[("s0@example.org", "shared")][0] == shared[-1]


async def test_a_crashed_import_is_taken_over_and_finishes_once(grade_world: GradeWorld) -> None:
    world = grade_world
    upload_id = await world.upload(csv(*[f"s{i}@example.org,{i},final," for i in range(5)]))
    # A worker claimed it, staged part of it and died: its lease has run out.
    async with transaction(world.factory) as session:
        claimed = await imports.claim_upload(
            session,
            outbox=world.outbox,
            upload_id=upload_id,
            owner="dead:1",
            max_attempts=3,
            lease_s=30,
        )
        assert claimed is not None
        await session.execute(
            grade_upload_rows.insert().values(
                upload_id=upload_id, file_row=2, user_id=1, assessment="final", value=99.0
            )
        )
    assert await world.importer.sweep() == 0  # still leased: nobody takes it
    async with transaction(world.factory) as session:
        await session.execute(
            update(GradeUpload).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert await world.importer.sweep() == 1
    upload = await world.run(upload_id)
    assert upload.status is UploadStatus.applied
    assert upload.attempts == 2
    assert sorted(v for v, _, _ in (await world.grades()).values()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    # The dead worker's late writes and a duplicate message change nothing.
    async with transaction(world.factory) as session:
        with pytest.raises(apply.LeaseLost):
            await apply.write_progress(
                session,
                outbox=world.outbox,
                upload_id=upload_id,
                owner="dead:1",
                phase="staging",
                rows_done=1,
                rows_total=5,
                announce=False,
            )
    await world.importer.run(upload_id)
    assert len(await history(world)) == 5


async def test_a_file_is_staged_in_several_transactions_with_progress_every_batch(
    grade_world: GradeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = grade_world
    monkeypatch.setattr(staging, "BATCH_ROWS", 2)
    monkeypatch.setattr(staging, "STREAM_ROWS", 5)
    written: list[int] = []
    write_progress = apply.write_progress

    async def recording(session: AsyncSession, **progress: Any) -> None:
        if progress["phase"] == "staging":
            written.append(progress["rows_done"])
        await write_progress(session, **progress)

    monkeypatch.setattr(apply, "write_progress", recording)
    lines = [f"s{i % 5}@example.org,{i},a{i // 5}," for i in range(13)]
    upload = await world.run(await world.upload(csv(*lines)))
    assert upload.status is UploadStatus.applied, upload.message
    assert (upload.rows_total, upload.changes_total) == (13, 13)
    assert len(await world.grades()) == 13
    # Never more than a batch between two counts.
    assert written[-1] == 13
    assert all(0 <= b - a <= 2 for a, b in zip([0, *written], written, strict=False))


async def test_an_import_that_loses_its_lease_while_staging_commits_no_more(
    grade_world: GradeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = grade_world
    monkeypatch.setattr(staging, "BATCH_ROWS", 2)
    monkeypatch.setattr(staging, "STREAM_ROWS", 6)
    write_progress = apply.write_progress

    async def taken_over(session: AsyncSession, **progress: Any) -> None:
        await write_progress(session, **progress)
        if progress["phase"] == "staging" and progress["rows_done"] == 2:
            # Another slot claims it here (its lease ran out).
            await session.execute(update(GradeUpload).values(lease_owner="other"))

    monkeypatch.setattr(apply, "write_progress", taken_over)
    upload_id = await world.upload(csv(*[f"s{i}@example.org,{i},final," for i in range(5)]))
    await world.importer.run(upload_id)
    upload = await world.get(upload_id)
    assert (upload.status, upload.lease_owner) == (UploadStatus.running, "other")
    assert upload.rows_done == 2
    assert await world.grades() == {}
    async with world.factory() as session:
        staged = await session.scalar(select(func.count()).select_from(grade_upload_rows))
        dialect = (await session.connection()).dialect.name
    # PostgreSQL: the open COPY was rolled back; SQLite: the first batch, committed
    # with its progress. The slot that took over restages from the file either way.
    assert staged == (0 if dialect == "postgresql" else 2)


async def test_duplicates_are_found_when_the_watch_of_cells_gives_up(
    grade_world: GradeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = grade_world
    # Room for the marks of two assessments of five students: the third makes the
    # watch give up, and the SQL check over the staged rows still finds the repeat.
    monkeypatch.setattr(staging, "DUPLICATE_WATCH_BYTES", 2 * 5)
    lines = ["s0@example.org,1,a,", "s0@example.org,2,b,", "s1@example.org,3,c,"]
    upload = await world.run(await world.upload(csv(*lines, "N0001,4,c,")))
    assert upload.status is UploadStatus.rejected
    assert upload.errors_total == 1
    assert "Rows 4 and 5 both grade s1@example.org for 'c'" in upload.errors[0]["message"]
    assert await world.grades() == {}
    # Within the watch's room a clean file skips the SQL check and is applied.
    applied = await world.run(await world.upload(csv(*lines[:2])))
    assert applied.status is UploadStatus.applied, applied.message


def test_the_watch_of_cells_sees_a_repeat_in_bounded_memory() -> None:
    watch = staging.DuplicateWatch([7, 8, 9])
    watch.see(7, "a")
    watch.see(8, "a")
    watch.see(7, "b")
    assert not watch.needs_sql_check
    watch.see(7, "a")
    assert (watch.repeated, watch.needs_sql_check) == (True, True)
    assert sum(len(column) for column in watch.columns.values()) == 2 * 3


async def test_a_student_removed_from_the_course_while_the_file_is_read_is_refused(
    grade_world: GradeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = grade_world
    write_progress = apply.write_progress

    async def removed_meanwhile(session: AsyncSession, **progress: Any) -> None:
        await write_progress(session, **progress)
        if progress["phase"] == "checking":
            # In the same transaction: SQLite's one write lock is held by it.
            course = await session.get_one(Course, world.course_id)
            user_id = await session.scalar(select(User.id).where(User.email == "s3@example.org"))
            assert user_id is not None
            await members.remove_student(session, course, user_id=user_id)

    monkeypatch.setattr(apply, "write_progress", removed_meanwhile)
    upload = await world.run(
        await world.upload(csv("s0@example.org,50,final,", "s3@example.org,60,final,"))
    )
    assert upload.status is UploadStatus.rejected
    assert "1 rows grade students who were removed from the course" in upload.message
    assert await world.grades() == {}
    assert await history(world) == []


async def test_a_cells_history_shows_each_uploads_change_and_the_revert_newest_first(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    first = await world.run(
        await world.upload(csv("s0@example.org,50,final,ok", "s1@example.org,40,final,"))
    )
    unchanged_and_changed = csv("s0@example.org,50,final,ok", "s1@example.org,45,final,late")
    second = await world.run(await world.upload(unchanged_and_changed))
    assert (second.status, second.changes_total) == (UploadStatus.applied, 1)
    assert [(c["student"], c["old"], c["new"]) for c in second.changes] == [
        ("s1@example.org", 40.0, 45.0)
    ]
    await _request_revert(world, second.id, force=False)
    assert (await world.run(second.id)).revert_status == RevertStatus.reverted
    async with transaction(world.factory) as session:
        s1 = await session.scalar(select(User.id).where(User.email == "s1@example.org"))
        s0 = await session.scalar(select(User.id).where(User.email == "s0@example.org"))
        assert s1 is not None
        assert s0 is not None
        # A student who left keeps their history, found through the uploads' kept rows
        # (s0's only changes are there).
        course = await session.get_one(Course, world.course_id)
        await members.remove_student(session, course, user_id=s0)
    async with world.factory() as session:
        found = await gradebook.find_course_student(
            session, course_id=world.course_id, student="s0@example.org"
        )
        cell = await gradebook.cell_history(
            session, course_id=world.course_id, user_id=s1, assessment="final"
        )
        untouched = await gradebook.cell_history(
            session, course_id=world.course_id, user_id=s0, assessment="final"
        )
    assert found.id == s0
    assert [(h.reason, h.upload_id, h.old_value, h.new_value) for h in cell] == [
        ("revert", second.id, 45.0, 40.0),
        ("upload", second.id, 40.0, 45.0),
        ("upload", first.id, None, 40.0),
    ]
    assert [(h.old_comment, h.new_comment) for h in cell[1:]] == [("", "late"), (None, "")]
    assert {h.changed_by_email for h in cell} == {"teacher@example.org"}
    assert cell[0].change_id > cell[1].change_id > cell[2].change_id
    # The second upload gave s0 the grade it had: no change of theirs in its history.
    assert [(h.upload_id, h.new_value) for h in untouched] == [(first.id, 50.0)]


async def test_uploads_reverted_newest_first_put_every_cell_back(grade_world: GradeWorld) -> None:
    world = grade_world
    first = await world.run(await world.upload(csv("s0@example.org,10,chain2,")))
    second = await world.run(await world.upload(csv("s0@example.org,20,chain2,")))
    await _request_revert(world, second.id, force=False)
    assert (await world.run(second.id)).revert_status == RevertStatus.reverted
    assert await world.grades() == {("s0@example.org", "chain2"): (10.0, None, "")}

    # The cell holds exactly what the first upload wrote: the second upload's change
    # and its revert cancel out, so nothing blocks undoing the first one too.
    await _request_revert(world, first.id, force=False)
    reverted = await world.run(first.id)
    assert reverted.revert_status == RevertStatus.reverted, reverted.message
    assert "1 grades put back" in reverted.message
    assert await world.grades() == {}


async def test_a_cell_changed_and_changed_back_by_hand_does_not_block_a_revert(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    await world.run(await world.upload(csv("s0@example.org,50,final,", "s1@example.org,50,final,")))
    upload = await world.run(
        await world.upload(csv("s0@example.org,70,final,", "s1@example.org,80,final,"))
    )
    await _change_by_hand(world, "s0@example.org", 75)
    await _change_by_hand(world, "s0@example.org", 70)  # as the upload left it again
    await _change_by_hand(world, "s1@example.org", 85)  # a real later change
    await _request_revert(world, upload.id, force=False)
    refused = await world.run(upload.id)
    assert refused.revert_status == RevertStatus.refused
    assert "Not reverted: 1 of the grades" in refused.message
    await _change_by_hand(world, "s1@example.org", 80)
    await _request_revert(world, upload.id, force=False)
    reverted = await world.run(upload.id)
    assert reverted.revert_status == RevertStatus.reverted, reverted.message
    grades = await world.grades()
    assert (grades[("s0@example.org", "final")][0], grades[("s1@example.org", "final")][0]) == (
        50.0,
        50.0,
    )


async def test_the_same_file_again_after_a_later_upload_was_reverted_changes_nothing(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    content = csv("s0@example.org,10,final,")
    first = await world.run(await world.upload(content))
    second = await world.run(await world.upload(csv("s0@example.org,20,final,")))
    await _request_revert(world, second.id, force=False)
    await world.run(second.id)

    again = await world.run(await world.upload(content))
    assert again.duplicate_of_id == first.id
    assert again.status is UploadStatus.applied, again.message
    assert again.changes_total == 0
    # A real later change is still protected: the file would overwrite it.
    await _change_by_hand(world, "s0@example.org", 15)
    third = await world.run(await world.upload(content))
    assert third.status is UploadStatus.rejected
    assert "1 of the grades this file changes were changed since" in third.message


async def test_the_row_total_is_an_estimate_while_reading_and_exact_at_the_end(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    # Comments over several lines: the file has more lines than rows.
    upload = await world.run(
        await world.upload(
            csv(*[f's{i}@example.org,{i},final,"line one\nline two\nline three"' for i in range(3)])
        )
    )
    assert upload.status is UploadStatus.applied, upload.message
    async with world.factory() as session:
        views = [
            e.payload["upload"]
            for e in await session.scalars(
                select(Event).where(Event.type == "grade_upload").order_by(Event.id)
            )
        ]
    staging = [v for v in views if v["phase"] == "staging"]
    assert staging
    assert all(v["rows_total_estimated"] for v in staging)
    assert (staging[0]["rows_total"], views[-1]["rows_total"]) == (9, 3)
    assert views[-1]["rows_total_estimated"] is False
    assert imports.describe_upload(upload)["rows_total_estimated"] is False


async def test_a_grade_xlsx_with_a_cell_longer_than_excel_allows_fails_clearly(
    grade_world: GradeWorld,
) -> None:
    world = grade_world
    upload = await world.run(await world.upload(xlsx_bomb(16 * 1024 * 1024), name="g.xlsx"))
    assert upload.status is UploadStatus.failed
    assert "more than 32,767 characters" in upload.message
    assert await world.grades() == {}
