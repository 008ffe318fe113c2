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
"""

from __future__ import annotations

import warnings
from typing import Any

from django.db.migrations.operations.base import Operation

from flagschema.exceptions import TransitionError

__all__ = ["InstallSyncTriggers", "RemoveSyncTriggers"]


class _SyncTriggersOperation(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str, name: str) -> None:
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

    @property
    def model_name_lower(self) -> str:
        return self.model_name.lower()

    @property
    def transition_name(self) -> str:
        """The last part of the transition's label: the field (or Transition) name."""
        return self.name.rsplit(".", 1)[-1]

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return type(self).__qualname__, [], {"model_name": self.model_name, "name": self.name}

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
        transition = registry.get(label)
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
                f"{type(self).__name__}: no transition {label} is declared, and its triggers "
                "are written from the declaration (its columns, forward_sql and backward_sql). "
                "Declare it (RenamedField, ConvertedField or Transition) in the code that "
                "migrates, or remove the operation."
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

    def _drop(self, app_label: str, schema_editor: Any, state: Any) -> None:
        from flagschema.triggers import drop_statements

        model = state.apps.get_model(app_label, self.model_name)
        connection = schema_editor.connection
        if not self.allow_migrate_model(connection.alias, model):
            return
        for sql in drop_statements(connection, model._meta.db_table, self.transition_name):
            schema_editor.execute(sql, params=None)


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
