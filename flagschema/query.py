"""The queryset pieces that keep both columns written where Django writes only named fields.

``QuerySet.update()`` and ``bulk_update()`` (and ``bulk_create(update_conflicts=True)``) write
only the fields they are given. On a model with transitions every manager — the default one,
custom ones built from ``Manager``/``QuerySet``, the base manager and the related managers built
from them — hands out querysets of a subclass that adds each companion field to those writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db import DataError, connections, models
from django.db.models import F, Value
from django.db.models.constants import LOOKUP_SEP
from django.db.models.manager import BaseManager
from django.db.models.query import ModelIterable

from flagschema.assignments import (
    check_update_values,
    distinct_fields,
    ordered_assignments,
    update_out_of_range,
)
from flagschema.exceptions import TransitionError
from flagschema.fields import is_companion_field, transition_of, with_transition_names
from flagschema.flags import reading
from flagschema.shadow import flush as shadow_flush
from flagschema.shadow import shadow_annotations
from flagschema.transitions import Side, Transition


def _companion_updates(
    model: type[models.Model], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[Transition, Side]]]:
    """``values`` plus, for the fields of each transition named in it, the other shape.

    Plain values are converted in Python. SQL expressions go to the other shape through the
    transition's SQL transform; they read the read side, so that side is pinned for the
    statement and its columns are assigned last: MySQL and MariaDB evaluate ``SET``
    assignments left to right, each seeing the ones before it.
    """
    meta = model._meta
    out: dict[str, Any] = {}
    given: dict[Transition, dict[str, tuple[models.Field, Any]]] = {}
    for name, value in values.items():
        try:
            field = meta.get_field(name)
        except FieldDoesNotExist:
            field = None  # Django reports unknown names itself
        transition = transition_of(field)
        if transition is None:
            out[name] = value
        else:
            given.setdefault(transition, {})[name] = (cast(models.Field, field), value)
    pins: list[tuple[Transition, Side]] = []
    for transition, named in given.items():
        writes, pinned = _transition_updates(transition, named)
        out.update(writes)
        if pinned is not None:
            pins.append((transition, pinned))
    return out, pins


def _transition_updates(
    transition: Transition, named: dict[str, tuple[models.Field, Any]]
) -> tuple[dict[str, Any], Side | None]:
    """The assignments of one transition's columns for ``update(**named)``, and the read side
    to pin while it runs (None when no expression reads a side)."""
    fields = {id(field) for field, _ in named.values()}
    new_given = [f for f in transition.new_fields if id(f) in fields]
    old_given = [f for f in transition.old_fields if id(f) in fields]
    if new_given and old_given:
        # Both shapes given: the caller writes both, as it says.
        return {name: value for name, (_, value) in named.items()}, None
    by_field = {id(field): value for field, value in named.values()}
    if new_given:
        sources, targets, which = transition.new_fields, transition.old_fields, "backward"
    else:
        sources, targets, which = transition.old_fields, transition.new_fields, "forward"
    missing = [f.name for f in sources if id(f) not in by_field]
    if missing:
        raise TransitionError(
            f"QuerySet.update() sets {', '.join(n for n in named)} of {transition.label} "
            f"without {', '.join(missing)}, and the other shape is computed from all of them, "
            "so nothing was updated. Set them together in one update(), or save() each "
            "object."
        )
    source_values = [by_field[id(f)] for f in sources]
    source_writes = {_write_name(f): v for f, v in zip(sources, source_values, strict=True)}
    if not any(hasattr(v, "resolve_expression") for v in source_values):
        try:
            converted = (
                transition.to_old(tuple(source_values))
                if which == "backward"
                else transition.to_new(tuple(source_values))
            )
        except Exception as exc:
            raise TransitionError(
                f"QuerySet.update() on {transition.label}: {which}"
                f"({', '.join(repr(v) for v in source_values)}) raised "
                f"{type(exc).__name__}: {exc}; nothing was updated."
            ) from exc
        return {
            **source_writes,
            **{_write_name(f): v for f, v in zip(targets, converted, strict=True)},
        }, None
    if transition.kind == "rename":
        # Both columns hold the same value, so they take the same SQL expression.
        target_writes = {_write_name(transition.companion): source_values[0]}
    else:
        target_writes = {
            _write_name(target): _sql_transform(transition, which, target, sources, source_values)
            for target in targets
        }
    if which == "backward":
        new_writes, old_writes = source_writes, target_writes
    else:
        new_writes, old_writes = target_writes, source_writes
    side = transition.read_side()
    # The expressions read the read side's columns: assign those last.
    if side == "new":
        return {**old_writes, **new_writes}, side
    return {**new_writes, **old_writes}, side


def _write_name(field: models.Field) -> str:
    # Old fields are reached by their private attribute name: the old name is a property.
    return field.attname


def _sql_transform(
    transition: Transition,
    which: str,
    target: models.Field,
    sources: tuple[models.Field, ...],
    values: list[Any],
) -> Any:
    """The transition's SQL transform computing *target*, with each reference to a source
    field replaced by the value given for it."""
    template = (
        transition.backward_sql_for(target)
        if which == "backward"
        else transition.forward_sql_for(target)
    )
    if template is None:
        sql_name = f"{which}_sql"
        if len(transition.new_fields) == 1 and len(transition.old_fields) == 1:
            of = "new" if which == "backward" else "old"
            add = f"{sql_name}=<a Django expression of the {of} field> to the ConvertedField"
        else:
            add = f"{sql_name}={{{target.name!r}: <a Django expression>}} to the Transition"
        raise TransitionError(
            f"QuerySet.update() gives {transition.label} an SQL expression "
            f"({', '.join(repr(v) for v in values)}), and the transition has no {sql_name} to "
            f"compute {target.name!r} from it, so nothing was updated. Add {add}, or update "
            "with plain values (converted in Python)."
        )
    given = {
        field.name: value if hasattr(value, "resolve_expression") else Value(value, field)
        for field, value in zip(sources, values, strict=True)
    }
    return _substitute(template, given)


def _substitute(expression: Any, given: dict[str, Any]) -> Any:
    """*expression* with each ``F(name)`` of *given* replaced by its value, all at once: a
    value is never searched again (it may name another source, or the source it replaces),
    and the template is copied, never changed (its sub-expressions may be shared objects)."""
    if isinstance(expression, F):
        return given.get(cast(Any, expression).name, expression)
    if not hasattr(expression, "get_source_expressions"):
        return expression
    sources = expression.get_source_expressions()
    if not sources:
        return expression
    expression = expression.copy()
    expression.set_source_expressions(
        [_substitute(s, given) if s is not None else None for s in sources]
    )
    return expression


def logical_path(model: type[models.Model], path: str) -> str:
    """*path* (``"name"``, ``"customer__name"``) with each old name replaced by the logical
    field's name, for the APIs that match field names without ``get_field()``."""
    parts = path.split(LOOKUP_SEP)
    meta: Any = model._meta
    for i, part in enumerate(parts):
        if meta is None:
            break
        alias = getattr(meta, "_flagschema_aliases", {}).get(part)
        if alias is not None:
            parts[i] = alias.name
        try:
            field = meta.get_field(parts[i])
        except FieldDoesNotExist:
            break
        related = field.related_model if field.is_relation else None
        meta = cast(Any, related)._meta if isinstance(related, type) else None
    return LOOKUP_SEP.join(parts)


def hidden_attnames(model: type[models.Model] | None) -> frozenset[str]:
    """The companion attribute names of *model*: written, never read by the model."""
    if model is None:
        return frozenset()
    return getattr(model._meta, "_flagschema_hidden", frozenset())


class DualWriteQuerySetMixin:
    """Adds companion columns to the writes that name fields explicitly; ``values()`` without
    names lists the model's fields without them."""

    model: type[models.Model]
    _query: Any
    _for_write: bool
    db: str
    _result_cache: list[Any] | None
    _iterable_class: type

    def defer(self, *fields: Any) -> Any:
        if fields == (None,):
            return super().defer(None)  # type: ignore[misc]
        return super().defer(*(logical_path(self.model, f) for f in fields))  # type: ignore[misc]

    def only(self, *fields: Any) -> Any:
        return super().only(*(logical_path(self.model, f) for f in fields))  # type: ignore[misc]

    def _values(self, *fields: Any, **expressions: Any) -> Any:
        if not fields and not expressions:
            hidden = hidden_attnames(self.model)
            if hidden:
                query = self._query
                fields = (
                    *(
                        f.attname
                        for f in self.model._meta.concrete_fields
                        if f.attname not in hidden
                    ),
                    *query.extra_select,
                    *query.annotation_select,
                )
        return super()._values(*fields, **expressions)  # type: ignore[misc]

    def _fetch_all(self) -> None:
        if self._result_cache is None and self._iterable_class is ModelIterable:
            query = self._query
            if not (query.distinct or query.combinator or query.group_by is not None):
                extra = shadow_annotations(self.model)
                if extra:
                    # Shadow mode, sampled: the same query also selects the new columns; the
                    # instances compare them with what they read (flagschema.shadow).
                    clone = self._chain()  # type: ignore[attr-defined]
                    for name, column in extra.items():
                        clone.query.add_annotation(column, name, select=True)
                    try:
                        self._result_cache = list(ModelIterable(clone))
                    finally:
                        shadow_flush()
        super()._fetch_all()  # type: ignore[misc]

    def update(self, **kwargs: Any) -> int:
        values, pins = _companion_updates(self.model, kwargs)
        with ExitStack() as stack:
            for transition, side in pins:
                stack.enter_context(reading(transition, side))
            values, sides = ordered_assignments(self.model, values)
            for transition, side in sides.items():
                # The order assumed these sides: the statement compiles with them.
                stack.enter_context(reading(transition, side))
            self._for_write = True  # as update() does: self.db is the database written
            check_update_values(self.model, values, connections[self.db])
            try:
                return super().update(**values)  # type: ignore[misc]
            except DataError as exc:
                error = update_out_of_range(self.model, values, exc, connections[self.db])
                if error is None:
                    raise
                raise error from exc

    def bulk_update(
        self, objs: Iterable[models.Model], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs = tuple(objs)
        fields = list(fields)
        expanded = with_transition_names(self.model, fields)
        if len(expanded) != len(fields):
            for name in expanded:
                field = self.model._meta.get_field(name)
                if not is_companion_field(field):
                    continue
                for obj in objs:
                    cast(Any, field).pre_save(obj, add=False)
        return super().bulk_update(objs, expanded, batch_size=batch_size)  # type: ignore[misc]

    def __reduce__(self) -> Any:
        # The class shares its name with the user's queryset class, so pickle could not find it
        # by name; rebuild it from the user's class instead.
        base = type(self).__bases__[-1]
        return _unpickle_queryset, (base,), self.__getstate__()

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any) -> Any:
        update_fields = kwargs.get("update_fields")
        if update_fields:
            # Either name of a field writes both shapes, each column named once (PostgreSQL
            # refuses two assignments to one column).
            kwargs["update_fields"] = distinct_fields(
                self.model, with_transition_names(self.model, update_fields)
            )
        return super().bulk_create(objs, *args, **kwargs)  # type: ignore[misc]


def _unpickle_queryset(base: type) -> Any:
    return object.__new__(dual_write_queryset_class(base))


_queryset_classes: dict[type, type] = {}
_manager_classes: dict[type, type] = {}


def dual_write_queryset_class(queryset_class: type) -> type:
    """The subclass of *queryset_class* with :class:`DualWriteQuerySetMixin` (cached)."""
    if issubclass(queryset_class, DualWriteQuerySetMixin):
        return queryset_class
    if queryset_class not in _queryset_classes:
        _queryset_classes[queryset_class] = type(
            queryset_class.__name__,
            (DualWriteQuerySetMixin, queryset_class),
            # Same module and name, so that Manager.deconstruct() and pickling find the class
            # the user wrote.
            {"__module__": queryset_class.__module__, "__qualname__": queryset_class.__qualname__},
        )
    return _queryset_classes[queryset_class]


def dual_write_manager(manager: BaseManager[Any]) -> BaseManager[Any]:
    """Make *manager* (an instance bound to one model) hand out dual-write querysets."""
    manager_class = type(manager)
    if getattr(manager_class, "_flagschema_dual_write", False):
        return manager
    if manager_class not in _manager_classes:
        _manager_classes[manager_class] = type(
            manager_class.__name__,
            (manager_class,),
            {
                "_queryset_class": dual_write_queryset_class(
                    getattr(manager_class, "_queryset_class")  # noqa: B009 - private in stubs
                ),
                "_flagschema_dual_write": True,
                "__module__": manager_class.__module__,
                "__qualname__": manager_class.__qualname__,
            },
        )
    manager.__class__ = _manager_classes[manager_class]
    return manager
