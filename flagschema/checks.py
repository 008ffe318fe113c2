"""System checks for declared transitions (ids ``flagschema.E0xx`` and ``flagschema.W0xx``).

Field-level problems are reported by the field's own ``check()``, so they appear next to
Django's model checks. Problems that need the migration history (what the old field really is)
are reported by :func:`check_transitions_against_migrations`, which reads migration files but
never connects to a database.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, connections, models

from flagschema.transitions import MULTI_KINDS, Transition, registry


def check_transition_field(field: Any) -> list[checks.CheckMessage]:
    """Checks of one RenamedField that need nothing but the model."""
    errors: list[checks.CheckMessage] = []
    model = field.model
    meta = model._meta
    old_name = field._flagschema_old_name
    flag = field._flagschema_flag

    if "flagschema" not in settings.INSTALLED_APPS and not any(
        a.endswith("FlagschemaConfig") for a in settings.INSTALLED_APPS
    ):
        errors.append(
            checks.Error(
                "The flagschema app is not installed.",
                hint="Add 'flagschema' to INSTALLED_APPS so that statements and requests "
                "resolve each transition's read side once.",
                obj=field,
                id="flagschema.E009",
            )
        )
    if not isinstance(flag, str) or not flag.strip():
        errors.append(
            checks.Error(
                "The transition has no flag name.",
                hint="Pass flag='<waffle switch name>', e.g. flag='customers.full_name'; "
                "while the switch is off reads come from the old column.",
                obj=field,
                id="flagschema.E003",
            )
        )
    if getattr(field, "_flagschema_kind", "") in MULTI_KINDS:
        # A field of a Transition: its declaration was checked when it was built, and its old
        # fields are compared with the migrations by check_against_migrations().
        return errors
    if meta.proxy:
        errors.append(
            checks.Error(
                f"A transition cannot be declared on the proxy model {meta.label}: a proxy "
                "has no columns of its own.",
                hint=f"Declare it on the concrete model {meta.concrete_model._meta.label}; "
                "proxies of it follow the same transition.",
                obj=field,
                id="flagschema.E004",
            )
        )
        return errors
    if not isinstance(old_name, str) or not old_name.isidentifier() or "__" in old_name:
        errors.append(
            checks.Error(
                f"old_name={old_name!r} is not a field name.",
                hint="Pass old_name='<the field being renamed>', as it was declared on the "
                "model before the rename.",
                obj=field,
                id="flagschema.E006",
            )
        )
        return errors
    if old_name == field.name:
        errors.append(
            checks.Error(
                f"old_name is {old_name!r}, the same as the new name.",
                hint="A rename needs a new name: declare the field under its new name and "
                "pass the current one as old_name.",
                obj=field,
                id="flagschema.E006",
            )
        )
        return errors
    companion = getattr(field, "_flagschema_companion", None)
    if companion is not None and companion.column == field.column:
        errors.append(
            checks.Error(
                f"The new field's column {field.column!r} is the old column.",
                hint="Remove db_column from the new field (or give it another column): a "
                "rename writes a second column and reads it once the flag is on.",
                obj=field,
                id="flagschema.E006",
            )
        )
        return errors
    clashing = [
        f
        for f in meta.local_fields
        if f.name == old_name and f is not getattr(field, "_flagschema_companion", None)
    ]
    if clashing:
        errors.append(
            checks.Error(
                f"The model still declares the old field {old_name!r}.",
                hint=f"Remove `{old_name} = ...` from {meta.object_name}: the transition keeps "
                f"the old column and `{old_name}` stays usable as an alias of {field.name!r}.",
                obj=field,
                id="flagschema.E005",
            )
        )
    if field.is_relation or field.primary_key:
        what = "a relation" if field.is_relation else "the primary key"
        errors.append(
            checks.Error(
                f"RenamedField cannot rename {what}.",
                hint="Rename plain (non-relational, non-primary-key) fields with RenamedField; "
                "keep this field as it is.",
                obj=field,
                id="flagschema.E007",
            )
        )
    errors.extend(check_old_column_gets_a_value(field))
    old_template = field._flagschema_old_template
    if old_template is not None and getattr(field, "_flagschema_kind", "rename") == "rename":
        connection = _types_connection()
        old_type = old_template.db_type(connection)
        new_type = field.db_type(connection)
        if old_type != new_type:
            errors.append(_type_mismatch(field, old_name, old_type, new_type))
    return errors


def check_old_column_gets_a_value(field: Any) -> list[checks.CheckMessage]:
    """A NOT NULL old column must get a value from a row created without the new field: the
    new field's default, or the old field's (see flagschema.writes.old_default)."""
    companion = getattr(field, "_flagschema_companion", None)
    if companion is None or companion.null:
        return []
    try:
        default = field.get_default()
    except Exception:  # a failing forward() is reported where it runs
        return []
    if default is not None:
        return []
    if not field.null:
        # A required field: a row without it fails as it did before the transition (Django's
        # rules). The trap is a new field that accepts None over a NOT NULL old column.
        return []
    meta = field.model._meta
    return [
        checks.Warning(
            f"The old column {companion.column!r} is NOT NULL, and a {meta.object_name} "
            f"created without {field.name!r} would write NULL to it (neither field has a "
            "default).",
            hint=f"Give old= the old field's default as its migrations declare it (a missing "
            f"{field.name!r} then stores it, and forward(default) in the new column), or give "
            f"{field.name!r} a default.",
            obj=field,
            id="flagschema.W013",
        )
    ]


def _types_connection() -> Any:
    """A database wrapper of the default database's engine that answers ``db_type()`` without
    connecting (checks run on every manage.py command, also where no database is reachable;
    MySQL's type map would otherwise ask the server its version)."""
    from flagschema.runbook.lint import offline_backends

    engine = settings.DATABASES[DEFAULT_DB_ALIAS].get("ENGINE")
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    for found_vendor, wrapper in offline_backends():
        if found_vendor == vendor and wrapper.settings_dict.get("ENGINE") == engine:
            return wrapper
    return connections[DEFAULT_DB_ALIAS]


def _type_mismatch(field: Any, old_name: str, old_type: Any, new_type: Any) -> checks.Error:
    if getattr(field, "_flagschema_kind", "") != "rename":
        return checks.Error(
            f"The old column {old_name!r} is {old_type} in the migrations but old= declares "
            f"{new_type}.",
            hint="Pass old=<the old field exactly as its migrations declare it>.",
            obj=field,
            id="flagschema.E002",
        )
    return checks.Error(
        f"The old column {old_name!r} is {old_type} but the new field is {new_type}: "
        "a rename keeps the column type.",
        hint=f"Declare the new field with the old field's type ({old_type}); change the type "
        "in a separate transition that converts values.",
        obj=field,
        id="flagschema.E002",
    )


def _check_old_field(
    transition: Transition, companion: models.Field, model_state: Any, connection: Any
) -> list[checks.CheckMessage]:
    meta = transition.model._meta
    old_name = companion.name
    declaration = "RenamedField" if transition.kind == "rename" else "ConvertedField"
    if transition.kind in MULTI_KINDS:
        declaration = f"Transition (as old={{{old_name!r}: ...}})"
    known = model_state.fields.get(old_name)
    if known is None:
        names = ", ".join(sorted(model_state.fields)) or "none"
        what = "old_name" if transition.kind == "rename" else "The old field"
        return [
            checks.Error(
                f"{what} {old_name!r} is not a field of {meta.label} in its migrations: "
                "makemigrations would add a new, empty column.",
                hint=f"Name the field being changed as its migrations do (fields in the "
                f"migrations: {names}).",
                obj=transition.field,
                id="flagschema.E001",
            )
        ]
    old_type = known.db_type(connection)
    # A rename keeps the type; the old field of any other change must be the one migrations
    # know.
    expected = transition.field if transition.kind == "rename" else companion
    new_type = expected.db_type(connection)
    if old_type != new_type:
        return [_type_mismatch(transition.field, old_name, old_type, new_type)]
    if _significant(known) != _significant(companion):
        _, _, _, before = known.deconstruct()
        _, _, _, now = companion.deconstruct()
        changed = sorted(
            k for k in set(before) | set(now) if repr(before.get(k)) != repr(now.get(k))
        )
        return [
            checks.Warning(
                f"The old field {old_name!r} differs from its migrations in "
                f"{', '.join(changed)}: makemigrations would alter the old column.",
                hint=f"Pass old=<the old field exactly as its migrations declare it> to the "
                f"{declaration}, so the old column is left as it is.",
                obj=transition.field,
                id="flagschema.W001",
            )
        ]
    return []


def _significant(field: models.Field) -> tuple[Any, ...]:
    _, path, args, kwargs = field.deconstruct()
    return path, tuple(args), tuple(sorted((k, repr(v)) for k, v in kwargs.items()))


def _still_declared(transition: Transition, migration: str) -> checks.CheckMessage:
    """The transition's contract migration exists, and the code still declares it."""
    from flagschema.runbook.contract import code_change

    plain = "; ".join(code_change(transition).plain)
    return checks.Error(
        f"The migration {transition.model._meta.app_label}.{migration} drops "
        f"{', '.join(map(repr, transition.old_names))} (the contract of {transition.label}), "
        "but the model still declares the transition.",
        hint="Apply the code change the contract printed, in the same release as that "
        f"migration: the transition becomes `{plain}`.",
        obj=transition.field,
        id="flagschema.E001",
    )


@checks.register(checks.Tags.models)
def check_transitions_against_migrations(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Compare each transition's old field with the field its app's migrations know."""
    return check_against_migrations(_selected(app_configs))


def check_against_migrations(transitions: list[Transition]) -> list[checks.CheckMessage]:
    if not transitions:
        return []
    from django.db.migrations.loader import MigrationLoader

    from flagschema.runbook.contract import contract_migration

    loader = MigrationLoader(None, ignore_no_migrations=True)
    state = loader.project_state()
    connection = _types_connection()
    errors: list[checks.CheckMessage] = []
    for transition in transitions:
        meta = transition.model._meta
        if meta.app_label not in loader.migrated_apps:
            continue
        model_state = state.models.get((meta.app_label, meta.model_name))
        if model_state is None:
            continue
        if any(n not in model_state.fields for n in transition.old_names):
            contracted_by = contract_migration(transition, loader)
            if contracted_by:
                errors.append(_still_declared(transition, contracted_by))
                continue
        for companion in transition.old_fields:
            errors.extend(_check_old_field(transition, companion, model_state, connection))
    by_flag: dict[str, list[str]] = defaultdict(list)
    for transition in transitions:
        by_flag[transition.flag].append(transition.label)
    for flag, labels in sorted(by_flag.items()):
        if flag and len(labels) > 1:
            errors.append(
                checks.Warning(
                    f"The flag {flag!r} controls several transitions ({', '.join(labels)}); "
                    "they flip together.",
                    hint="Give each transition its own flag unless they must always read the "
                    "same side (a transition declared on an abstract model is copied to each "
                    "concrete child with the same flag).",
                    obj=flag,
                    id="flagschema.W002",
                )
            )
    return errors


@checks.register(checks.Tags.models)
def check_round_trip_samples(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Each transition's ``samples`` must come back equal from forward then backward, and its
    ``new_samples`` from backward then forward."""
    from flagschema.runbook.roundtrip import check_samples

    errors: list[checks.CheckMessage] = []
    for transition in _selected(app_configs):
        for problem in check_samples(transition).problems:
            errors.append(
                checks.Error(
                    f"{transition.label}: {problem.where} does not survive the round trip "
                    f"({problem.path}): {problem.detail}.",
                    hint="A value that does not come back is changed by a flip (a rollback "
                    "reads the shape the other transform wrote): make the transforms give it "
                    "back (backward(forward(old)) == old, forward(backward(new)) == new), "
                    "or remove the sample if such values cannot occur.",
                    obj=transition.field,
                    id="flagschema.E010",
                )
            )
    return errors


@checks.register(checks.Tags.caches)
def check_flag_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A flip reaches other processes through waffle's cache: it must be shared."""
    if settings.DEBUG or not len(registry):
        return []
    from flagschema.runbook.flip import _waffle_cache

    alias, backend = _waffle_cache()
    if not backend.endswith("LocMemCache"):
        return []
    return [
        checks.Warning(
            f"waffle's cache {alias!r} is a LocMemCache: each process keeps its own copy of a "
            "switch, so a flip (a rollback!) reaches the other processes only when their "
            "copy expires, minutes later.",
            hint="Point WAFFLE_CACHE_NAME (or the 'default' cache) at a cache shared by every "
            "process, e.g. django.core.cache.backends.redis.RedisCache.",
            obj=alias,
            id="flagschema.W010",
        )
    ]


@checks.register(checks.Tags.database)
def check_columns_exist(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """With ``check --database`` (and before ``migrate``): the columns of every declared
    transition whose table exists are there. A warning, not an error. Columns that an
    unapplied migration adds are not named: ``migrate`` runs the database checks before it
    applies the expand migration that adds them (and ``runserver`` says that migrations are
    unapplied); the warning is for a column no migration adds, or one that went missing."""
    errors: list[checks.CheckMessage] = []
    for alias in databases or ():
        pending: dict[tuple[str, str], set[str]] | None = None
        for transition in _selected(app_configs):
            missing = _missing_columns(transition, alias)
            if missing:
                if pending is None:
                    pending = _pending_columns(alias)
                meta = transition.model._meta
                coming = pending.get((meta.app_label, str(meta.model_name)), set())
                missing = [c for c in missing if c not in coming]
            if missing:
                errors.append(
                    checks.Warning(
                        f"{transition.label}: the table "
                        f"{transition.model._meta.db_table!r} in database {alias!r} has no "
                        f"column {', '.join(repr(c) for c in missing)}.",
                        hint="Apply the expand migration (manage.py migrate) before the code "
                        "that declares the transition serves traffic: its writes need both "
                        "shapes.",
                        obj=transition.field,
                        id="flagschema.W012",
                    )
                )
    return errors


def _missing_columns(transition: Transition, alias: str) -> list[str]:
    """The transition's columns missing from its table; none when the table itself does not
    exist yet (a new database, before its first ``migrate``)."""
    connection = connections[alias]
    table = transition.model._meta.db_table
    with connection.cursor() as cursor:
        if table not in connection.introspection.table_names(cursor):
            return []
        present = {c.name for c in connection.introspection.get_table_description(cursor, table)}
    return [c for c in (*transition.old_columns, *transition.new_columns) if c not in present]


def _pending_columns(alias: str) -> dict[tuple[str, str], set[str]]:
    """The columns of each model, by (app label, model name), as the migrations of apps with
    unapplied migrations on *alias* leave them: what ``migrate`` is about to add."""
    from django.db.migrations.loader import MigrationLoader

    try:
        loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    except Exception:  # an inconsistent history: nothing to rely on, warn as before
        return {}
    apps = {
        app for app, name in loader.graph.nodes if (app, name) not in loader.applied_migrations
    }
    if not apps:
        return {}
    state = loader.project_state()
    found: dict[tuple[str, str], set[str]] = {}
    for (app, model), model_state in state.models.items():
        if app not in apps:
            continue
        columns = found.setdefault((app, model), set())
        for name, field in model_state.fields.items():
            bound = field.clone()
            bound.set_attributes_from_name(name)
            if bound.column:
                columns.add(bound.column)
    return found


def _selected(app_configs: Any) -> list[Transition]:
    return [t for t in registry if app_configs is None or t.model._meta.app_config in app_configs]
