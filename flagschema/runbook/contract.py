"""contract: the last step of a transition, which drops its old column(s).

:func:`contract` refuses unless the transition's flag says "new" and ``verify`` is clean, then
writes the migration that removes the old fields (and alters each new field from its nullable
expand column to its final declaration) and returns the code change that goes with it: the
transition's declaration replaced by plain fields. The migration is the one ``makemigrations``
would write once the code is changed, so that afterwards ``makemigrations`` finds nothing;
when a migration installed the transition's sync triggers, it removes them first
(:class:`~flagschema.operations.RemoveSyncTriggers`).

>>> result = contract(registry["shop.Order.reference"])
>>> result.path
'.../shop/migrations/0003_contract_order_reference.py'
>>> print(result.code_change.after)
    reference = models.PositiveIntegerField(unique=True)

:func:`plan` is the same without the database (no flag, no verify, nothing written).
"""

from __future__ import annotations

import ast
import copy
import difflib
import importlib
import inspect
import os
import re
import tokenize
from dataclasses import dataclass, replace
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.questioner import MigrationQuestioner
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter

from flagschema.exceptions import ArgumentError, ContractRefused
from flagschema.runbook.lint import ACCEPT_ATTRIBUTE
from flagschema.transitions import MULTI_KINDS, Transition

_CLASS_LINE = "class Migration(migrations.Migration):\n"


@dataclass(frozen=True)
class CodeChange:
    """The edit of the models file that goes with the contract migration.

    ``before`` (lines ``first_line`` to ``last_line`` of ``path``, 1-based) is the transition's
    declaration as written; ``after`` replaces it: the new fields declared plainly, in the
    source's own words where they can be read from it, else as Django's migration writer
    renders them (with the ``imports`` that needs). When the declaration cannot be found in
    the source, ``path`` and the lines are None and ``after`` is what to declare instead.
    ``diff`` is the edit as a unified diff; ``notes`` say what else the code must change.
    ``plain`` has each new field's declaration on one line, as the migration writer renders it.
    """

    path: str | None
    first_line: int | None
    last_line: int | None
    before: str
    after: str
    imports: tuple[str, ...]
    diff: str
    notes: tuple[str, ...]
    plain: tuple[str, ...]

    def apply(self, source: str) -> str:
        """*source* (the text of ``path``) with the declaration replaced."""
        if self.first_line is None or self.last_line is None:
            raise ArgumentError("the declaration was not found in the source; edit it by hand")
        lines = source.splitlines(keepends=True)
        found = "".join(lines[self.first_line - 1 : self.last_line])
        if found != self.before:
            raise ArgumentError(
                f"{self.path}: lines {self.first_line}-{self.last_line} are not the "
                "declaration any more; run contract again"
            )
        return "".join([*lines[: self.first_line - 1], self.after, *lines[self.last_line :]])


@dataclass(frozen=True)
class ContractResult:
    """What :func:`contract` wrote (``written``), or would write: the migration ``name`` in
    ``app_label`` at ``path``, its ``text`` and ``operations``; the ``code_change`` to apply in
    the same release; ``next_steps`` in order; the ``verify`` report it checked (None from
    :func:`plan`)."""

    label: str
    app_label: str
    name: str
    path: str
    text: str
    operations: tuple[Operation, ...]
    code_change: CodeChange
    next_steps: tuple[str, ...]
    written: bool = False
    verify: Any = None


def contract(
    transition: Transition, *, using: str = DEFAULT_DB_ALIAS, write: bool = True
) -> ContractResult:
    """Check that *transition* may lose its old columns, then write its contract migration
    (unless *write* is false) and return it with the code change.

    Refused (:class:`ContractRefused`) unless the flag says "new" (asked of waffle: a pin
    does not count), while migrations of the app are unapplied on *using*, when ``verify`` is
    not clean, and in the cases :func:`plan` refuses."""
    from flagschema.runbook.flip import PER_REQUEST, current_side

    label = transition.label
    # The flag's own state: a pin (reading(), a request's) does not count.
    side = current_side(transition)
    if side != "new":
        where = "decided per request" if side == PER_REQUEST else "on the old side"
        raise ContractRefused(
            f"{label}: reads are {where} (waffle {transition.flag_type} {transition.flag!r}); "
            "the contract drops the old column(s), so flip to new first (`manage.py flagschema "
            f"flip {label} --to new --reason 'reads new before the contract'`) and let it soak."
        )
    loader = _loader(using)
    result = plan(transition, loader=loader)
    unapplied = sorted(
        name
        for app, name in loader.graph.nodes
        if app == result.app_label and (app, name) not in loader.applied_migrations
    )
    if unapplied:
        raise ContractRefused(
            f"{label}: migrations of {result.app_label} are not applied on database "
            f"{using!r} ({', '.join(unapplied)}); run migrate, backfill and verify first."
        )
    from flagschema.runbook.verify import verify

    report = verify(transition, using=using)
    if not report.clean:
        pks = ", ".join(str(pk) for pk in list(report.sample_pks)[:5])
        raise ContractRefused(
            f"{label}: verify is not clean ({report.mismatched} mismatched, "
            f"{report.unfilled} unfilled row(s){'; e.g. pk ' + pks if pks else ''}); "
            f"backfill and fix them until `manage.py flagschema verify {label}` is clean, then "
            "contract."
        )
    if write:
        try:
            with open(result.path, "x", encoding="utf-8") as out:
                out.write(result.text)
        except FileExistsError:
            raise ContractRefused(
                f"{label}: {result.path} exists already; it is not overwritten."
            ) from None
    return replace(result, written=write, verify=report)


def plan(transition: Transition, *, loader: MigrationLoader | None = None) -> ContractResult:
    """The contract migration and code change of *transition*, from the migration files and
    the models' source alone (no database; nothing is written)."""
    label = transition.label
    model = transition.model
    meta = model._meta
    app_label, model_name = meta.app_label, str(meta.model_name)
    if loader is None:
        loader = _loader(None)
    leaves = loader.graph.leaf_nodes(app_label)
    if not leaves or app_label in loader.unmigrated_apps:
        raise ContractRefused(f"{label}: the app {app_label} has no migrations to contract.")
    conflicts = loader.detect_conflicts().get(app_label)
    if conflicts:
        raise ContractRefused(
            f"{label}: {app_label} has conflicting migrations ({', '.join(conflicts)}); run "
            "`manage.py makemigrations --merge` first."
        )
    written = contract_migration(transition, loader)
    if written:
        plain = "; ".join(code_change(transition).plain)
        raise ContractRefused(
            f"{label}: the contract migration {app_label}.{written} exists already; apply it "
            f"in the same release as its code change (the transition becomes `{plain}`)."
        )
    state = loader.project_state(leaves[0])
    model_state = state.models.get((app_label, model_name))
    if model_state is None:
        raise ContractRefused(
            f"{label}: no migration of {app_label} creates {meta.object_name}; run "
            "makemigrations first."
        )
    old_names, new_names = transition.old_names, transition.new_names
    gone = [n for n in old_names if n not in model_state.fields]
    if gone:
        plain = "; ".join(code_change(transition).plain)
        raise ContractRefused(
            f"{label}: the migrations of {app_label} already remove "
            f"{', '.join(map(repr, gone))}; declare the new field(s) plainly instead of the "
            f"transition (`{plain}`)."
        )
    missing = [n for n in new_names if n not in model_state.fields]
    if missing:
        raise ContractRefused(
            f"{label}: no migration of {app_label} adds {', '.join(map(repr, missing))}; run "
            "makemigrations (the expand), migrate, backfill and verify first."
        )
    referred = _meta_references(model_state, set(old_names))
    if referred:
        raise ContractRefused(
            f"{label}: {meta.object_name}'s Meta ({referred}) still refers to "
            f"{', '.join(map(repr, old_names))}; move it to the new field(s) in a migration of "
            "its own first."
        )
    pending = _pending_operations(loader, state, app_label, model_name)
    if pending:
        raise ContractRefused(
            f"{label}: makemigrations would change {meta.object_name} ({pending[0]}); make "
            "and apply that migration first, so that the contract migration holds the contract "
            "only."
        )

    after = state.clone()
    contracted = after.models[app_label, model_name]
    # Generated columns computed from an old column go with it, and come back computed from
    # the new one (a generated column's expression cannot be altered in place).
    rebuilt = _generated_rebuilt(transition, contracted)
    for name in (*rebuilt, *old_names):
        del contracted.fields[name]
    for field in transition.new_fields:
        contracted.fields[field.name] = copy.deepcopy(_template(field))
    detector = MigrationAutodetector(state, after, _ContractQuestioner())
    changes = detector.changes(
        graph=loader.graph,
        trim_to_apps={app_label},
        convert_apps={app_label},
        migration_name=_migration_name(transition),
    )
    (migration,) = changes[app_label]
    if rebuilt:
        _add_generated_back(migration, model_name, rebuilt)
    if _sync_triggers_installed(loader, leaves[0], transition):
        from flagschema.operations import RemoveSyncTriggers

        # First: a trigger naming a dropped column would fail every write (PostgreSQL and
        # SQLite refuse to drop it). Self-contained: migrating back past it installs them
        # again once the declaration is gone from the code.
        remove = RemoveSyncTriggers.for_transition(transition)
        cast(list[Operation], migration.operations).insert(0, remove)
    writer = MigrationWriter(migration)
    header, _, body = writer.as_string().partition("\n")
    columns = ", ".join(transition.old_columns)
    # `flagschema lint` reports a dropped column unless the migration accepts it.
    accepted = f"the contract of {label}, once reads were on the new side and verify was clean"
    body = body.replace(_CLASS_LINE, f"{_CLASS_LINE}    {ACCEPT_ATTRIBUTE} = {accepted!r}\n", 1)
    text = (
        f"{header}\n# flagschema contract of {label}: drops {columns}.\n# A flag flip cannot "
        "undo it; migrating backwards adds the column(s) back without their data.\n"
        f"{body}"
    )
    return ContractResult(
        label=label,
        app_label=app_label,
        name=migration.name,
        path=writer.path,
        text=text,
        operations=tuple(migration.operations),
        code_change=code_change(transition),
        next_steps=_next_steps(transition),
    )


def _generated_rebuilt(transition: Transition, model_state: ModelState) -> dict[str, Any]:
    """The generated fields (Django 5.0+) of *model_state* computed from an old field of
    *transition*: their names -> the same fields computed from the new field instead."""
    from flagschema.generated import generated_fields_naming, renamed

    names = generated_fields_naming(model_state, set(transition.old_names))
    if not names:
        return {}
    if transition.kind != "rename":
        raise ContractRefused(
            f"{transition.label}: the generated field(s) {', '.join(map(repr, names))} of "
            f"{transition.model._meta.object_name} compute from the old column(s), which the "
            "contract drops; change their expression to the new field(s) in a migration of "
            "its own (remove and add them again), then contract."
        )
    renames = {transition.old_names[0]: transition.new_names[0]}
    rebuilt = {}
    for name in names:
        field: Any = model_state.fields[name].clone()
        field.expression = renamed(field.expression, renames)
        rebuilt[name] = field
    return rebuilt


def _add_generated_back(migration: Any, model_name: str, rebuilt: dict[str, Any]) -> None:
    """Put the removal of the *rebuilt* generated fields first in *migration* (before the old
    column they compute from goes), and their addition, from the new column, last."""
    from django.db.migrations.operations import AddField, RemoveField

    operations = cast(list[Operation], migration.operations)
    removals = [
        op
        for op in operations
        if isinstance(op, RemoveField) and op.model_name_lower == model_name and op.name in rebuilt
    ]
    rest = [op for op in operations if op not in removals]
    additions = [AddField(model_name, name, field) for name, field in rebuilt.items()]
    migration.operations = [*removals, *rest, *additions]


def _loader(using: str | None) -> MigrationLoader:
    """The app's migrations as the files say now, and which *using* has applied."""
    importlib.invalidate_caches()  # a migration written since the last look
    connection = connections[using] if using is not None else None
    return MigrationLoader(connection, ignore_no_migrations=True)


def _sync_triggers_installed(
    loader: MigrationLoader, leaf: tuple[str, str], transition: Transition
) -> bool:
    """Whether the migrations up to *leaf* leave *transition*'s sync triggers installed (an
    ``InstallSyncTriggers`` not followed by a ``RemoveSyncTriggers``): the files say it for
    every database, where asking one database would not."""
    from flagschema.operations import InstallSyncTriggers, RemoveSyncTriggers

    app_label = transition.model._meta.app_label
    model_name = str(transition.model._meta.model_name)
    name = transition.label.rsplit(".", 1)[1]
    installed = False
    for key in loader.graph.forwards_plan(leaf):
        if key[0] != app_label:
            continue
        for operation in loader.graph.nodes[key].operations:
            if (
                isinstance(operation, (InstallSyncTriggers, RemoveSyncTriggers))
                and operation.model_name_lower == model_name
                and operation.transition_name == name
            ):
                installed = isinstance(operation, InstallSyncTriggers)
    return installed


def contract_migration(transition: Transition, loader: MigrationLoader) -> str | None:
    """The name of the migration of *loader* that contracts *transition*, if there is one."""
    app_label = transition.model._meta.app_label
    suffix = f"_{_migration_name(transition)}"
    found = sorted(n for app, n in loader.graph.nodes if app == app_label and n.endswith(suffix))
    return found[-1] if found else None


def _migration_name(transition: Transition) -> str:
    """``contract_<model>_<field>``, after the number: ``0003_contract_customer_full_name``."""
    return f"contract_{transition.model._meta.model_name}_{transition.label.rsplit('.', 1)[1]}"


class _ContractQuestioner(MigrationQuestioner):
    """makemigrations' answers, without asking: a new field that becomes NOT NULL needs no
    one-off default (verify found no row without a new value); nothing is a rename."""

    def ask_not_null_alteration(self, field_name: str, model_name: str) -> Any:
        return models.NOT_PROVIDED

    def ask_rename(self, *args: Any) -> bool:
        return False


def _template(field: models.Field) -> models.Field:
    """The new field as the user declared it (the field the code change declares)."""
    return getattr(field, "_flagschema_template", field)


def _meta_references(model_state: ModelState, names: set[str]) -> str:
    """Which of the model's Meta options name one of *names* (the old fields), or ''."""
    options = model_state.options
    for option in ("unique_together", "index_together"):
        for group in options.get(option) or ():
            if names & set(group):
                return option
    for index in options.get("indexes") or ():
        if names & {f.lstrip("-") for f in index.fields}:
            return f"index {index.name}"
    for constraint in options.get("constraints") or ():
        if names & set(getattr(constraint, "fields", ()) or ()):
            return f"constraint {constraint.name}"
    return ""


def _pending_operations(
    loader: MigrationLoader, state: ProjectState, app_label: str, model_name: str
) -> list[str]:
    """What makemigrations would write now for the model (before the contract)."""
    from django.apps import apps

    detector = MigrationAutodetector(state, ProjectState.from_apps(apps), _ContractQuestioner())
    changes = detector.changes(graph=loader.graph, trim_to_apps={app_label})
    return [
        op.describe()
        for migration in changes.get(app_label, [])
        for op in migration.operations
        if model_name in (getattr(op, "model_name_lower", None), getattr(op, "name_lower", None))
    ]


# --- the code change -------------------------------------------------------------------------


def code_change(transition: Transition) -> CodeChange:
    """The declaration of *transition* in its models file and what replaces it."""
    fields = transition.new_fields
    rendered: dict[str, tuple[str, set[str]]] = {
        f.name: MigrationWriter.serialize(_template(f)) for f in fields
    }
    notes = _notes(transition)
    plain = tuple(f"{f.name} = {rendered[f.name][0]}" for f in fields)
    found = _declaration(transition)
    if found is None:
        return CodeChange(
            path=None,
            first_line=None,
            last_line=None,
            before="",
            after="".join(f"{line}\n" for line in plain),
            imports=tuple(sorted(set().union(*(i for _, i in rendered.values())))),
            diff="",
            notes=notes,
            plain=plain,
        )
    path, source, node, expressions, indent = found
    lines = source.splitlines(keepends=True)
    imports: set[str] = set()
    after = []
    for f in fields:
        expression = expressions.get(f.name)
        if expression is None:
            expression, needed = rendered[f.name]
            imports |= needed
        after.append(f"{indent}{f.name} = {expression}\n")
    first, last = node.lineno, node.end_lineno or node.lineno
    before = "".join(lines[first - 1 : last])
    changed = [*lines[: first - 1], *"".join(after).splitlines(keepends=True), *lines[last:]]
    shown = display_path(path)
    diff = "".join(
        difflib.unified_diff(lines, changed, fromfile=f"a/{shown}", tofile=f"b/{shown}")
    )
    rest = "".join(changed)
    if re.search(r"^\s*import flagschema\s*$", rest, re.M) and not re.search(
        r"\bflagschema\.", rest
    ):
        notes = (*notes, f"{shown} no longer uses flagschema: remove `import flagschema`.")
    return CodeChange(
        path=path,
        first_line=first,
        last_line=last,
        before=before,
        after="".join(after),
        imports=tuple(sorted(imports)),
        diff=diff,
        notes=notes,
        plain=plain,
    )


def _declaration(
    transition: Transition,
) -> tuple[str, str, ast.stmt, dict[str, str], str] | None:
    """Where the transition is declared: the file, its text, the statement, the source of
    each new field's expression (re-indented for a class body) and the body's indentation."""
    attribute = transition.label.rsplit(".", 1)[1]
    for cls in transition.model.__mro__:
        if not (isinstance(cls, type) and issubclass(cls, models.Model)) or cls is models.Model:
            continue
        try:
            path = inspect.getsourcefile(cls)
            if path is None:
                continue
            with tokenize.open(path) as f:
                source = f.read()
            tree = ast.parse(source)
        except (OSError, TypeError, SyntaxError, UnicodeDecodeError):
            continue
        for klass in ast.walk(tree):
            if not isinstance(klass, ast.ClassDef) or klass.name != cls.__name__:
                continue
            for statement in klass.body:
                found = _field_expressions(transition, statement, attribute, source)
                if found is not None:
                    expressions, indent = found
                    return path, source, statement, expressions, indent
    return None


def _field_expressions(
    transition: Transition, statement: ast.stmt, attribute: str, source: str
) -> tuple[dict[str, str], str] | None:
    if not (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and statement.targets[0].id == attribute
        and isinstance(statement.value, ast.Call)
    ):
        return None
    lines = source.splitlines()
    first, last = statement.lineno, statement.end_lineno or statement.lineno
    indent = lines[first - 1][: statement.col_offset]
    after_end = lines[last - 1][statement.end_col_offset :].strip()
    if indent.strip() or (after_end and not after_end.startswith("#")):
        return None  # shares its lines with other code: the lines cannot simply be replaced
    call = statement.value
    nodes: dict[str, ast.expr] = {}
    if transition.kind in MULTI_KINDS:
        new = next((k.value for k in call.keywords if k.arg == "new"), None)
        if isinstance(new, ast.Dict):
            for key, value in zip(new.keys, new.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    nodes[key.value] = value
    else:
        given = call.args[0] if call.args else None
        given = given or next((k.value for k in call.keywords if k.arg == "field"), None)
        if given is not None:
            nodes[transition.new_names[0]] = given
    expressions = {}
    for name, node in nodes.items():
        text = _reindented(source, lines, node, indent)
        if text is not None:
            expressions[name] = text
    return expressions, indent


def _reindented(source: str, lines: list[str], node: ast.expr, indent: str) -> str | None:
    """The source of *node*, its continuation lines moved as its first line moves to the
    *indent* of a class body; None when that would change what it means."""
    text = ast.get_source_segment(source, node)
    if text is None:
        return None
    if "\n" in text:
        first = lines[node.lineno - 1]
        shift = len(indent) - (len(first) - len(first.lstrip()))
        head, *rest = text.split("\n")
        moved = [head]
        for line in rest:
            if shift < 0 and line[:-shift].strip():
                return None
            moved.append(" " * shift + line if shift >= 0 else line[-shift:])
        text = "\n".join(moved)
    try:
        same = ast.dump(ast.parse(text.strip(), mode="eval").body) == ast.dump(node)
    except SyntaxError:
        same = False
    return text if same else None


def display_path(path: str) -> str:
    """*path* relative to the working directory when it is below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _notes(transition: Transition) -> tuple[str, ...]:
    model = transition.model._meta.model_name
    news = ", ".join(f"`{n}`" for n in transition.new_names)
    olds = ", ".join(f"`{n}`" for n in transition.old_names)
    if transition.kind == "rename":
        old = transition.old_names[0]
        notes = [
            f"The old name `{old}` disappears with the RenamedField: code that still says "
            f"`{model}.{old}`, `filter({old}=...)`, `values({old!r})`, `order_by({old!r})` "
            f"or `create({old}=...)` must say {news}."
        ]
    else:
        several = len(transition.old_names) > 1
        notes = [
            f"The old field{'s' if several else ''} {olds} disappear{'' if several else 's'} "
            f"with the transition: code that still reads or sets "
            f"`{model}.{transition.old_names[0]}` or filters on {olds} must use {news}."
        ]
    transforms = [
        t.__name__
        for t in (transition.forward, transition.backward)
        # Functions of the user's own (not a lambda, not int or str).
        if t is not None
        and getattr(t, "__module__", "builtins") != "builtins"
        and getattr(t, "__name__", "<lambda>") != "<lambda>"
    ]
    if transforms:
        notes.append(
            f"The model no longer uses {' and '.join(transforms)}; delete them if nothing "
            "else does."
        )
    notes.append(
        f"The label {transition.label} is gone: remove `flagschema.reading({transition.label!r}, "
        f"...)` from tests and scripts, and the waffle {transition.flag_type} {transition.flag!r} "
        "after the release."
    )
    return tuple(notes)


def _next_steps(transition: Transition) -> tuple[str, ...]:
    table = transition.model._meta.db_table
    columns = ", ".join(transition.old_columns)
    return (
        "Apply the code change and add the migration to the same release: migrate drops "
        f"{columns} from {table}, and the new code neither reads nor writes it.",
        "Processes still running the previous code read and write "
        f"{columns}: they fail on {table} from the moment the migration runs until they are "
        "replaced, so migrate and restart together (or at a quiet moment).",
        "After that release, rolling back the code needs the old column(s) restored (from a "
        "backup, or added back and refilled from the new ones): this is the one step of a "
        "transition that a flag flip cannot undo.",
    )
