"""Sync triggers: the database keeps a transition's old and new columns equal for the writes
that do not go through the ORM (raw SQL, another service, the previous release of the
application after a code rollback, which knows only the old column).

The ORM already writes both shapes. The triggers only fill the side a statement left out:

* an ``INSERT`` that gives one side only (every column of the other side NULL) gets the other
  side computed from it: the new columns by ``forward_sql`` (cast to the new field's type, as
  the backfill and verify compute them), the old ones by ``backward_sql``; a rename copies;
* an ``UPDATE`` that changes one side only gets the other side recomputed from it. An
  ``UPDATE`` that changes both (the ORM's own dual write) is left exactly as written: the
  application's values win, and nothing is converted twice. Nor is an ``UPDATE`` of the new
  side that writes what ``forward_sql`` makes of the old one (the backfill's): the old side
  is not recomputed from it, which would round-trip each old value through both transforms.

Per database (vendor branches on ``connection.vendor``):

* PostgreSQL: one PL/pgSQL function and two ``BEFORE`` row triggers that change ``NEW``; the
  ``UPDATE`` trigger fires only for statements that set a column of the transition
  (``UPDATE OF``, which also makes PostgreSQL refuse to drop those columns while it exists);
* MariaDB/MySQL: a ``BEFORE INSERT`` and a ``BEFORE UPDATE`` trigger (several triggers per
  event and table: MariaDB 10.2.3+, MySQL 5.7.2+). Text columns are compared by their bytes
  (``CAST(... AS BINARY)``), so a change of case or of trailing spaces that a
  case-insensitive collation calls equal is still a change;
* SQLite: its triggers cannot change ``NEW``, so an ``AFTER INSERT`` and an ``AFTER UPDATE``
  trigger update the row they fired for. Each ``UPDATE`` acts only when the row's other side
  is not already what it would compute, so the ``UPDATE`` of one trigger never makes a trigger
  convert the value back (with or without ``PRAGMA recursive_triggers``).

Names are derived from the table and the transition (``fs_sync_<table>_<name>_<hash>_<role>``,
at most 63 characters); every identifier is quoted through ``connection.ops.quote_name``, with
any quote character inside the name doubled, and the parameters of the expressions are
inlined as literals by the database driver's own quoting, as the ORM sends them.

>>> from flagschema.triggers import create_statements, triggers_installed
>>> for sql in create_statements(registry["shop.Order.reference"], connection):
...     cursor.execute(sql)
>>> triggers_installed(registry["shop.Order.reference"])
True

The migration operations :class:`~flagschema.operations.InstallSyncTriggers` and
:class:`~flagschema.operations.RemoveSyncTriggers` run these statements.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.db import DatabaseError, connections, models
from django.db.models.expressions import Col
from django.db.models.functions import Cast
from django.db.models.sql import Query

from flagschema.exceptions import TransitionError

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    from flagschema.transitions import Transition

__all__ = [
    "SUPPORTED_VENDORS",
    "create_statements",
    "drop_statements",
    "quote_name",
    "trigger_names",
    "triggers_installed",
]

SUPPORTED_VENDORS = ("postgresql", "mysql", "sqlite")
# The roles of the objects one transition installs, per vendor (the last part of each name).
_ROLES = {
    "postgresql": ("fn", "ins", "upd"),
    "mysql": ("ins", "upd"),
    "sqlite": ("ins", "upd"),
}
# PostgreSQL truncates longer names to 63 bytes, MySQL refuses more than 64 characters.
_MAX_NAME = 63
_QUOTE_CHARS = {"postgresql": '"', "mysql": "`", "sqlite": '"'}


# --- identifiers -----------------------------------------------------------------------------


def quote_name(connection: BaseDatabaseWrapper, name: str) -> str:
    """*name* quoted as an identifier for *connection*.

    ``connection.ops.quote_name`` quotes it as Django quotes every table and column. That
    function does not escape a quote character inside the name (and passes a name already
    wrapped in quotes through as it is), so a name holding one is quoted here the SQL way,
    with the quote character doubled: a crafted ``db_column`` names its column and nothing
    else. A name that is already a well-formed quoted identifier (or several, joined by
    dots, as in ``db_table = '"schema"."table"'``) is kept, as Django keeps it.
    """
    q = _QUOTE_CHARS.get(connection.vendor, '"')
    if q not in name:
        return cast(str, connection.ops.quote_name(name))
    if re.fullmatch(rf"{q}(?:[^{q}]|{q}{q})*{q}(?:\.{q}(?:[^{q}]|{q}{q})*{q})*", name):
        return name
    return q + name.replace(q, q + q) + q


def trigger_names(vendor: str, table: str, name: str) -> dict[str, str]:
    """The names of the objects (triggers, and PostgreSQL's function) that sync the
    transition *name* (the last part of its label) on *table*, by role.

    Only letters, digits and underscores, at most 63 characters; a hash of the table and the
    name keeps two transitions apart when their names are cut."""
    roles = _ROLES.get(vendor)
    if roles is None:
        raise TransitionError(_unsupported(vendor))
    digest = hashlib.sha256(f"{table}\0{name}".encode()).hexdigest()[:8]
    base = re.sub(r"[^A-Za-z0-9_]", "_", f"fs_sync_{table}_{name}")
    names = {}
    for role in roles:
        suffix = f"_{digest}_{role}"
        names[role] = base[: _MAX_NAME - len(suffix)] + suffix
    return names


def _unsupported(vendor: str) -> str:
    return (
        f"Sync triggers are written for PostgreSQL, MariaDB/MySQL and SQLite, not {vendor}; "
        "keep writers that bypass the ORM off the table until the contract, or run the "
        "backfill after them."
    )


# --- what the triggers compute ---------------------------------------------------------------


@dataclass(frozen=True)
class _Side:
    """One side of a transition: its columns and, for each, the SQL that computes it from the
    other side's columns of the row (``NEW."col"``)."""

    columns: tuple[str, ...]
    computed: tuple[str, ...]
    text: tuple[bool, ...]  # whether each column holds text (compared by its bytes on MySQL)


def _check_supported(transition: Transition) -> None:
    if transition.kind == "rename":
        return
    missing = [
        f"forward_sql for {f.name!r}"
        for f in transition.new_fields
        if transition.forward_sql_for(f) is None
    ] + [
        f"backward_sql for {f.name!r}"
        for f in transition.old_fields
        if transition.backward_sql_for(f) is None
    ]
    if missing:
        single = len(transition.new_fields) == 1 and len(transition.old_fields) == 1
        where = "to the ConvertedField" if single else "to the Transition"
        raise TransitionError(
            f"{transition.label}: sync triggers compute each shape from the other in SQL, and "
            f"the transition has no {' and no '.join(missing)}; add them {where} (Django "
            "expressions), or keep writers that bypass the ORM off the table and backfill "
            "after them."
        )


def _sides(transition: Transition, connection: BaseDatabaseWrapper) -> tuple[_Side, _Side]:
    """(old side, new side) of *transition*, their SQL written against the ``NEW`` row."""
    _check_supported(transition)

    def column(field: models.Field) -> str:
        return cast(str, field.column)

    def ref(field: models.Field) -> str:
        return f"NEW.{quote_name(connection, column(field))}"

    if transition.kind == "rename":
        old, new = transition.old_fields[0], transition.new_fields[0]
        return (
            _Side((column(old),), (ref(new),), (_is_text(old, connection),)),
            _Side((column(new),), (ref(old),), (_is_text(new, connection),)),
        )
    query = Query(transition.model)
    compiler = query.get_compiler(connection=connection)
    new_sql = tuple(
        _compile(
            transition,
            transition.forward_sql_for(f),
            f,
            "forward_sql",
            query,
            compiler,
            column,
        )
        for f in transition.new_fields
    )
    old_sql = tuple(
        _compile(
            transition,
            transition.backward_sql_for(f),
            f,
            "backward_sql",
            query,
            compiler,
            column,
        )
        for f in transition.old_fields
    )
    return (
        _Side(
            tuple(column(f) for f in transition.old_fields),
            old_sql,
            tuple(_is_text(f, connection) for f in transition.old_fields),
        ),
        _Side(
            tuple(column(f) for f in transition.new_fields),
            new_sql,
            tuple(_is_text(f, connection) for f in transition.new_fields),
        ),
    )


def _is_text(field: models.Field, connection: BaseDatabaseWrapper) -> bool:
    db_type = (field.db_type(connection) or "").lower()
    return "char" in db_type or "text" in db_type


class _RowCol(Col):
    """A column of the row a trigger fires for: ``NEW."col"``."""

    def __init__(self, column: str, target: Any, output_field: Any) -> None:
        super().__init__("NEW", target, output_field)
        self.column = column

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return f"NEW.{quote_name(connection, self.column)}", []


def _compile(
    transition: Transition,
    template: Any,
    target: models.Field,
    which: str,
    query: Query,
    compiler: SQLCompiler,
    column: Any,
) -> str:
    """The SQL of *template* (``forward_sql`` or ``backward_sql`` computing *target*), cast to
    *target*'s type, its columns those of the ``NEW`` row and its parameters inlined."""
    connection = compiler.connection
    try:
        resolved = template.resolve_expression(query, allow_joins=False)
    except Exception as exc:
        raise TransitionError(
            f"{transition.label}: {which} of {target.name!r} cannot be used in a trigger "
            f"({type(exc).__name__}: {exc}); it may name only columns of "
            f"{transition.model._meta.db_table}."
        ) from exc
    if resolved.contains_aggregate or _has_subquery(resolved):
        raise TransitionError(
            f"{transition.label}: {which} of {target.name!r} holds an aggregate or a "
            "subquery; a trigger computes a row's columns from that row alone."
        )
    model_fields = {id(f) for f in transition.model._meta.concrete_fields}

    def rebind(expression: Any) -> Any:
        if isinstance(expression, Col):
            if id(expression.target) not in model_fields:
                raise TransitionError(
                    f"{transition.label}: {which} of {target.name!r} reads "
                    f"{expression.target!r}, which is not a column of "
                    f"{transition.model._meta.db_table}."
                )
            return _RowCol(column(expression.target), expression.target, expression.output_field)
        sources = expression.get_source_expressions()
        if not sources:
            return expression
        expression = expression.copy()
        expression.set_source_expressions([rebind(s) if s is not None else None for s in sources])
        return expression

    expression = Cast(rebind(resolved), output_field=_cast_type(target))
    sql, params = compiler.compile(expression)
    return _inline(transition, which, target, connection, sql, params)


def _has_subquery(expression: Any) -> bool:
    if getattr(expression, "subquery", False) or isinstance(expression, Query):
        return True
    return any(_has_subquery(s) for s in expression.get_source_expressions() if s is not None)


def _cast_type(field: models.Field) -> models.Field:
    """The type a computed value is cast to: the field's own, as the backfill and verify cast
    ``forward_sql`` (text without its length: the column's own check refuses a longer value,
    where ``CAST(... AS varchar(100))`` would cut it)."""
    if isinstance(field, (models.CharField, models.TextField)):
        return models.TextField()
    plain = getattr(field, "_flagschema_plain", None)
    return cast(models.Field, plain if plain is not None else field.clone())


def _inline(
    transition: Transition,
    which: str,
    target: models.Field,
    connection: BaseDatabaseWrapper,
    sql: str,
    params: Sequence[Any],
) -> str:
    """*sql* with its ``%s`` parameters replaced by literals, quoted by the driver as the ORM
    sends them (PostgreSQL: psycopg's client-side binding; MariaDB/MySQL: the driver's
    escaping, which follows the server's ``NO_BACKSLASH_ESCAPES``; SQLite: Django's schema
    editor). A trigger's body holds no parameters."""
    try:
        if connection.vendor == "postgresql":
            return cast(str, cast(Any, connection.ops).compose_sql(sql, list(params)))
        if connection.vendor == "mysql":
            # The driver's escaping itself: Django 4.2's schema editor doubles "%" in strings.
            connection.ensure_connection()
            driver: Any = connection.connection

            def literal(value: Any) -> str:
                quoted = driver.escape(value, driver.encoders)
                return quoted.decode() if isinstance(quoted, bytes) else str(quoted)

            return sql % tuple(literal(p) for p in params)
        editor = connection.schema_editor()
        return sql % tuple(editor.quote_value(p) for p in params)
    except Exception as exc:
        raise TransitionError(
            f"{transition.label}: a parameter of {which} of {target.name!r} "
            f"({', '.join(repr(p) for p in params)}) cannot be written into a trigger as a "
            f"literal ({type(exc).__name__}: {exc}); use a plain number or string."
        ) from exc


# --- the statements --------------------------------------------------------------------------


def create_statements(
    transition: Transition,
    connection: BaseDatabaseWrapper,
    *,
    table: str | None = None,
) -> list[str]:
    """The statements that install *transition*'s sync triggers on *connection*, after those
    that drop any installed before (so that installing again replaces them).

    *table* defaults to the model's; a migration passes its historical model's. Raises
    :class:`~flagschema.TransitionError` for a conversion, split or merge without
    ``forward_sql`` for every new field and ``backward_sql`` for every old one, an expression
    a trigger cannot compute, or another database. The statements hold no ``%s``
    parameters: execute them with ``params=None``."""
    vendor = connection.vendor
    if vendor not in SUPPORTED_VENDORS:
        raise TransitionError(f"{transition.label}: {_unsupported(vendor)}")
    table = table or transition.model._meta.db_table
    old, new = _sides(transition, connection)
    names = trigger_names(vendor, table, _name(transition))
    writer = {"postgresql": _postgresql, "mysql": _mysql, "sqlite": _sqlite}[vendor]
    body = writer(connection, quote_name(connection, table), names, old, new)
    return [*drop_statements(connection, table, _name(transition)), *body]


def drop_statements(connection: BaseDatabaseWrapper, table: str, name: str) -> list[str]:
    """The statements that remove the sync triggers of the transition *name* (the last part of
    its label) from *table*, if they are there. They need no declaration: a migration that
    removes the triggers runs after the transition is gone from the code."""
    vendor = connection.vendor
    names = trigger_names(vendor, table, name)

    def q(name: str) -> str:
        return quote_name(connection, name)

    if vendor == "postgresql":
        on = quote_name(connection, table)
        return [
            f"DROP TRIGGER IF EXISTS {q(names['ins'])} ON {on}",
            f"DROP TRIGGER IF EXISTS {q(names['upd'])} ON {on}",
            f"DROP FUNCTION IF EXISTS {q(names['fn'])}()",
        ]
    return [f"DROP TRIGGER IF EXISTS {q(n)}" for n in names.values()]


def _name(transition: Transition) -> str:
    return transition.label.rsplit(".", 1)[-1]


def _all(template: str, columns: Sequence[str], connection: Any, joiner: str = " AND ") -> str:
    return "(" + joiner.join(template.format(quote_name(connection, c)) for c in columns) + ")"


def _differs(side: _Side, template: str, connection: Any) -> str:
    """Some column of *side* is not what the other side computes for it (*template* compares
    ``{0}``, the column, with ``{1}``, its SQL)."""
    return (
        "("
        + " OR ".join(
            template.format(quote_name(connection, c), sql)
            for c, sql in zip(side.columns, side.computed, strict=True)
        )
        + ")"
    )


def _postgresql(
    connection: Any, table: str, names: dict[str, str], old: _Side, new: _Side
) -> list[str]:
    def q(name: str) -> str:
        return quote_name(connection, name)

    def assign(side: _Side, indent: str) -> str:
        return "".join(
            f"{indent}NEW.{q(c)} := {sql};\n"
            for c, sql in zip(side.columns, side.computed, strict=True)
        )

    old_null = _all("NEW.{0} IS NULL", old.columns, connection)
    new_null = _all("NEW.{0} IS NULL", new.columns, connection)
    old_changed = _all("NEW.{0} IS DISTINCT FROM OLD.{0}", old.columns, connection, " OR ")
    new_changed = _all("NEW.{0} IS DISTINCT FROM OLD.{0}", new.columns, connection, " OR ")
    unlike_forward = _differs(new, "NEW.{0} IS DISTINCT FROM ({1})", connection)
    columns = ", ".join(q(c) for c in (*old.columns, *new.columns))
    body = (
        "BEGIN\n"
        "  IF TG_OP = 'INSERT' THEN\n"
        f"    IF {new_null} AND NOT {old_null} THEN\n{assign(new, '      ')}"
        f"    ELSIF {old_null} AND NOT {new_null} THEN\n{assign(old, '      ')}"
        "    END IF;\n"
        f"  ELSIF {old_changed} AND NOT {new_changed} THEN\n{assign(new, '    ')}"
        f"  ELSIF {new_changed} AND NOT {old_changed} AND {unlike_forward} THEN\n"
        f"{assign(old, '    ')}"
        "  END IF;\n"
        "  RETURN NEW;\n"
        "END;\n"
    )
    # Dollar quoting with a tag the body does not contain (a literal could hold any text).
    tag = "$flagschema$"
    n = 0
    while tag in body:
        n += 1
        tag = f"$flagschema{n}$"
    function = q(names["fn"])
    return [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "
        f"{tag}\n{body}{tag}",
        # No WHEN clause: PostgreSQL prepares it again for every statement, which costs a
        # one-row write more than the function's own tests. UPDATE OF skips the statements
        # that set no column of the transition, and makes PostgreSQL refuse to drop those
        # columns while the trigger exists.
        f"CREATE TRIGGER {q(names['ins'])} BEFORE INSERT ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {q(names['upd'])} BEFORE UPDATE OF {columns} ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION {function}()",
    ]


def _mysql(
    connection: Any, table: str, names: dict[str, str], old: _Side, new: _Side
) -> list[str]:
    def q(name: str) -> str:
        return quote_name(connection, name)

    def assign(side: _Side, indent: str) -> str:
        return "".join(
            f"{indent}SET NEW.{q(c)} = {sql};\n"
            for c, sql in zip(side.columns, side.computed, strict=True)
        )

    old_null = _all("NEW.{0} IS NULL", old.columns, connection)
    new_null = _all("NEW.{0} IS NULL", new.columns, connection)

    def differ(side: _Side, others: Sequence[str]) -> str:
        # <=> is NULL-safe. Text is compared by its bytes, so that a case-insensitive
        # collation does not hide a change of case (or of trailing spaces).
        return (
            "("
            + " OR ".join(
                f"NOT (CAST(NEW.{q(c)} AS BINARY) <=> CAST({other} AS BINARY))"
                if text
                else f"NOT (NEW.{q(c)} <=> {other})"
                for c, other, text in zip(side.columns, others, side.text, strict=True)
            )
            + ")"
        )

    old_changed = differ(old, [f"OLD.{q(c)}" for c in old.columns])
    new_changed = differ(new, [f"OLD.{q(c)}" for c in new.columns])
    unlike_forward = differ(new, [f"({sql})" for sql in new.computed])
    return [
        f"CREATE TRIGGER {q(names['ins'])} BEFORE INSERT ON {table} FOR EACH ROW\n"
        "BEGIN\n"
        f"  IF {new_null} AND NOT {old_null} THEN\n{assign(new, '    ')}"
        f"  ELSEIF {old_null} AND NOT {new_null} THEN\n{assign(old, '    ')}"
        "  END IF;\n"
        "END",
        f"CREATE TRIGGER {q(names['upd'])} BEFORE UPDATE ON {table} FOR EACH ROW\n"
        "BEGIN\n"
        f"  IF {old_changed} AND NOT {new_changed} THEN\n{assign(new, '    ')}"
        f"  ELSEIF {new_changed} AND NOT {old_changed} AND {unlike_forward} THEN\n"
        f"{assign(old, '    ')}"
        "  END IF;\n"
        "END",
    ]


def _sqlite(
    connection: Any, table: str, names: dict[str, str], old: _Side, new: _Side
) -> list[str]:
    def q(name: str) -> str:
        return quote_name(connection, name)

    def update(side: _Side, condition: str) -> str:
        sets = ", ".join(
            f"{q(c)} = {sql}" for c, sql in zip(side.columns, side.computed, strict=True)
        )
        return f"  UPDATE {table} SET {sets} WHERE rowid = NEW.rowid AND {condition};\n"

    def differs(side: _Side) -> str:
        # The row's side is not what the other side computes. Each UPDATE below leaves the row
        # consistent, so the trigger it fires (this one, with recursive_triggers on, or the
        # UPDATE trigger after the INSERT one) finds nothing to do: nothing is converted back.
        return _differs(side, "NEW.{0} IS NOT ({1})", connection)

    old_null = _all("NEW.{0} IS NULL", old.columns, connection)
    new_null = _all("NEW.{0} IS NULL", new.columns, connection)
    old_changed = _all("NEW.{0} IS NOT OLD.{0}", old.columns, connection, " OR ")
    new_changed = _all("NEW.{0} IS NOT OLD.{0}", new.columns, connection, " OR ")
    columns = ", ".join(q(c) for c in (*old.columns, *new.columns))
    # One trigger per event, whose WHEN lets the ORM's own writes (both sides) through at the
    # cost of one test per row; UPDATE OF skips the statements that set neither side.
    return [
        f"CREATE TRIGGER {q(names['ins'])} AFTER INSERT ON {table} FOR EACH ROW "
        f"WHEN {new_null} <> {old_null}\n"
        "BEGIN\n"
        f"{update(new, new_null)}"
        f"{update(old, old_null)}"
        "END",
        f"CREATE TRIGGER {q(names['upd'])} AFTER UPDATE OF {columns} ON {table} FOR EACH ROW "
        f"WHEN {old_changed} <> {new_changed}\n"
        "BEGIN\n"
        f"{update(new, f'{old_changed} AND {differs(old)}')}"
        f"{update(old, f'{new_changed} AND {differs(new)}')}"
        "END",
    ]


# --- what is installed -----------------------------------------------------------------------


def installed_names(connection: BaseDatabaseWrapper, table: str) -> set[str]:
    """The names of the triggers on *table* (of every origin)."""
    vendor = connection.vendor
    if vendor == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal"
        params = [quote_name(connection, table)]
    elif vendor == "mysql":
        sql = (
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s"
        )
        params = [table]
    elif vendor == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s"
        params = [table]
    else:
        raise TransitionError(_unsupported(vendor))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def triggers_installed(transition: Transition, using: str = "default") -> bool | None:
    """Whether *transition*'s sync triggers are installed on the database *using*: True when
    all are, False when any is missing, None when that cannot be told (another database, or
    its catalog could not be read)."""
    connection = connections[using]
    if connection.vendor not in SUPPORTED_VENDORS:
        return None
    table = transition.model._meta.db_table
    names = trigger_names(connection.vendor, table, _name(transition))
    expected = {n for role, n in names.items() if role != "fn"}  # the triggers, not the function
    try:
        found = installed_names(connection, table)
    except DatabaseError:
        return None
    return expected <= found
