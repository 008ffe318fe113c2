"""The assignments of ``QuerySet.update()`` and of upserts on a model with transitions.

PostgreSQL and SQLite compute every ``SET`` assignment from the row as it was; MySQL and
MariaDB assign left to right, each expression seeing the assignments before it. An update
that writes both shapes of a field from one expression (``update(price_cents=F("price_cents")
+ 100)`` also sets ``price`` from ``price_cents``) therefore lists the columns that other
assignments read after those assignments, so that all three compute from the row as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import FieldDoesNotExist, FieldError
from django.db import DataError, models
from django.db.models.expressions import Col
from django.db.models.sql import Query

from flagschema.exceptions import TransitionError
from flagschema.fields import (
    _ConvertedCol,
    _resolved_forward_sql,
    is_companion_field,
    transition_of,
)
from flagschema.transitions import Side, Transition
from flagschema.writes import check_old_value, out_of_range

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper


def ordered_assignments(
    model: type[models.Model], values: dict[str, Any]
) -> tuple[dict[str, Any], dict[Transition, Side]]:
    """*values* in an order in which no assignment reads a column an earlier one wrote, and
    the read side of each transition whose columns the expressions read (the order holds for
    those sides only). Where the assignments read each other's columns in a cycle (a swap the
    caller wrote), their order is kept: the database decides, as it does without flagschema."""
    if len(values) < 2 or not any(hasattr(v, "resolve_expression") for v in values.values()):
        return values, {}
    meta = model._meta
    query = Query(model)
    sides: dict[Transition, Side] = {}
    writes: dict[str, str] = {}
    reads: dict[str, set[str]] = {}
    try:
        for name, value in values.items():
            field = meta.get_field(name)
            if not field.concrete or field.model._meta.concrete_model is not meta.concrete_model:
                return values, {}  # a parent's column: another statement
            writes[name] = cast(str, cast(models.Field, field).column)
            found: set[str] = set()
            if hasattr(value, "resolve_expression"):
                resolved = value.resolve_expression(query, allow_joins=False, for_save=True)
                _columns_read(resolved, meta.db_table, sides, found)
            reads[name] = found
    except (FieldDoesNotExist, FieldError, TransitionError, TypeError, ValueError):
        return values, {}  # Django (or the shim) reports it when the update runs
    remaining = list(values)
    ordered: list[str] = []
    while remaining:
        ordered.append(remaining.pop(_next_assignment(remaining, writes, reads)))
    return {name: values[name] for name in ordered}, sides


def _next_assignment(
    remaining: list[str], writes: dict[str, str], reads: dict[str, set[str]]
) -> int:
    """The first of *remaining* whose column no other remaining assignment reads (the first
    of all in a cycle)."""
    for i, name in enumerate(remaining):
        column = writes[name]
        if not any(column in reads[other] for other in remaining if other != name):
            return i
    return 0


def _columns_read(
    expression: Any, table: str, sides: dict[Transition, Side], found: set[str]
) -> None:
    if isinstance(expression, Col):
        if expression.alias not in (None, table):
            return
        target: Any = expression.target
        transition = getattr(target, "_flagschema_transition", None)
        if transition is None:
            found.add(target.column)
            return
        side = sides.get(transition)
        if side is None:
            side = sides[transition] = transition.read_side()
        if isinstance(expression, _ConvertedCol) and side == "old":
            resolved = _resolved_forward_sql(transition, target)
            if resolved is None:
                found.add(transition.old_fields[0].column)
            else:
                _columns_read(resolved, table, sides, found)
            return
        found.add(target._flagschema_read_columns[side])
        return
    for source in expression.get_source_expressions():
        if source is not None:
            _columns_read(source, table, sides, found)


def distinct_fields(model: type[models.Model], names: Iterable[str]) -> list[str]:
    """*names* with each field named once: an old name, the new name and the private name of
    a companion may reach the same field."""
    meta = model._meta
    seen: set[int] = set()
    out: list[str] = []
    for name in names:
        try:
            key = id(meta.get_field(name))
        except FieldDoesNotExist:
            out.append(name)  # Django reports it
            continue
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def check_update_values(
    model: type[models.Model], values: Mapping[str, Any], connection: BaseDatabaseWrapper
) -> None:
    """Refuse a plain value that an old integer column of a conversion cannot hold."""
    meta = model._meta
    for name, value in values.items():
        if value is None or hasattr(value, "resolve_expression"):
            continue
        field = _companion(meta, name)
        if field is not None:
            check_old_value(
                cast(Transition, transition_of(field)),
                field,
                value,
                connection,
                "QuerySet.update()",
            )


def update_out_of_range(
    model: type[models.Model],
    values: Mapping[str, Any],
    exc: DataError,
    connection: BaseDatabaseWrapper,
) -> TransitionError | None:
    """The TransitionError for the database's out-of-range error of an update that computed
    an old integer column of a conversion in SQL, or None when the error is another one."""
    message = str(exc)
    if "out of range" not in message.lower():
        return None
    meta = model._meta
    found = []
    for name, value in values.items():
        if not hasattr(value, "resolve_expression"):
            continue
        field = _companion(meta, name)
        # MySQL and MariaDB name the column; PostgreSQL names its type ("integer out of
        # range"), which a wider new column does not have.
        if field is not None and (
            f"'{field.column}'" in message
            or f"{field.db_type(connection)} out of range" in message
        ):
            found.append(field)
    if not found:
        return None
    if len(found) > 1:
        return _any_of(found)
    return out_of_range(cast(Transition, transition_of(found[0])), found[0], "QuerySet.update()")


def _any_of(fields: list[models.Field]) -> TransitionError:
    labels = ", ".join(
        f"{cast(Transition, transition_of(f)).label} (old column {f.column!r})" for f in fields
    )
    return TransitionError(
        f"QuerySet.update() computed a value that an old integer column cannot hold, in one "
        f"of {labels}, so nothing was written. Keep the new fields within the old columns' "
        "ranges while the transitions run: the wider ranges are usable from the contract on."
    )


def _companion(meta: Any, name: str) -> models.Field | None:
    """The old integer field of a conversion that *name* assigns, or None."""
    try:
        field = meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not is_companion_field(field):
        return None
    transition = transition_of(field)
    if transition is None or transition.kind == "rename":
        return None
    if not cast(Any, field)._flagschema_integer:
        return None
    return cast(models.Field, field)
