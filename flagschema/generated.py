"""Generated columns (``GeneratedField``, Django 5.0+) computed from a field being renamed.

While a rename runs, the database computes a generated column from the old column: the expand
adds the new column and changes nothing else (a generated column's expression cannot be
altered, only dropped and added again), and the old column holds every row's value (written
by every ORM write, and by the rows from before the expand, which the new column lacks until
the backfill). So an expression that names the new field is kept naming the old one: the
migrations see the generated field as it was, and the values it computes are the field's on
both read sides. At the contract the old column goes, and the contract migration rebuilds the
generated column from the new one.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import models
from django.db.models import F, Func, Q


def follow_renames(model: type[models.Model], renames: dict[str, str]) -> None:
    """Point the expressions of *model*'s generated fields that name a renamed field (new
    name -> old name in *renames*) at its old name, which reads the same value."""
    if not renames:
        return
    for field in model._meta.local_fields:
        expression = getattr(field, "expression", None)
        if not getattr(field, "generated", False) or expression is None:
            continue
        if _names(expression) & set(renames):
            generated: Any = field
            generated.expression = renamed(expression, renames)
            # Computed from the expression and cached (Django 5.0+).
            for cached in ("referenced_fields", "cached_col"):
                generated.__dict__.pop(cached, None)


def renamed(value: Any, renames: dict[str, str], *, field_name: bool = False) -> Any:
    """*value* (an expression, a Q, or one of their arguments) with each field named by a key
    of *renames* named by its value instead. Expressions are built again from their
    ``deconstruct()`` (their arguments are what migrations write), so that migrations see the
    new names too. *field_name*: a string is a field's name (an argument of a function)."""
    if isinstance(value, F):
        head, sep, rest = cast(str, cast(Any, value).name).partition("__")
        return F(renames[head] + sep + rest) if head in renames else value
    if isinstance(value, str):
        head, sep, rest = value.partition("__")
        return renames[head] + sep + rest if field_name and head in renames else value
    if isinstance(value, Q):
        clone = Q()
        clone.connector, clone.negated = value.connector, value.negated
        clone.children = [
            (renamed(child[0], renames, field_name=True), renamed(child[1], renames))
            if isinstance(child, tuple)
            else renamed(child, renames)
            for child in value.children
        ]
        return clone
    if isinstance(value, (list, tuple)):
        return type(value)(renamed(v, renames) for v in value)
    if hasattr(value, "resolve_expression") and hasattr(value, "deconstruct"):
        if not _names(value) & set(renames):
            return value
        _, args, kwargs = value.deconstruct()
        # A function takes the names of fields as strings (Upper("name")).
        names = isinstance(value, Func)
        return type(value)(
            *(renamed(a, renames, field_name=names) for a in args),
            **{k: renamed(v, renames) for k, v in kwargs.items()},
        )
    return value


def generated_fields_naming(model_state: Any, names: set[str]) -> list[str]:
    """The generated fields of a migration *model_state* whose expression names one of
    *names* (old fields a contract drops)."""
    found = []
    for name, field in model_state.fields.items():
        expression = getattr(field, "expression", None)
        generated = getattr(field, "generated", False) and expression is not None
        if generated and _names(expression) & names:
            found.append(name)
    return found


def _names(expression: Any) -> set[str]:
    """The fields *expression* names (the first part of each F() and Q lookup)."""
    if isinstance(expression, F):
        return {cast(Any, expression).name.split("__", 1)[0]}
    found: set[str] = set()
    if isinstance(expression, Q):
        for child in expression.children:
            if isinstance(child, tuple):
                found.add(child[0].split("__", 1)[0])
                found |= _names(child[1]) if hasattr(child[1], "get_source_expressions") else set()
            else:
                found |= _names(child)
        return found
    if not hasattr(expression, "get_source_expressions"):
        return found
    for source in expression.get_source_expressions():
        if source is not None:
            found |= _names(source)
    return found
