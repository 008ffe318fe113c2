"""Migration operations: the sync triggers of a transition.

Add :class:`InstallSyncTriggers` to the expand migration, after the ``AddField`` of the new
column(s), before the previous release of the application could write again (a code rollback
brings back code that writes only the old column)::

    from django.db import migrations

    import flagschema.operations


    class Migration(migrations.Migration):
        dependencies = [("shop", "0001_initial")]

        operations = [
            migrations.AddField(
                model_name="order",
                name="reference",
                field=models.PositiveIntegerField(null=True, unique=True),
            ),
            flagschema.operations.InstallSyncTriggers("order", "reference"),
        ]

Migrating backwards removes them. ``flagschema contract`` puts a :class:`RemoveSyncTriggers`
before the ``RemoveField`` of the old column(s) when a migration installed them.

Migrations are history: they replay on every new database long after the transition is
contracted and gone from the code. So an operation may carry what it installs (the
*self-contained* form, which :meth:`InstallSyncTriggers.for_transition` writes and the
contract uses)::

    flagschema.operations.InstallSyncTriggers(
        "product", "price",
        old=["price_cents"], new=["price"],
        forward_sql={"price": F("price_cents") / 100.0},
        backward_sql={"price_cents": Cast(Round(F("price") * 100), models.IntegerField())},
    )

``old`` and ``new`` name the fields as the migrations have them at that point, the
expressions are compiled when the migration runs, for the database at hand, against that
historical model (no expression: a rename, which copies). The two-argument form reads the
declaration instead; when the transition is no longer declared it replays as nothing if a later
migration holds the ``RemoveSyncTriggers`` of the same transition (the contract's: the triggers
would be dropped again a few migrations on), and stops ``migrate`` with one line otherwise.
See docs/migration-history.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.db import models
from django.db.migrations.operations.base import Operation

from flagschema.exceptions import TransitionError

if TYPE_CHECKING:
    from flagschema.transitions import Transition

__all__ = ["InstallSyncTriggers", "RemoveSyncTriggers"]


class _SyncTriggersOperation(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(
        self,
        model_name: str,
        name: str,
        # Not keyword-only: Django 4.2's migration writer writes only the named parameters.
        old: Sequence[str] | None = None,
        new: Sequence[str] | None = None,
        forward_sql: Mapping[str, Any] | None = None,
        backward_sql: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model_name, str) or not model_name:
            raise TransitionError(
                f"{type(self).__name__}(model_name=..., name=...) takes the model's name, "
                f"e.g. 'order'; got {model_name!r}."
            )
        if not isinstance(name, str) or not name:
            raise TransitionError(
                f"{type(self).__name__}({model_name!r}, name=...) takes the transition's "
                f"field name or its label ('reference' or 'shop.Order.reference'); got {name!r}."
            )
        self.model_name = model_name
        self.name = name
        carried = (old, new, forward_sql, backward_sql)
        if any(part is not None for part in carried) and (not old or not new):
            raise TransitionError(
                f"{type(self).__name__}({model_name!r}, {name!r}, ...): the self-contained "
                "form names the old and the new fields (old=[...], new=[...]), as the "
                "migrations have them at that point."
            )
        self.old = list(old) if old else None
        self.new = list(new) if new else None
        self.forward_sql = dict(forward_sql or {})
        self.backward_sql = dict(backward_sql or {})

    @classmethod
    def for_transition(cls, transition: Transition) -> _SyncTriggersOperation:
        """The self-contained operation of *transition*: its fields and SQL expressions as
        arguments, so that it replays once the declaration is gone.

        >>> InstallSyncTriggers.for_transition(registry["convert.Product.price"])

        A conversion, split or merge without ``forward_sql`` for every new field and
        ``backward_sql`` for every old one has no triggers: its operation is the two-argument
        form (carried without them, it would read as a rename, which copies).
        """
        meta = transition.model._meta
        complete = transition.kind == "rename" or (
            all(transition.forward_sql_for(f) is not None for f in transition.new_fields)
            and all(transition.backward_sql_for(f) is not None for f in transition.old_fields)
        )
        if not complete:
            return cls(str(meta.model_name), transition.label.rsplit(".", 1)[-1])
        return cls(
            str(meta.model_name),
            transition.label.rsplit(".", 1)[-1],
            old=list(transition.old_names),
            new=list(transition.new_names),
            forward_sql={
                f.name: transition.forward_sql_for(f)
                for f in transition.new_fields
                if transition.forward_sql_for(f) is not None
            },
            backward_sql={
                f.name: transition.backward_sql_for(f)
                for f in transition.old_fields
                if transition.backward_sql_for(f) is not None
            },
        )

    @property
    def self_contained(self) -> bool:
        return self.old is not None

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    @property
    def transition_name(self) -> str:
        """The last part of the transition's label: the field (or Transition) name."""
        return self.name.rsplit(".", 1)[-1]

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name, "name": self.name}
        if self.self_contained:
            kwargs.update(old=self.old, new=self.new)
            if self.forward_sql:
                kwargs["forward_sql"] = self.forward_sql
            if self.backward_sql:
                kwargs["backward_sql"] = self.backward_sql
        return type(self).__qualname__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        # Triggers are no part of Django's model state.
        pass

    def references_model(self, name: str, app_label: str) -> bool:
        return name.lower() == self.model_name_lower

    # --- the two directions --------------------------------------------------------------------
    def _install(
        self, app_label: str, schema_editor: Any, state: Any, *, required: bool = True
    ) -> None:
        from flagschema.transitions import registry
        from flagschema.triggers import create_statements

        model = state.apps.get_model(app_label, self.model_name)
        connection = schema_editor.connection
        if not self.allow_migrate_model(connection.alias, model):
            return
        meta = model._meta
        label = f"{app_label}.{meta.object_name}.{self.transition_name}"
        if "." in self.name and self.name.lower() != label.lower():
            raise TransitionError(
                f"{type(self).__name__}({self.model_name!r}, {self.name!r}): the label names "
                f"another model than {app_label}.{meta.object_name}; give the field name, "
                f"{self.transition_name!r}."
            )
        if self.self_contained:
            carried = self._carried(label, model)
            for sql in create_statements(
                cast("Transition", carried), connection, table=meta.db_table
            ):
                schema_editor.execute(sql, params=None)
            return
        transition = registry.get(label)
        if transition is None and required and self._removed_later(app_label, connection):
            # Replaying history on a new database after the contract: a later migration
            # (the contract's) removes these triggers again, and the columns with them.
            return
        if transition is None and not required:
            # Migrating back past a contract with the contracted code: nothing declares the
            # triggers any more. Stopping here would leave the migration half undone.
            warnings.warn(
                f"{type(self).__name__}: the sync triggers of {label} were not installed "
                "again: the transition is not declared. Declare it again and install them "
                "with a migration holding InstallSyncTriggers.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        if transition is None:
            raise TransitionError(
                f"{type(self).__name__}({self.model_name!r}, {self.name!r}): no transition "
                f"{label} is declared and no later migration removes its triggers; declare "
                "it again, or write the operation in its self-contained form "
                "(InstallSyncTriggers.for_transition(transition) builds it; see "
                "docs/migration-history.md)."
            )
        # The columns as the migrations have them at this point.
        columns = {f.column for f in meta.concrete_fields}
        missing = [
            c for c in (*transition.old_columns, *transition.new_columns) if c not in columns
        ]
        if missing:
            raise TransitionError(
                f"{type(self).__name__}: {meta.db_table} has no column "
                f"{', '.join(map(repr, missing))} at this point of the migrations of "
                f"{app_label}; put the operation after the AddField of the new field(s) "
                f"({', '.join(transition.new_names)})."
            )
        for sql in create_statements(transition, connection, table=meta.db_table):
            schema_editor.execute(sql, params=None)

    def _carried(self, label: str, model: Any) -> _CarriedTransition:
        """The transition as this operation carries it, over the historical *model*."""
        meta = model._meta
        fields = {f.name: f for f in meta.concrete_fields}
        names = [*(self.old or ()), *(self.new or ())]
        missing = [n for n in names if n not in fields]
        if missing:
            raise TransitionError(
                f"{type(self).__name__}({self.model_name!r}, {self.name!r}): {meta.db_table} "
                f"has no field {', '.join(map(repr, missing))} at this point of the "
                "migrations; put the operation after the AddField of the new field(s)."
            )
        rename = not self.forward_sql and not self.backward_sql
        if rename and (len(self.old or ()) != 1 or len(self.new or ()) != 1):
            raise TransitionError(
                f"{type(self).__name__}({self.model_name!r}, {self.name!r}): a split or merge "
                "needs forward_sql for every new field and backward_sql for every old one."
            )
        return _CarriedTransition(
            label=label,
            model=model,
            kind="rename" if rename else "conversion",
            old_fields=tuple(fields[n] for n in self.old or ()),
            new_fields=tuple(fields[n] for n in self.new or ()),
            forward=self.forward_sql,
            backward=self.backward_sql,
        )

    def _undoes(self, operation: Any) -> bool:
        return (
            isinstance(operation, RemoveSyncTriggers)
            and operation.model_name_lower == self.model_name_lower
            and operation.transition_name == self.transition_name
        )

    def _removed_later(self, app_label: str, connection: Any) -> bool:
        """Whether a migration of *app_label* after the one holding this operation (or later
        in the same one, as in a squashed migration) removes the same triggers."""
        from django.db.migrations.loader import MigrationLoader

        loader = MigrationLoader(connection, ignore_no_migrations=True)
        graph = loader.graph
        for key in graph.nodes:
            if key[0] != app_label:
                continue
            operations = graph.nodes[key].operations
            for i, operation in enumerate(operations):
                if operation is not self:
                    continue
                later = list(operations[i + 1 :])
                for child in graph.backwards_plan(key):  # those that depend on it
                    if child != key and child[0] == app_label:
                        later.extend(graph.nodes[child].operations)
                return any(self._undoes(o) for o in later)
        # Not a migration of the graph (applied by hand, or a replaced migration): any
        # migration of the app that removes them.
        return any(
            self._undoes(o)
            for (app, _), migration in loader.disk_migrations.items()
            if app == app_label
            for o in migration.operations
        )

    def _drop(self, app_label: str, schema_editor: Any, state: Any) -> None:
        from flagschema.triggers import drop_statements

        model = state.apps.get_model(app_label, self.model_name)
        connection = schema_editor.connection
        if not self.allow_migrate_model(connection.alias, model):
            return
        for sql in drop_statements(connection, model._meta.db_table, self.transition_name):
            schema_editor.execute(sql, params=None)


@dataclass(frozen=True)
class _CarriedTransition:
    """What :func:`flagschema.triggers.create_statements` reads of a transition, taken from
    a self-contained operation and the historical model of the migration state."""

    label: str
    model: Any
    kind: str
    old_fields: tuple[models.Field, ...]
    new_fields: tuple[models.Field, ...]
    forward: dict[str, Any] = field(default_factory=dict)
    backward: dict[str, Any] = field(default_factory=dict)

    def forward_sql_for(self, new_field: models.Field) -> Any:
        return self.forward.get(new_field.name)

    def backward_sql_for(self, old_field: models.Field) -> Any:
        return self.backward.get(old_field.name)


class InstallSyncTriggers(_SyncTriggersOperation):
    """Install the database triggers that keep the old and new columns of a transition equal
    for writes that bypass the ORM; migrating backwards removes them.

    >>> flagschema.operations.InstallSyncTriggers("order", "reference")

    *model_name* is the model's name; *name* the transition's field name (the name of a
    ``RenamedField`` or ``ConvertedField``, or of a ``Transition`` attribute), or its label.
    A conversion, split or merge needs ``forward_sql`` for every new field and
    ``backward_sql`` for every old one; without them migrate stops with a
    :class:`~flagschema.TransitionError`. See :mod:`flagschema.triggers`.
    """

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._install(app_label, schema_editor, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._drop(app_label, schema_editor, from_state)

    def describe(self) -> str:
        return f"Install the sync triggers of {self.transition_name} on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"sync_triggers_{self.model_name_lower}_{self.transition_name.lower()}"


class RemoveSyncTriggers(_SyncTriggersOperation):
    """Remove the sync triggers :class:`InstallSyncTriggers` installed; migrating backwards
    installs them again when the transition is declared (with a ``RuntimeWarning`` instead
    when it is not: after a contract the code no longer declares it).

    ``flagschema contract`` writes it before the ``RemoveField`` of the old column(s): a
    trigger still reading a dropped column would fail every write (and SQLite and PostgreSQL
    refuse to drop a column a trigger names).
    """

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._drop(app_label, schema_editor, from_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._install(app_label, schema_editor, to_state, required=False)

    def describe(self) -> str:
        return f"Remove the sync triggers of {self.transition_name} from {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"remove_sync_triggers_{self.model_name_lower}_{self.transition_name.lower()}"
