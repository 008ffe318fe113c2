"""The queryset pieces that keep both columns written where Django writes only named fields.

``QuerySet.update()`` and ``bulk_update()`` (and ``bulk_create(update_conflicts=True)``) write
only the fields they are given. On a model with transitions every manager — the default one,
custom ones built from ``Manager``/``QuerySet``, the base manager and the related managers built
from them — hands out querysets of a subclass that adds each companion field to those writes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import F
from django.db.models.constants import LOOKUP_SEP
from django.db.models.manager import BaseManager

from flagschema.exceptions import TransitionError
from flagschema.fields import companion_of
from flagschema.flags import reading
from flagschema.transitions import Side, Transition


def _companion_updates(
    model: type[models.Model], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[Transition, Side]]]:
    """``values`` plus, for each logical field named in it, its companion's value.

    An SQL expression is given to both columns. It reads the read side, so that side is pinned
    for the statement and its column is assigned last: MySQL and MariaDB evaluate ``SET``
    assignments left to right, each seeing the ones before it.
    """
    meta = model._meta
    out: dict[str, Any] = {}
    pins: list[tuple[Transition, Side]] = []
    for name, value in values.items():
        try:
            field = meta.get_field(name)
        except FieldDoesNotExist:
            field = None  # Django reports unknown names itself
        companion = companion_of(field)
        if companion is None or companion.attname in values:
            out[name] = value
            continue
        if not hasattr(value, "resolve_expression"):
            out[name] = value
            out[companion.attname] = companion.value_from_logical(value)  # type: ignore[attr-defined]
            continue
        transition = companion._flagschema_transition  # type: ignore[attr-defined]
        side = transition.read_side()
        pins.append((transition, side))
        # A rename stores the same value in both columns, so the same SQL expression does; a
        # conversion gives the old column backward_sql applied to the expression.
        other = value if transition.kind != "convert" else _backward_sql(transition, value)
        if side == "new":  # the logical field's column is the new one: assign it last
            out[companion.attname] = other
            out[name] = value
        else:
            out[name] = value
            out[companion.attname] = other
    return out, pins


def _backward_sql(transition: Transition, value: Any) -> Any:
    """``backward_sql`` with each reference to the new field replaced by *value*."""
    if transition.backward_sql is None:
        raise TransitionError(
            f"QuerySet.update() gives {transition.label} an SQL expression ({value!r}), and "
            "the transition has no backward_sql to compute the old column from it, so "
            "nothing was updated. Add backward_sql=<a Django expression of the new field> "
            "to the ConvertedField, or update with a plain value (converted in Python)."
        )
    return _substitute(copy.deepcopy(transition.backward_sql), transition.field.name, value)


def _substitute(expression: Any, name: str, value: Any) -> Any:
    if isinstance(expression, F) and getattr(expression, "name", None) == name:
        return value
    if not hasattr(expression, "get_source_expressions"):
        return expression
    sources = expression.get_source_expressions()
    if sources:
        expression.set_source_expressions([_substitute(s, name, value) for s in sources])
    return expression


def _with_companions(model: type[models.Model], names: Iterable[str]) -> list[str]:
    names = list(names)
    for name in list(names):
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        companion = companion_of(field)
        if companion is not None and companion.attname not in names:
            names.append(companion.attname)
    return names


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

    def update(self, **kwargs: Any) -> int:
        values, pins = _companion_updates(self.model, kwargs)
        with ExitStack() as stack:
            for transition, side in pins:
                stack.enter_context(reading(transition, side))
            return super().update(**values)  # type: ignore[misc]

    def bulk_update(
        self, objs: Iterable[models.Model], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        objs = tuple(objs)
        fields = list(fields)
        expanded = _with_companions(self.model, fields)
        if len(expanded) != len(fields):
            for name in fields:
                field = self.model._meta.get_field(name)
                companion = companion_of(field)
                if companion is None:
                    continue
                for obj in objs:
                    companion.pre_save(obj, add=False)
        return super().bulk_update(objs, expanded, batch_size=batch_size)  # type: ignore[misc]

    def __reduce__(self) -> Any:
        # The class shares its name with the user's queryset class, so pickle could not find it
        # by name; rebuild it from the user's class instead.
        base = type(self).__bases__[-1]
        return _unpickle_queryset, (base,), self.__getstate__()

    def bulk_create(self, objs: Iterable[models.Model], *args: Any, **kwargs: Any) -> Any:
        update_fields = kwargs.get("update_fields")
        if update_fields:
            kwargs["update_fields"] = _with_companions(self.model, update_fields)
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
