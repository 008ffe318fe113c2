"""Lint: migrations that rename, drop or change the type of a column outside a transition.

Such an operation is what a code rollback cannot survive: the previous release reads a column
that moved, or writes one that is gone. :func:`lint` reads the migrations (files only: no
database connection is opened) and reports, for each one, the file, the line and what it does
to the schema:

* ``rename``: ``RenameField``, ``RenameModel`` and ``AlterModelTable`` that change a column or
  table name, and ``AlterField`` that changes ``db_column``;
* ``drop``: ``RemoveField``, ``DeleteModel``, and ``AlterOrderWithRespectTo`` that drops
  ``_order``;
* ``type``: ``AlterField`` whose column type changes (see below);
* ``sql``: ``RunSQL``, a *warning*: lint cannot tell what SQL changes.

Operations that change no column are not reported: on unmanaged and proxy models, a
``RenameField`` or ``RenameModel`` whose ``db_column`` or ``db_table`` keeps the name, the
``state_operations`` of ``SeparateDatabaseAndState`` (its ``database_operations`` are read).
``RunPython`` changes data, not the schema, and is not reported either.

**Type changes.** An ``AlterField`` changes the column type when ``Field.db_type()`` differs
before and after, the fields taken from the migration state at that point, on any of the
database backends lint can instantiate without connecting: the engines of ``DATABASES`` and
Django's built-in backends whose driver is installed (SQLite always; PostgreSQL with psycopg,
MySQL/MariaDB with mysqlclient, Oracle with oracledb). A text field becoming a ``JSONField`` is
``text`` on SQLite but ``jsonb`` on PostgreSQL, so one backend is not enough. The one exception
is a longer ``max_length`` (``varchar(10)`` -> ``varchar(20)``): every value the old code
writes still fits, and it reads the longer values the new code writes. A shorter one, or any
other change of the parameters (``numeric(10, 2)`` -> ``numeric(12, 4)``), is a type change.

**Accepting.** A migration someone reviewed is accepted, and its operations are listed as
accepted instead of reported, by an attribute of its class (the reason is shown in reports)::

    class Migration(migrations.Migration):
        flagschema_accepted = "number is unused since 2.3; checked in the logs"

or, for migrations you do not want to edit (the history from before lint ran in CI, a
third-party app's), by naming them in the ``FLAGSCHEMA_LINT_ACCEPTED`` setting as
``"app_label.migration_name"``. A transition's contract migration, which drops its old
columns on purpose, is accepted the same way (a generator of such migrations writes
:data:`ACCEPT_ATTRIBUTE` into the class).
"""

from __future__ import annotations

import ast
import copy
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations import operations as ops
from django.db.migrations.exceptions import AmbiguityError, BadMigrationError, NodeNotFoundError
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ModelState, ProjectState
from django.db.utils import load_backend

from flagschema.conf import get_setting
from flagschema.exceptions import LintError

#: The attribute of a migration class that accepts it: a reason (a non-empty string) or True.
ACCEPT_ATTRIBUTE = "flagschema_accepted"

#: Django's backends, instantiated (never connected) when their driver imports.
BUILTIN_ENGINES = (
    "django.db.backends.sqlite3",
    "django.db.backends.postgresql",
    "django.db.backends.mysql",
    "django.db.backends.oracle",
)

RENAME, DROP, TYPE, SQL = "rename", "drop", "type", "sql"


@dataclass(frozen=True)
class Finding:
    """One operation of one migration that renames, drops or retypes a column (``kind``).

    ``index`` is the operation's position in ``Migration.operations`` (the outer one, for an
    operation inside ``SeparateDatabaseAndState``); ``line`` its line in ``path``, when the
    file lists its operations literally. ``accepted`` is why it is accepted (the migration's
    ``flagschema_accepted``, or ``"FLAGSCHEMA_LINT_ACCEPTED"``), else None.
    """

    app_label: str
    migration: str
    path: str | None
    line: int | None
    index: int
    operation: str
    description: str
    kind: str
    message: str
    severity: str = "error"
    accepted: str | None = None

    @property
    def label(self) -> str:
        """``app_label.migration_name``, as ``migrate`` and the setting name it."""
        return f"{self.app_label}.{self.migration}"

    @property
    def location(self) -> str:
        """``path:line`` (or the label, for a migration without a file), for editors and CI."""
        where = self.path or self.label
        return f"{where}:{self.line}" if self.line else where

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


@dataclass
class LintReport:
    """What :func:`lint` read and found.

    >>> report = lint(["shop"])
    >>> report.exit_status()  # 1 when a problem is not accepted
    0
    """

    apps: list[str]
    migrations: int = 0
    #: The database vendors whose column types were compared.
    backends: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error" and not f.accepted]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning" and not f.accepted]

    @property
    def accepted(self) -> list[Finding]:
        return [f for f in self.findings if f.accepted]

    def exit_status(self, strict: bool = False) -> int:
        """1 when there is a problem (or, with *strict*, a warning) nobody accepted, else 0."""
        return int(bool(self.problems or (strict and self.warnings)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "apps": self.apps,
            "migrations": self.migrations,
            "backends": self.backends,
            "problems": [f.as_dict() for f in self.problems],
            "warnings": [f.as_dict() for f in self.warnings],
            "accepted": [f.as_dict() for f in self.accepted],
        }


@dataclass(frozen=True)
class Acceptance:
    """How to accept one migration: the line to add to its ``Migration`` class, and what it
    accepts (the findings lint reports there now)."""

    label: str
    path: str | None
    line: str
    findings: list[Finding]
    already: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "path": self.path,
            "line": self.line,
            "already": self.already,
            "findings": [f.as_dict() for f in self.findings],
        }


def lint(
    app_labels: Sequence[str] | None = None, accepted: Iterable[str] | None = None
) -> LintReport:
    """Read the migrations of *app_labels* (default: :func:`project_apps`) and report the
    operations that rename, drop or retype a column. *accepted* defaults to the setting
    ``FLAGSCHEMA_LINT_ACCEPTED``."""
    labels = _select(app_labels)
    loader = _loader()
    accepted_names = _accepted_names(
        loader, get_setting("LINT_ACCEPTED") if accepted is None else accepted
    )
    backends = offline_backends()
    report = LintReport(apps=labels, backends=sorted({vendor for vendor, _ in backends}))
    state = ProjectState(real_apps=loader.unmigrated_apps)
    order = {label: i for i, label in enumerate(labels)}
    for key in _plan(loader):
        migration = loader.graph.nodes[key]
        if key[0] not in order:
            state = _mutate(migration, state)
            continue
        report.migrations += 1
        reason = _accepted_reason(migration, accepted_names)
        path = _migration_path(migration)
        lines = _operation_lines(path, migration)
        for index, operation in enumerate(migration.operations):
            try:
                found = _apply(operation, migration.app_label, state, backends)
            except Exception as exc:
                raise LintError(_cannot_read(migration, index, exc)) from exc
            report.findings.extend(
                Finding(
                    app_label=migration.app_label,
                    migration=migration.name,
                    path=_display(path),
                    line=lines[index] if lines else None,
                    index=index,
                    operation=type(op).__name__,
                    description=op.describe(),
                    kind=kind,
                    message=message,
                    severity="warning" if kind == SQL else "error",
                    accepted=reason,
                )
                for op, kind, message in found
            )
    report.findings.sort(key=lambda f: order[f.app_label])  # stable: plan order within an app
    return report


def acceptance(migration: str, reason: str | None = None) -> Acceptance:
    """The line that accepts *migration* (``app_label.name``, or a unique prefix of the name,
    as ``migrate`` takes it), with what lint reports in it now."""
    app_label, _, prefix = migration.partition(".")
    if not prefix:
        raise LintError(f"{migration!r} is not app_label.migration_name.")
    _select([app_label])
    loader = _loader()
    try:
        found = loader.get_migration_by_prefix(app_label, prefix)
    except AmbiguityError:
        raise LintError(
            f"More than one migration in {app_label!r} matches {prefix!r}; give more of its name."
        ) from None
    except KeyError:
        raise LintError(f"No migration in {app_label!r} matches {prefix!r}.") from None
    label = f"{app_label}.{found.name}"
    value = reason.strip() if reason and reason.strip() else True
    return Acceptance(
        label=label,
        path=_display(_migration_path(found)),
        line=f"{ACCEPT_ATTRIBUTE} = {value!r}",
        findings=[f for f in lint([app_label], accepted=()).findings if f.migration == found.name],
        already=_accepted_reason(found, set(get_setting("LINT_ACCEPTED"))),
    )


def project_apps() -> list[str]:
    """The labels of the project's own apps, the ones lint reads by default: every installed
    app except Django's, flagschema itself and the apps installed in a ``site-packages`` or
    ``dist-packages`` directory (third-party packages)."""
    return [config.label for config in apps.get_app_configs() if _is_project_app(config)]


def offline_backends() -> list[tuple[str, BaseDatabaseWrapper]]:
    """``(vendor, wrapper)`` for the engines of ``DATABASES`` and Django's built-in backends
    whose driver imports: fresh wrappers, without credentials, that refuse to connect."""
    configured: list[str] = [str(db.get("ENGINE") or "") for db in settings.DATABASES.values()]
    found: list[tuple[str, BaseDatabaseWrapper]] = []
    for engine in dict.fromkeys(e for e in (*configured, *BUILTIN_ENGINES) if e):
        try:
            backend = load_backend(engine)
        except Exception:  # ImproperlyConfigured, ImportError: the driver is not installed
            continue
        wrapper = backend.DatabaseWrapper(
            _OFFLINE_SETTINGS | {"ENGINE": engine}, "flagschema_lint"
        )
        # Field.db_type() needs no server; whatever would connect must fail, not connect.
        wrapper.connect = wrapper.ensure_connection = _refuse
        if isinstance(vars(type(wrapper)).get("_data_types"), dict):
            # MySQL's data_types asks the server whether it has a native UUID type
            # (MariaDB 10.7+); its static map (UUIDField as char(32)) compares as well.
            wrapper.__dict__["data_types"] = dict(vars(type(wrapper))["_data_types"])
        found.append((wrapper.vendor, wrapper))
    return found


_OFFLINE_SETTINGS: dict[str, Any] = {
    "NAME": "",
    "USER": "",
    "PASSWORD": "",
    "HOST": "",
    "PORT": "",
    "OPTIONS": {},
    "TIME_ZONE": None,
    "CONN_MAX_AGE": 0,
    "CONN_HEALTH_CHECKS": False,
    "AUTOCOMMIT": True,
    "ATOMIC_REQUESTS": False,
    "TEST": {},
}


class _Offline(Exception):
    pass


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise _Offline("flagschema lint does not connect to databases")


# -- which migrations -------------------------------------------------------------------------


def _is_project_app(config: AppConfig) -> bool:
    if config.name == "flagschema" or config.name.startswith("django."):
        return False
    return not {"site-packages", "dist-packages"} & set(Path(config.path).parts)


def _select(app_labels: Sequence[str] | None) -> list[str]:
    if not app_labels:
        return project_apps()
    for label in app_labels:
        try:
            apps.get_app_config(label)
        except LookupError:
            raise LintError(f"No installed app with label {label!r}.") from None
    return list(dict.fromkeys(app_labels))


def _loader() -> MigrationLoader:
    try:
        # No connection: the files as they are, with squashed migrations replacing theirs.
        return MigrationLoader(None, ignore_no_migrations=True)
    except (BadMigrationError, NodeNotFoundError) as exc:
        raise LintError(f"Cannot read the migrations: {exc}") from None


def _plan(loader: MigrationLoader) -> list[tuple[str, str]]:
    """Every migration, dependencies first (the order ``migrate`` applies them in)."""
    plan: dict[tuple[str, str], None] = {}
    for leaf in loader.graph.leaf_nodes():
        plan.update(dict.fromkeys(loader.graph.forwards_plan(leaf)))
    return list(plan)


def _accepted_names(loader: MigrationLoader, names: Iterable[str]) -> set[str]:
    names = set(names)
    for name in sorted(names):
        app_label, _, migration = name.partition(".")
        if (app_label, migration) not in loader.disk_migrations:
            raise LintError(
                f"FLAGSCHEMA_LINT_ACCEPTED names {name!r}, which is no migration "
                "(write app_label.migration_name)."
            )
    return names


def _accepted_reason(migration: Migration, names: set[str]) -> str | None:
    marker = getattr(migration, ACCEPT_ATTRIBUTE, None)
    if isinstance(marker, str) and marker.strip():
        return marker.strip()
    if marker is True:
        return f"{ACCEPT_ATTRIBUTE} = True"
    if f"{migration.app_label}.{migration.name}" in names:
        return "FLAGSCHEMA_LINT_ACCEPTED"
    return None


def _mutate(migration: Migration, state: ProjectState) -> ProjectState:
    try:
        return migration.mutate_state(state, preserve=False)
    except Exception as exc:
        raise LintError(_cannot_read(migration, None, exc)) from exc


def _cannot_read(migration: Migration, index: int | None, exc: Exception) -> str:
    where = f"{migration.app_label}.{migration.name}"
    if index is not None:
        where += f" operations[{index}]"
    return f"Cannot follow the migrations at {where}: {type(exc).__name__}: {exc}"


# -- files and lines --------------------------------------------------------------------------


def _migration_path(migration: Migration) -> str | None:
    module = sys.modules.get(type(migration).__module__)
    return getattr(module, "__file__", None)


def _display(path: str | None) -> str | None:
    """*path* relative to the working directory when it is inside it (as CI logs show it)."""
    if path is None:
        return None
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _operation_lines(path: str | None, migration: Migration) -> list[int] | None:
    """The line of each operation, when the class lists exactly its operations literally."""
    if path is None:
        return None
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if not (isinstance(node, ast.ClassDef) and node.name == type(migration).__name__):
            continue
        for statement in node.body:
            if (
                isinstance(statement, ast.Assign)
                and any(
                    isinstance(t, ast.Name) and t.id == "operations" for t in statement.targets
                )
                and isinstance(statement.value, (ast.List, ast.Tuple))
                and len(statement.value.elts) == len(migration.operations)
            ):
                return [element.lineno for element in statement.value.elts]
    return None


# -- what an operation does to the schema -----------------------------------------------------

Found = list[tuple[Operation, str, str]]


def _apply(
    operation: Operation,
    app_label: str,
    state: ProjectState,
    backends: list[tuple[str, BaseDatabaseWrapper]],
) -> Found:
    """Check *operation* against *state*, and advance *state* past it."""
    if isinstance(operation, ops.SeparateDatabaseAndState):
        # The database operations run against a state of their own; the state operations
        # are the ones that carry the project state forward.
        database_state = state.clone()
        found: Found = []
        for inner in operation.database_operations:
            found += _apply(inner, app_label, database_state, backends)
        for inner in operation.state_operations:
            inner.state_forwards(app_label, state)
        return found
    if isinstance(operation, ops.RunSQL):
        found = [(operation, SQL, _SQL_MESSAGE)] if operation.sql else []
        operation.state_forwards(app_label, state)
        return found
    if isinstance(operation, ops.RenameField):
        return _rename_field(operation, app_label, state)
    if isinstance(operation, ops.RemoveField):
        return _remove_field(operation, app_label, state)
    if isinstance(operation, ops.AlterField):
        return _alter_field(operation, app_label, state, backends)
    if isinstance(operation, ops.RenameModel):
        return _rename_model(operation, app_label, state)
    if isinstance(operation, ops.DeleteModel):
        before = state.models[app_label, operation.name_lower]
        operation.state_forwards(app_label, state)
        return [(operation, DROP, f"drops table {_table(before)}")] if _managed(before) else []
    if isinstance(operation, ops.AlterModelTable):
        before_table = _table(state.models[app_label, operation.name_lower])
        operation.state_forwards(app_label, state)
        after = state.models[app_label, operation.name_lower]
        if _managed(after) and _table(after) != before_table:
            return [(operation, RENAME, f"renames table {before_table} to {_table(after)}")]
        return []
    if isinstance(operation, ops.AlterOrderWithRespectTo):
        before = state.models[app_label, operation.name_lower]
        ordered = before.options.get("order_with_respect_to")
        operation.state_forwards(app_label, state)
        if _managed(before) and ordered and not operation.order_with_respect_to:
            return [(operation, DROP, f"drops column {_table(before)}._order")]
        return []
    operation.state_forwards(app_label, state)
    return []


_SQL_MESSAGE = "runs SQL lint cannot read: review what it changes, then accept the migration"


def _rename_field(operation: ops.RenameField, app_label: str, state: ProjectState) -> Found:
    model = state.models[app_label, operation.model_name_lower]
    before = _storage(model, operation.old_name)
    operation.state_forwards(app_label, state)
    after = _storage(state.models[app_label, operation.model_name_lower], operation.new_name)
    if _managed(model) and before != after:
        return [(operation, RENAME, _renames(before, after))]
    return []


def _remove_field(operation: ops.RemoveField, app_label: str, state: ProjectState) -> Found:
    model = state.models[app_label, operation.model_name_lower]
    stored = _storage(model, operation.name)
    operation.state_forwards(app_label, state)
    if _managed(model) and stored:
        return [(operation, DROP, f"drops {_describe(stored)}")]
    return []


def _alter_field(
    operation: ops.AlterField,
    app_label: str,
    state: ProjectState,
    backends: list[tuple[str, BaseDatabaseWrapper]],
) -> Found:
    key = (app_label, operation.model_name_lower)
    model = state.models[key]
    before, before_stored = (
        _column_field(state, key, operation.name),
        _storage(model, operation.name),
    )
    operation.state_forwards(app_label, state)
    after = _column_field(state, key, operation.name)
    after_stored = _storage(state.models[key], operation.name)
    if not _managed(model):
        return []
    if before_stored != after_stored:
        return [(operation, RENAME, _renames(before_stored, after_stored))]
    change = _type_change(before, after, backends)
    if change and before_stored:
        return [(operation, TYPE, f"changes the type of {_describe(before_stored)}: {change}")]
    return []


def _rename_model(operation: ops.RenameModel, app_label: str, state: ProjectState) -> Found:
    before = state.models[app_label, operation.old_name_lower]
    # An auto-created many-to-many table names its columns after the models it joins.
    joins = any(_auto_m2m(f) for f in before.fields.values()) or any(
        _auto_m2m(f)
        for fields in state.relations.get((app_label, operation.old_name_lower), {}).values()
        for f in fields.values()
    )
    operation.state_forwards(app_label, state)
    after = state.models[app_label, operation.new_name_lower]
    if not _managed(before):
        return []
    if _table(before) != _table(after):
        return [(operation, RENAME, f"renames table {_table(before)} to {_table(after)}")]
    if joins:
        return [
            (operation, RENAME, f"renames columns of the many-to-many tables of {_table(before)}")
        ]
    return []


def _managed(model: ModelState) -> bool:
    """Whether migrations change this model's table (not for unmanaged and proxy models)."""
    return bool(model.options.get("managed", True)) and not model.options.get("proxy", False)


def _table(model: ModelState) -> str:
    return model.options.get("db_table") or f"{model.app_label}_{model.name_lower}"


def _auto_m2m(field: models.Field[Any, Any]) -> bool:
    return bool(field.many_to_many) and getattr(field.remote_field, "through", None) is None


def _storage(model: ModelState, name: str) -> tuple[str, str] | None:
    """What a field is stored in: ``("column", "table.column")``, ``("many-to-many table",
    "name")`` for an auto-created join table, None for neither (an explicit ``through``)."""
    field = model.fields[name]
    if field.many_to_many:
        if not _auto_m2m(field):
            return None
        table = getattr(field, "db_table", None) or f"{_table(model)}_{name}"
        return ("many-to-many table", table)
    named = field.clone()
    named.set_attributes_from_name(name)
    return ("column", f"{_table(model)}.{named.column}") if named.column else None


def _renames(before: tuple[str, str] | None, after: tuple[str, str] | None) -> str:
    if before and after and before[0] == after[0] == "column":
        return f"renames column {before[1]} to {after[1].rpartition('.')[2]}"
    if before and after and before[0] == after[0]:
        return f"renames {before[0]} {before[1]} to {after[1]}"
    return f"turns {_describe(before)} into {_describe(after)}"


def _describe(stored: tuple[str, str] | None) -> str:
    return " ".join(stored) if stored else "no column"


def _column_field(state: ProjectState, key: tuple[str, str], name: str) -> models.Field[Any, Any]:
    """The field as the schema editor sees it: for a relation, bound to the rendered models
    (its column type is its target's key type); else the migration state's own field."""
    field = state.models[key].fields[name]
    if field.is_relation and not field.many_to_many:
        return state.apps.get_model(*key)._meta.get_field(name)
    return field


def _type_change(
    before: models.Field[Any, Any],
    after: models.Field[Any, Any],
    backends: list[tuple[str, BaseDatabaseWrapper]],
) -> str | None:
    """``"integer -> varchar(20) (postgresql, sqlite)"`` when the column type changes on
    some backend, else None."""
    changes: dict[tuple[str, str], list[str]] = {}
    for vendor, connection in backends:
        old, new = _db_type(before, connection), _db_type(after, connection)
        if old == new or _UNKNOWN in (old, new) or _widened(before, after, connection):
            continue
        changes.setdefault((str(old), str(new)), []).append(vendor)
    return (
        "; ".join(
            f"{old} -> {new} ({', '.join(sorted(set(vendors)))})"
            for (old, new), vendors in changes.items()
        )
        or None
    )


#: A backend that cannot tell a field's type without a server: it is left out of the comparison.
_UNKNOWN = "?"


def _db_type(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> str | None:
    try:
        return field.db_type(connection)
    except _Offline:
        return _UNKNOWN


def _widened(
    before: models.Field[Any, Any], after: models.Field[Any, Any], connection: BaseDatabaseWrapper
) -> bool:
    """Whether *after* differs from *before* only by a longer ``max_length``."""
    old_length, new_length = (
        getattr(before, "max_length", None),
        getattr(after, "max_length", None),
    )
    if not (
        isinstance(old_length, int) and isinstance(new_length, int) and new_length > old_length
    ):
        return False
    probe = copy.copy(after)
    probe.max_length = old_length
    return _db_type(probe, connection) == _db_type(before, connection)
