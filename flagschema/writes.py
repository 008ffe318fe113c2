"""What a write stores in the old shape where the new value alone does not say: the old field's
default for a missing new value, and a refusal for a value the old column cannot hold.

See docs/orm-writes.md for the rules as users meet them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from flagschema.exceptions import TransitionError
from flagschema.transitions import Transition

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

_NO_RANGE: Any = object()


def old_default(transition: Transition, new_field: models.Field) -> Any:
    """The value *new_field* takes when it has no default of its own and the old fields do:
    ``forward(old defaults)``, so that a row created without it stores the old field's
    default in the old column, as before the transition, and the new shape agrees with it.
    ``NOT_PROVIDED`` when the old fields give none."""
    # The old fields as the migrations declare them: the hidden fields that write the old
    # columns take no default of their own (they derive their value from the new shape).
    olds = [getattr(f, "_flagschema_old_template", f) for f in transition.old_fields]
    if not all(f.has_default() for f in olds):
        return models.NOT_PROVIDED
    values = tuple(f.get_default() for f in olds)
    try:
        news = transition.to_new(values)
    except Exception as exc:
        raise TransitionError(
            f"{transition.label}: forward() of the old field's default raised "
            f"{type(exc).__name__} while creating a row without {new_field.name!r}; give "
            f"{new_field.name!r} a default of its own."
        ) from exc
    return news[transition.new_fields.index(new_field)]


def old_range(
    field: models.Field, connection: BaseDatabaseWrapper
) -> tuple[int | None, int | None] | None:
    """The values an integer old column holds on *connection* (None for other types)."""
    cache: dict[str, Any] = field.__dict__.setdefault("_flagschema_ranges", {})
    found = cache.get(connection.vendor, _NO_RANGE)
    if found is _NO_RANGE:
        try:
            found = connection.ops.integer_field_range(field.get_internal_type())
        except KeyError:
            found = None
        cache[connection.vendor] = found
    return found


def check_old_value(
    transition: Transition,
    old_field: models.Field,
    value: Any,
    connection: BaseDatabaseWrapper,
    row: str,
) -> None:
    """Refuse, before the statement runs, an old value its integer column cannot hold (a
    widening conversion given a value only the new column holds). *row* says which row (``row
    pk=3``, ``a new row``, ``QuerySet.update()``); the value itself is never named."""
    if value is None or isinstance(value, bool) or hasattr(value, "resolve_expression"):
        return
    bounds = old_range(old_field, connection)
    if bounds is None:
        return
    low, high = bounds  # None: unbounded (SQLite, on Django 4.2)
    try:
        inside = (low is None or low <= value) and (high is None or value <= high)
    except TypeError:
        return  # not a number: the field's own conversion reports it
    if not inside:
        raise out_of_range(transition, old_field, row, bounds)


def out_of_range(
    transition: Transition,
    old_field: models.Field,
    row: str,
    bounds: tuple[int | None, int | None] | None = None,
) -> TransitionError:
    """The error for a value of *transition* that *old_field*'s column cannot hold."""
    names = ", ".join(repr(f.name) for f in transition.new_fields)
    what = "field" if len(transition.new_fields) == 1 else "fields"
    kind = old_field.get_internal_type()
    held = f"{kind}, {bounds[0]}..{bounds[1]}" if bounds and None not in bounds else kind
    return TransitionError(
        f"{transition.label}: the value of {what} {names} of {row} converts to an old value "
        f"that the old column {old_field.column!r} ({held}) cannot hold, so nothing was "
        f"written. Keep {names} within the old column's range while the transition runs: "
        "the wider range is usable from the contract on."
    )
