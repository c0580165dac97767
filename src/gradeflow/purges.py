"""Which cached reads a committed write makes stale, found from the write itself.

Every unit of work tells this module what it writes (``db.WriteObserver``: ORM
objects as they are flushed, set-based statements as they run); once it commits,
the namespaces holding reads of those rows are purged, in this process and through
pub/sub in every other. Services do not list purges by hand, so a new write path
cannot forget one. A rollback purges nothing.

Submissions are not mapped by table: they change at every submit, claim and result,
and a table-wide purge would empty every student's cache. A submission written as an
ORM object purges its student's namespace; the set-based changes (claim, record,
regrade) each write an event row for the student (``record_submission_event``, or
inserted set-based with its values told, ``db.observe_rows``), which does the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from sqlalchemy.orm import Session

from gradeflow.accounts.identity import (
    IDENTITIES_NAMESPACE,
    identity_namespace,
    token_namespace,
    user_namespace,
)
from gradeflow.accounts.models import ApiToken, User
from gradeflow.courses.members import MEMBERSHIPS_NAMESPACE
from gradeflow.courses.reads import ASSIGNMENTS_NAMESPACE
from gradeflow.db import WriteObserver, after_commit
from gradeflow.events.models import Event
from gradeflow.grades.gradebook import OWN_GRADES_NAMESPACE
from gradeflow.grading.models import Submission
from gradeflow.infra.cache import Cache
from gradeflow.infra.pubsub import publish_after_commit

# Reads shared by many users, by the tables they are made of.
TABLE_NAMESPACES: dict[str, tuple[str, ...]] = {
    "courses": (ASSIGNMENTS_NAMESPACE,),
    "assignments": (ASSIGNMENTS_NAMESPACE,),
    "course_members": (MEMBERSHIPS_NAMESPACE,),
    "grades": (OWN_GRADES_NAMESPACE,),
}
_PENDING = "gradeflow.pending_purges"


def namespaces_written(table: str, instance: object | None) -> set[str]:
    """The namespaces a write of ``instance`` (or of any row, if None) to ``table`` purges."""
    namespaces = set(TABLE_NAMESPACES.get(table, ()))
    if isinstance(instance, User):
        namespaces.update((user_namespace(instance.id), identity_namespace(instance.id)))
    elif isinstance(instance, Submission):
        namespaces.add(user_namespace(instance.user_id))
    elif isinstance(instance, Event):
        # A user's stream moved on: pages that carry its last id are stale.
        namespaces.add(user_namespace(instance.user_id))
    elif isinstance(instance, Mapping) and table in ("events", "submissions"):
        # The values of a row inserted set-based (``db.observe_rows``): the same.
        namespaces.add(user_namespace(instance["user_id"]))
    elif isinstance(instance, ApiToken):
        namespaces.add(token_namespace(instance.token_hash))
    elif instance is None and table in ("users", "api_tokens"):
        # A set-based statement does not say whose rows it wrote: every identity.
        namespaces.add(IDENTITIES_NAMESPACE)
    return namespaces


def purge_on_commit(cache: Cache) -> WriteObserver:
    """A write observer that purges ``cache`` once the writing unit of work commits."""

    def observe(session: Session, table: str, instance: object | None) -> None:
        namespaces = namespaces_written(table, instance)
        if not namespaces:
            return
        pending: set[str] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = set()
            if cache.pubsub is None:
                after_commit(session, partial(_purge, cache, pending))
            else:
                # With the unit's wake-ups, ahead of them: one round trip.
                publish_after_commit(session, cache.pubsub, partial(_purge_message, cache, pending))
        pending.update(namespaces)

    return observe


async def _purge(cache: Cache, namespaces: set[str]) -> None:
    await cache.purge(*sorted(namespaces))


def _purge_message(cache: Cache, namespaces: set[str]) -> list[tuple[str, str]]:
    message = cache.purge_here(*sorted(namespaces))
    return [message] if message is not None else []
