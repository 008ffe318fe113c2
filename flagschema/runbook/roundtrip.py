"""Round-trip safety: does converting a value to the other shape and back give it back?

A transition whose ``backward`` loses information (``int(price)`` dropping cents, a name that
``join`` cannot rebuild) would lose data on a rollback: rows written in the new shape are read
back from the old columns. These functions find such values before anyone flips:

* :func:`check_samples` converts the transition's declared ``samples`` (old-shape values)
  forward then backward, and its ``new_samples`` (new-shape values) backward then forward,
  without a database;
* :func:`check_rows` does the same with every row of the table, in both directions: the old
  shape forward and back, and, for rows that have a new shape, that shape backward and forward.

The system checks run the first on every ``manage.py check``, and the second with
``manage.py check --database default``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flagschema.exceptions import ArgumentError
from flagschema.flags import reading
from flagschema.transitions import Transition

# How many problem rows a report keeps (their count is always complete).
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One value that does not survive the round trip.

    ``where`` is ``"sample 2"`` or ``"row pk=17"``; ``path`` is ``"old -> new -> old"`` or
    ``"new -> old -> new"``; ``detail`` says what came back or what raised. For rows, the
    detail names no values (they may be personal data): look the row up by its key.
    """

    where: str
    path: str
    detail: str
    pk: Any = None


@dataclass
class RoundTripReport:
    label: str
    checked: int = 0
    failed: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def add(self, problem: Problem) -> None:
        self.failed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    @property
    def sample_pks(self) -> list[Any]:
        return [p.pk for p in self.problems if p.pk is not None]


def _round_trip(transition: Transition, values: tuple[Any, ...], start: str) -> tuple[bool, str]:
    """Whether *values* (of the *start* shape) come back equal; else what happened."""
    there, back = (
        (transition.to_new, transition.to_old)
        if start == "old"
        else (transition.to_old, transition.to_new)
    )
    first, second = ("forward", "backward") if start == "old" else ("backward", "forward")
    try:
        converted = there(values)
    except Exception as exc:
        return False, f"{first} raised {type(exc).__name__}: {exc}"
    try:
        returned = back(converted)
    except Exception as exc:
        return False, f"{second} raised {type(exc).__name__}: {exc}"
    if returned != values:
        return False, f"{first} then {second} gives {_shown(returned)}"
    return True, ""


def _shown(values: tuple[Any, ...]) -> str:
    return repr(values[0]) if len(values) == 1 else repr(values)


def _as_old_values(transition: Transition, sample: Any) -> tuple[Any, ...]:
    if len(transition.old_fields) == 1:
        return (sample,)
    values = tuple(sample)
    if len(values) != len(transition.old_fields):
        names = ", ".join(f.name for f in transition.old_fields)
        raise ArgumentError(
            f"a sample of {transition.label} is a tuple of {names}; got {sample!r}"
        )
    return values


def _as_new_values(transition: Transition, sample: Any) -> tuple[Any, ...]:
    if len(transition.new_fields) == 1:
        return (sample,)
    values = tuple(sample) if isinstance(sample, (tuple, list)) else (sample,)
    if len(values) != len(transition.new_fields):
        names = ", ".join(f.name for f in transition.new_fields)
        raise ArgumentError(
            f"a new sample of {transition.label} is a tuple of {names}; got {sample!r}"
        )
    return values


def check_samples(transition: Transition) -> RoundTripReport:
    """Convert each declared sample forward then backward, and each declared new sample
    backward then forward (no database)."""
    report = RoundTripReport(transition.label)
    if transition.forward is None:  # a rename keeps values as they are
        return report
    for i, sample in enumerate(transition.samples):
        report.checked += 1
        try:
            values = _as_old_values(transition, sample)
        except ValueError as exc:
            report.add(Problem(f"sample {i}", "old -> new -> old", str(exc)))
            continue
        ok, detail = _round_trip(transition, values, "old")
        if not ok:
            report.add(Problem(f"sample {i} ({sample!r})", "old -> new -> old", detail))
    for i, sample in enumerate(getattr(transition, "new_samples", ())):
        report.checked += 1
        try:
            values = _as_new_values(transition, sample)
        except ValueError as exc:
            report.add(Problem(f"new sample {i}", "new -> old -> new", str(exc)))
            continue
        ok, detail = _round_trip(transition, values, "new")
        if not ok:
            report.add(Problem(f"new sample {i} ({sample!r})", "new -> old -> new", detail))
    return report


def check_rows(
    transition: Transition,
    *,
    using: str = "default",
    batch_size: int = 2000,
    limit: int | None = None,
) -> RoundTripReport:
    """Convert every row's old shape forward and back, and every row's new shape (where it
    has one) backward and forward, reading the table in primary-key batches."""
    report = RoundTripReport(transition.label)
    if transition.forward is None:
        return report
    for pk, olds, news in _rows(transition, using, batch_size, limit):
        report.checked += 1
        if any(v is not None for v in olds):
            ok, detail = _round_trip(transition, olds, "old")
            if not ok:
                report.add(Problem(f"row pk={pk!r}", "old -> new -> old", _private(detail), pk))
                continue
        if any(v is not None for v in news):
            ok, detail = _round_trip(transition, news, "new")
            if not ok:
                report.add(Problem(f"row pk={pk!r}", "new -> old -> new", _private(detail), pk))
    return report


def _private(detail: str) -> str:
    """*detail* without the values (rows may hold personal data)."""
    if " gives " in detail:
        return detail.split(" gives ", 1)[0] + " gives a different value"
    return detail.split(":", 1)[0]


def _rows(
    transition: Transition, using: str, batch_size: int, limit: int | None
) -> Iterator[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]:
    model = transition.model
    old_names = [f.attname for f in transition.old_fields]
    new_names = [f.attname for f in transition.new_fields]
    manager = model._base_manager.using(using)
    seen = 0
    last = None
    # Pinned to new: the new fields read their own columns (the old fields always do).
    with reading(transition, "new"):
        while limit is None or seen < limit:
            query = manager.order_by("pk")
            if last is not None:
                query = query.filter(pk__gt=last)
            size = batch_size if limit is None else min(batch_size, limit - seen)
            batch = list(query.values_list("pk", *old_names, *new_names)[:size])
            if not batch:
                return
            for row in batch:
                yield row[0], tuple(row[1 : 1 + len(old_names)]), tuple(row[1 + len(old_names) :])
            seen += len(batch)
            last = batch[-1][0]
