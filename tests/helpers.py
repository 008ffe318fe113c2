"""What tests use to see what is physically stored, beneath the ORM."""

from __future__ import annotations

from typing import Any

from django.db import connection
from waffle.models import Switch

from flagschema import flags


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def columns(model: Any, pk: Any, *names: str) -> tuple[Any, ...]:
    """The raw values of *names* in the row with primary key *pk*."""
    table = quote(model._meta.db_table)
    cols = ", ".join(quote(n) for n in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {table} WHERE {quote('id')} = %s", [pk])
        row = cursor.fetchone()
    assert row is not None, f"no row {pk} in {table}"
    return tuple(row)


def all_rows(model: Any, *names: str) -> list[tuple[Any, ...]]:
    table = quote(model._meta.db_table)
    cols = ", ".join(quote(n) for n in ("id", *names))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {table} ORDER BY {quote('id')}")
        return [tuple(r) for r in cursor.fetchall()]


def put(model: Any, pk: Any, **values: Any) -> None:
    """Write raw column values, bypassing the ORM (and so the dual write)."""
    table = quote(model._meta.db_table)
    sets = ", ".join(f"{quote(k)} = %s" for k in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} WHERE {quote('id')} = %s", [*values.values(), pk]
        )


def set_switch(name: str, active: bool) -> None:
    """Flip a waffle switch the way an operator would, and drop this process's cached state."""
    switch, _ = Switch.objects.update_or_create(name=name, defaults={"active": active})
    # waffle drops its cached copy when the transaction commits; tests never commit.
    switch.flush()
    flags.cache.forget(name)
