"""The management application's shared plumbing: loading aggregates by public id, the clock."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from application.access import Caller
from application.errors import Conflict, Forbidden, NotFound
from domain.insight_tag import InsightTag

T = TypeVar("T")
P = ParamSpec("P")
Clock = Callable[[], datetime]
MAX_COMMAND_ATTEMPTS = 8


def retried_on_conflict(command: Callable[P, T]) -> Callable[P, T]:
    """Re-run a command whose save lost an optimistic-concurrency race.

    Two requests changing the same aggregate at once (two tags created by one account, two
    grants on one tag) both load version N; the second save fails on the (id, version) key.
    The command is re-run from the start: its loads fast-forward to the winner's events, and
    its checks see the new state. A jittered backoff spreads out a crowd of racers, and
    persistent contention ends as a 409, never as a 500.
    """

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(MAX_COMMAND_ATTEMPTS):
            try:
                return command(*args, **kwargs)
            except IntegrityError:
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise Conflict("the resource is being changed concurrently; retry the request")

    return run


def utc_now() -> datetime:
    """The wall clock, in UTC; applications take a clock so tests can pin time."""
    return datetime.now(UTC)


def parse_id(value: str) -> UUID | None:
    """Public ids are UUID strings; anything else names nothing."""
    try:
        return UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


class ManagementBase(Application[UUID]):
    """Accounts, tags, campaigns and conversion actions: the management side's event store."""

    name = "management"
    # Management aggregates are few and read on every request: cache them, and fast-forward
    # each cached copy from the store so a change made by another process (a revoked grant)
    # is seen on the next request (the library's default with a cache).
    env = {"AGGREGATE_CACHE_MAXSIZE": "20000"}

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock

    def _find(self, cls: type[T], public_id: str) -> T | None:
        """The aggregate of this type with this public id, or None."""
        uuid = parse_id(public_id)
        if uuid is None:
            return None
        try:
            aggregate: Any = self.repository.get(uuid)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _get(self, cls: type[T], public_id: str, what: str) -> T:
        """Like _find, but raise NotFound."""
        found = self._find(cls, public_id)
        if found is None:
            raise NotFound(f"no {what} {public_id!r}") from None
        return found

    def _visible_tag(self, caller: Caller, tag_id: str) -> InsightTag:
        """The tag if the caller may see it; NotFound otherwise (not visible = not there)."""
        account_id = self._require_account(caller)
        tag = self._find(InsightTag, tag_id)
        if tag is None or tag.role_of(account_id) is None:
            raise NotFound(f"no tag {tag_id!r}")
        return tag

    @staticmethod
    def _require_account(caller: Caller) -> str:
        """Management calls act for an account; the admin token is not one (403, not 401)."""
        if caller.account_id is None:
            raise Forbidden("this call needs an account's API key, not the admin token")
        return caller.account_id
