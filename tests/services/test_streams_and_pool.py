"""Open event streams do not hold the web process's database connections.

A stream borrows a pooled connection only for each read of its events (the pool's
size is not a limit on how many students can follow their results): with more
streams open than the pool has connections, a submit is still accepted.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from gradeflow.settings import Settings
from tests.factories import ADDER_SOLUTION
from tests.services.conftest import WebProcess, new_student, submit

POOL = 2
STREAMS = 3 * POOL


@pytest.mark.usefixtures("course")
def test_a_submit_is_accepted_while_more_streams_are_open_than_the_pool_has_connections(
    settings: Settings,
) -> None:
    small = settings.model_copy(update={"db_pool_size": POOL, "db_max_overflow": 0})
    web = WebProcess(small)
    try:
        with ExitStack() as stack:
            for _ in range(STREAMS):
                client = new_student(web)
                stack.callback(client.close)
                stream = stack.enter_context(client.stream("GET", "/api/events"))
                assert stream.status_code == 200
                # The stream's first text follows its first read of the database.
                assert next(stream.iter_lines()).startswith("retry:")
            student = new_student(web)
            stack.callback(student.close)
            answer = submit(student, ADDER_SOLUTION)
            assert answer.status_code == 202, answer.text
            # And a read that needs a connection of its own.
            assert student.get(f"/api/submissions/{answer.json()['id']}").status_code == 200
    finally:
        web.kill()
