"""IngestionApp.save follows eventsourcing's Application.save step for step (ADR 0020).

It copies the library's save with a cheaper collection step and calls the library's private
`_record`, `_take_snapshots` and `_notify`. These tests fail when the library's save changes
(then read the new one and bring the copy in line), and show the copy behaves as the original.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from application.ingestion import IngestionApp
from application.management import ManagementApp

# The statements of eventsourcing 9.5.6's Application.save (body_fingerprint below).
PINNED_LIBRARY_SAVE = "fd62a9236ab8dbe9b88014c89f998cb8c529f7471290123384ba7d87190e96d4"


def save_steps(function: object) -> list[str]:
    """The names the function calls, in the order they appear."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))  # type: ignore[arg-type]
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    calls.sort(key=lambda c: (c.lineno, c.col_offset))
    names = []
    for call in calls:
        func = call.func
        names.append(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "?"))
    return names


def body_fingerprint(function: object) -> str:
    """A hash of the function's statements as ast.unparse writes them: docstring, comments and
    layout left out."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))  # type: ignore[arg-type]
    definition = tree.body[0]
    assert isinstance(definition, ast.FunctionDef)
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return hashlib.sha256("\n".join(ast.unparse(s) for s in body).encode()).hexdigest()


def test_the_librarys_save_is_the_one_the_copy_follows() -> None:
    assert save_steps(Application.save) == [
        "ProcessingEvent", "collect_events", "_record", "_take_snapshots", "_notify", "notify"]
    assert body_fingerprint(Application.save) == PINNED_LIBRARY_SAVE


def test_the_copy_takes_the_librarys_steps_in_the_librarys_order() -> None:
    library = [s for s in save_steps(Application.save) if s != "collect_events"]
    copy = [s for s in save_steps(IngestionApp.save)
            if s not in ("collect_events", "isinstance", "extend", "update")]
    assert copy == library


class Counter(Aggregate):
    """A plain aggregate, as member timelines are."""

    @event("Incremented")
    def increment(self) -> None:
        pass


class SnapshottingIngestion(IngestionApp):
    snapshotting_intervals = {Counter: 2}


def test_the_copy_records_and_snapshots_as_the_librarys_save_does() -> None:
    app = SnapshottingIngestion(ManagementApp(), env={"IS_SNAPSHOTTING_ENABLED": "y"})
    counter = Counter()
    for _ in range(3):
        counter.increment()
    recordings = app.save(counter)
    assert [r.notification.originator_version for r in recordings] == [1, 2, 3, 4]
    assert app.snapshots is not None
    assert [s.originator_version for s in app.snapshots.get(counter.id)] == [2, 4]
    assert app.repository.get(counter.id).version == 4
