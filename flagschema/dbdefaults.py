"""Database defaults (``db_default``, Django 5.0+) of the fields of a transition.

The expand adds the new column without a default (NULL marks the rows the backfill has not
reached), so an INSERT that leaves the new field to its database default would store NULL in
the new column where the database knows the ``DEFAULT`` keyword (PostgreSQL, MariaDB/MySQL),
and the default in the old one. The writes name the default's expression instead, for both
columns: the new column gets the field's default, and the old column the same value (a
rename) or its old shape (a conversion: ``backward`` of a constant default, else the old
field's own ``db_default``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import NOT_PROVIDED, Field, Value

from flagschema.exceptions import TransitionError
from flagschema.transitions import Transition

try:
    from django.db.models.expressions import DatabaseDefault as _DatabaseDefault
except ImportError:  # Django 4.2: no database defaults
    _DatabaseDefault = None  # type: ignore[assignment,misc]

DatabaseDefault: Any = _DatabaseDefault


def default_expression(field: Field, value: Any) -> Any:
    """The expression of *field*'s database default when *value* stands for it (what a new
    instance holds, or what ``bulk_create`` puts there on SQLite), else None."""
    if DatabaseDefault is not None and isinstance(value, DatabaseDefault):
        return value.expression
    # bulk_create() on SQLite puts the field's db_default itself there: as it is when it is an
    # expression (a constant is then a plain value, written as any other).
    db_default = getattr(field, "db_default", NOT_PROVIDED)
    if value is db_default and hasattr(value, "resolve_expression"):
        return value
    return None


def old_db_default(transition: Transition, expression: Any, companion: Field) -> Any:
    """What a conversion writes to its old column (*companion*) for a row whose new field is
    left to its database default *expression*."""
    backward = transition.backward
    if isinstance(expression, Value) and backward is not None:
        return None if expression.value is None else backward(expression.value)
    own = getattr(companion, "db_default", NOT_PROVIDED)
    if own is not NOT_PROVIDED and DatabaseDefault is not None:
        return DatabaseDefault(
            own if hasattr(own, "resolve_expression") else Value(own), output_field=companion
        )
    raise TransitionError(
        f"{transition.label}: the new field {transition.field.name!r} is left to its "
        f"db_default {expression!r}, which backward cannot convert (it is not a constant) "
        f"for the old column {companion.column!r}; give the old field a db_default too, or "
        "set a value."
    )
