"""RenamedField: one logical field over two physical columns, read from the flag's side.

How it works (checked against Django 4.2-5.2, pinned by tests/test_internals.py):

* The logical field (the new name) is an instance of the user's own field class with a mixin, so
  lookups, forms, admin and serializers treat it as that class. Its ``column`` is the new column,
  for writes.
* A hidden *companion* field, named like the old field, keeps the old column. It is not editable
  nor serialized, and its attribute name is private. Its ``pre_save`` derives its value from the
  logical value, so every INSERT and model UPDATE writes both columns.
* Reads go through ``Field.get_col``: both fields return a ``_SideCol`` that chooses the column
  when SQL is compiled, from the transition's read side. The logical field reads the read side,
  the companion the other side, so both shapes stay selected.
* The model's ``_meta`` answers ``get_field(old_name)`` with the logical field, so ``name`` keeps
  working in filters, ``values()``, ``order_by()`` and ``create()``; managers get a queryset that
  adds the companion to ``update()`` and ``bulk_update()`` (see :mod:`flagschema.query`).
* For migrations both fields deconstruct as plain fields: the old one exactly as it was, the new
  one nullable. ``makemigrations`` therefore sees one ``AddField``.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps as global_apps
from django.core import checks
from django.db import models
from django.db.models.expressions import Col
from django.db.models.fields import _load_field  # type: ignore[attr-defined]
from django.db.models.functions import Cast
from django.db.models.options import Options
from django.db.models.signals import class_prepared
from django.utils.functional import cached_property

from flagschema.exceptions import TransitionError
from flagschema.flags import (
    note_raw_old_use,
    note_select,
    read_side,
    selected_raw_old,
    start_compile,
)
from flagschema.transitions import Side, Transition, registry

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

__all__ = ["ConvertedField", "RenamedField"]


def _compiled_side(compiler: SQLCompiler, transition: Transition) -> Side:
    """The read side of *transition* for the query *compiler* compiles, resolved once per
    compiled query (the statement snapshot keeps its subqueries on the same side)."""
    sides: dict[str, Side] | None = getattr(compiler, "_flagschema_sides", None)
    if sides is None:
        sides = {}
        setattr(compiler, "_flagschema_sides", sides)  # noqa: B010
        start_compile(compiler)
    side = sides.get(transition.label)
    if side is None:
        side = sides[transition.label] = read_side(transition)
    return side


class _SideCol(Col):
    """A column reference whose physical column is chosen when the SQL is compiled."""

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        target: Any = self.target
        transition = target._flagschema_transition
        if transition is None:
            column = target.column
        else:
            # The column for each side is worked out when the model is built.
            column = target._flagschema_read_columns[_compiled_side(compiler, transition)]
        quote = compiler.quote_name_unless_alias
        if self.alias:
            return f"{quote(self.alias)}.{quote(column)}", []
        return quote(column), []


class _ConvertedCol(_SideCol):
    """The column of a converted field: on the old side its value must be converted, by
    ``forward_sql`` in SQL or by ``forward`` in Python (SELECT lists only). Renames use the
    plain :class:`_SideCol`, so their reads pay for none of this."""

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        transition = cast(Any, self.target)._flagschema_transition
        if transition is not None and _compiled_side(compiler, transition) == "old":
            return self._old_shape_sql(transition, compiler)
        return super().as_sql(compiler, connection)

    def _old_shape_sql(self, transition: Transition, compiler: SQLCompiler) -> Any:
        """The converted field read from the old column: ``forward_sql`` where it is given;
        otherwise the raw old column, which only a SELECT may use (its rows are converted by
        ``forward`` in Python); anywhere else the statement is refused before it runs."""
        companion_col = Col(self.alias, transition.companion)
        if transition.forward_sql is not None:
            expression = _rebind(
                transition.forward_sql.resolve_expression(compiler.query, allow_joins=False),
                transition.companion,
                companion_col,
            )
            # Cast to the new field's type, so that comparisons and ordering treat the value
            # as that type (SQLite compares an expression without a type as text).
            plain = cast(Any, transition.field)._flagschema_plain
            return compiler.compile(Cast(expression, output_field=plain))
        note_raw_old_use(self, transition, compiler)
        return companion_col.as_sql(compiler, compiler.connection)

    def select_format(self, compiler: SQLCompiler, sql: str, params: Any) -> Any:
        if cast(Any, self.target)._flagschema_transition is not None:
            note_select(self, compiler)
        return super().select_format(compiler, sql, params)

    def get_db_converters(self, connection: BaseDatabaseWrapper) -> list[Any]:
        converters = super().get_db_converters(connection)
        transition = cast(Any, self.target)._flagschema_transition
        if transition is not None and selected_raw_old(self):
            forward = transition.forward

            def convert(value: Any, expression: Any, connection: Any) -> Any:
                return None if value is None else forward(value)

            return [*converters, convert]
        return converters


class _SideColumns:
    """``get_col`` of both fields of a transition, on Django's cached-column path."""

    _flagschema_col_class: type[_SideCol] = _SideCol

    def get_col(self, alias: str, output_field: models.Field | None = None) -> Col:
        field: Any = self
        if alias == field.model._meta.db_table and (output_field is None or output_field == field):
            return field.cached_col
        return self._flagschema_col_class(alias, field, output_field)

    @cached_property
    def cached_col(self) -> Col:
        field = cast(models.Field, self)
        return self._flagschema_col_class(field.model._meta.db_table, field)


def _rebind(expression: Any, companion: models.Field, col: Col) -> Any:
    """*expression* with every column of *companion* replaced by *col* (the table alias of the
    query being compiled, which may be a join)."""
    if isinstance(expression, Col) and expression.target is companion:
        return col
    sources = expression.get_source_expressions()
    if not sources:
        return expression
    expression = expression.copy()
    expression.set_source_expressions(
        [_rebind(s, companion, col) if s is not None else None for s in sources]
    )
    return expression


def _plain_path(field: models.Field) -> str:
    return field.deconstruct()[1]


def _without_model_binding(field: models.Field) -> tuple[list[Any], dict[str, Any]]:
    _, _, args, kwargs = field.deconstruct()
    return list(args), dict(kwargs)


_logical_classes: dict[type[models.Field], type[models.Field]] = {}
_companion_classes: dict[type[models.Field], type[models.Field]] = {}


class RenamedField:
    """A field renamed behind a flag: writes keep both columns, reads follow the flag.

    >>> class Customer(models.Model):
    ...     # was: name = models.CharField(max_length=200)
    ...     full_name = flagschema.RenamedField(
    ...         models.CharField(max_length=200),
    ...         old_name="name",
    ...         flag="customers.full_name",
    ...     )

    ``field`` is the field as it should be after the rename. ``old_name`` is the field being
    renamed; its column stays and ``customer.name`` / ``filter(name=...)`` keep working as
    aliases. ``flag`` names the waffle switch whose active state means "read the new column".
    ``old`` describes the old field when it differs from ``field`` in more than its name (an
    index, a verbose name); by default it is ``field`` under the old name.
    """

    _flagschema_kind = "rename"

    def __new__(
        cls,
        field: models.Field | None = None,
        *,
        old_name: str = "",
        flag: str = "",
        old: models.Field | None = None,
    ) -> Any:
        if field is None:
            # copy.copy() and pickle create the object without arguments.
            return object.__new__(cls)
        if not isinstance(field, models.Field):
            raise TypeError(
                "RenamedField takes the new field as its first argument, e.g. "
                "RenamedField(models.CharField(max_length=200), old_name='name', flag='...')."
            )
        return _build_logical(field, old_name=old_name, flag=flag, old=old, kind="rename")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Everything happened in __new__, which had to pick the concrete field class.
        pass


def _build_logical(
    field: models.Field, *, old_name: str, flag: str, old: models.Field | None, kind: str
) -> Any:
    base = type(field)
    if base not in _logical_classes:
        _logical_classes[base] = type(
            f"Renamed{base.__name__}", (_LogicalField, base), {"__module__": __name__}
        )
    args, kwargs = _without_model_binding(field)
    obj: Any = object.__new__(_logical_classes[base])
    base.__init__(obj, *args, **kwargs)
    obj._flagschema_template = field
    obj._flagschema_old_template = old
    obj._flagschema_old_name = old_name
    obj._flagschema_flag = flag
    obj._flagschema_transition = None
    obj._flagschema_companion = None
    obj._flagschema_kind = kind
    obj._flagschema_transforms = {}
    return obj


class ConvertedField(RenamedField):
    """A field whose type changes behind a flag: both columns are written, reads follow the flag.

    >>> class Product(models.Model):
    ...     # was: price_cents = models.IntegerField()
    ...     price = flagschema.ConvertedField(
    ...         models.DecimalField(max_digits=12, decimal_places=2),
    ...         old=models.IntegerField(db_column="price_cents"),
    ...         forward=lambda cents: Decimal(cents) / 100,
    ...         backward=lambda price: int(price * 100),
    ...         forward_sql=Cast(F("price_cents"), DecimalField(max_digits=12, decimal_places=2))
    ...         / 100,
    ...         flag="products.decimal_price",
    ...     )

    ``old`` is the old field as its migrations declare it; its name is ``old_name``, or its
    ``db_column``. ``forward`` turns an old value into a new one and ``backward`` a new value
    into an old one, in Python: every write stores ``backward(value)`` in the old column, and
    reads from the old column return ``forward(old value)``. ``forward_sql`` (an expression of
    the old field) lets filters, ordering and aggregates run while reads come from the old
    column; without it they raise :class:`~flagschema.TransitionError`. ``backward_sql`` (an
    expression of the new field) lets ``QuerySet.update()`` take an SQL expression.

    ``instance.<old_name>`` reads ``backward(instance.<field>)`` and sets the field to
    ``forward(value)``; ``filter(<old_name>=...)`` compares with the old column, which is
    always written.
    """

    def __new__(
        cls,
        field: models.Field | None = None,
        *,
        old: models.Field | None = None,
        forward: Callable[[Any], Any] | None = None,
        backward: Callable[[Any], Any] | None = None,
        forward_sql: Any = None,
        backward_sql: Any = None,
        flag: str = "",
        old_name: str = "",
    ) -> Any:
        if field is None:
            return object.__new__(cls)
        if not isinstance(field, models.Field) or not isinstance(old, models.Field):
            raise TypeError(
                "ConvertedField takes the new field first and the old one as old=, e.g. "
                "ConvertedField(models.DecimalField(...), old=models.IntegerField("
                "db_column='price_cents'), forward=..., backward=..., flag='...')."
            )
        if not callable(forward) or not callable(backward):
            raise TypeError(
                "ConvertedField needs forward= (old value -> new value) and backward= "
                "(new value -> old value), both callables."
            )
        obj = _build_logical(
            field, old_name=old_name or old.db_column or "", flag=flag, old=old, kind="convert"
        )
        obj._flagschema_transforms = {
            "forward": forward,
            "backward": backward,
            "forward_sql": forward_sql,
            "backward_sql": backward_sql,
        }
        return obj


class _LogicalField(RenamedField, _SideColumns):
    """Mixed in before the user's field class; see the module docstring."""

    _flagschema_template: models.Field
    _flagschema_old_template: models.Field | None
    _flagschema_old_name: str
    _flagschema_flag: str
    _flagschema_transition: Transition | None
    _flagschema_companion: models.Field | None
    _flagschema_read_columns: dict[str, str]
    _flagschema_kind: str
    _flagschema_transforms: dict[str, Any]

    # --- reads -----------------------------------------------------------------------------
    @cached_property
    def _flagschema_plain(self) -> models.Field:
        """A plain copy of this field (no transition behaviour), for casts."""
        return self.clone()

    # --- migrations ------------------------------------------------------------------------
    def deconstruct(self) -> Any:
        name, _, args, kwargs = super().deconstruct()  # type: ignore[misc]
        # Rows written before the transition (and rows the previous release writes after a
        # code rollback) have no new value: NULL says so, where a default would hide it. The
        # ORM always writes this column, so the default is not needed in the schema.
        kwargs["null"] = True
        kwargs.pop("default", None)
        kwargs.pop("db_default", None)
        return name, _plain_path(self._flagschema_template), args, kwargs

    def clone(self) -> models.Field:
        """Migrations clone fields; they must get a plain field, not a transition."""
        _, _, args, kwargs = self.deconstruct()
        return type(self._flagschema_template)(*args, **kwargs)

    # --- model wiring ----------------------------------------------------------------------
    def contribute_to_class(self, cls: type[models.Model], name: str, *args: Any, **kw: Any):
        super().contribute_to_class(cls, name, *args, **kw)  # type: ignore[misc]
        meta = cls._meta
        self._flagschema_transition = None
        self._flagschema_companion = None
        if meta.abstract or meta.proxy or not self._flagschema_old_name:
            # Abstract: each concrete child gets its own copy. Proxy and an empty old_name are
            # reported by the checks instead of failing at import.
            return
        if not self._flagschema_old_name.isidentifier() or "__" in self._flagschema_old_name:
            return
        companion = self._flagschema_make_companion()
        cls.add_to_class(self._flagschema_old_name, companion)
        converts = self._flagschema_kind == "convert"
        if converts:
            self._flagschema_col_class = _ConvertedCol
        setattr(
            cls,
            self._flagschema_old_name,
            _converting_alias_property(self, companion) if converts else _alias_property(self),
        )
        self._flagschema_companion = companion
        field = cast(models.Field, self)
        transition = Transition(
            label=f"{meta.label}.{name}",
            model=cls,
            flag=self._flagschema_flag,
            kind=self._flagschema_kind,
            field=field,
            companion=companion,
            old_name=self._flagschema_old_name,
            old_column=cast(str, companion.column),
            new_column=cast(str, field.column),
            **self._flagschema_transforms,
        )
        self._flagschema_transition = transition
        companion._flagschema_transition = transition  # type: ignore[attr-defined]
        # The column each reads for a read side: the logical field the side's, the other the
        # companion.
        self._flagschema_read_columns = {
            "old": transition.old_column,
            "new": transition.new_column,
        }
        companion._flagschema_read_columns = {  # type: ignore[attr-defined]
            # A conversion's old column has the old type: the companion always reads it.
            "old": transition.old_column if converts else transition.new_column,
            "new": transition.old_column,
        }
        _prepare_options(cls)
        if meta.apps is global_apps:
            registry.register(transition)

    def _flagschema_old_field(self) -> models.Field:
        """The old field as migrations know it: ``old`` if given, else the new one renamed."""
        template = self._flagschema_old_template or self._flagschema_template
        return copy.deepcopy(template)

    def _flagschema_make_companion(self) -> models.Field:
        old = self._flagschema_old_field()
        base = type(old)
        if base not in _companion_classes:
            _companion_classes[base] = type(
                f"Companion{base.__name__}", (_CompanionField, base), {"__module__": __name__}
            )
        args, kwargs = _without_model_binding(old)
        # Runtime-only attributes: hidden from forms and serializers, no uniqueness checks of
        # its own (the logical field does those on the read side). Migrations see `old`.
        kwargs.update(
            db_column=old.db_column or self._flagschema_old_name,
            editable=False,
            serialize=False,
            unique=False,
            db_index=False,
            primary_key=False,
            blank=True,
        )
        companion = object.__new__(_companion_classes[base])
        base.__init__(companion, *args, **kwargs)
        companion._flagschema_old_template = old  # type: ignore[attr-defined]
        companion._flagschema_logical = self  # type: ignore[attr-defined]
        companion._flagschema_transition = None  # type: ignore[attr-defined]
        return cast(models.Field, companion)

    # --- checks ----------------------------------------------------------------------------
    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)  # type: ignore[misc]
        from flagschema.checks import check_transition_field

        errors.extend(check_transition_field(cast(models.Field, self)))
        return errors


class _CompanionDescriptor:
    """``instance._flagschema_<new>_other``: the value written to the other column.

    When a queryset did not load it (``only()``, ``defer()``, ``raw()``), it is derived from the
    logical value, which is what the next save writes, instead of being loaded with a query as
    Django's deferred attribute would.
    """

    def __init__(self, field: _CompanionField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        field = cast(models.Field, self.field)
        data = instance.__dict__
        if field.attname in data:
            return data[field.attname]
        logical = cast(models.Field, self.field._flagschema_logical)
        return self.field.value_from_logical(getattr(instance, logical.attname))


class _CompanionField(_SideColumns):
    """Mixed in before the old field's class: the hidden field holding the old column."""

    descriptor_class = _CompanionDescriptor

    _flagschema_old_template: models.Field
    _flagschema_logical: _LogicalField
    _flagschema_transition: Transition | None

    def get_attname(self) -> str:
        # Private so that it never collides with the alias, which owns the old name.
        return f"_flagschema_{self._flagschema_logical_name()}_other"

    def _flagschema_logical_name(self) -> str:
        return cast(models.Field, self._flagschema_logical).name

    def value_from_logical(self, value: Any) -> Any:
        """The old column's value for a logical value: the same for a rename, ``backward``'s
        for a conversion."""
        transition = self._flagschema_transition
        if transition is None or transition.backward is None or value is None:
            return value
        return transition.backward(value)

    def old_value_for(self, instance: models.Model, value: Any) -> Any:
        """:meth:`value_from_logical` for a value of *instance*; a raising transform becomes a
        TransitionError naming the transition, the field and the row."""
        try:
            return self.value_from_logical(value)
        except Exception as exc:
            raise _transform_failed(
                self._flagschema_transition, "backward", value, exc, instance
            ) from exc

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        logical = cast(models.Field, self._flagschema_logical)
        old_value = self.old_value_for(model_instance, getattr(model_instance, logical.attname))
        setattr(model_instance, cast(models.Field, self).attname, old_value)
        return old_value

    def deconstruct(self) -> Any:
        _, path, args, kwargs = self._flagschema_old_template.deconstruct()
        name = cast(models.Field, self).name
        if kwargs.get("db_column") == name:
            del kwargs["db_column"]  # `old=` may name the column; migrations know the field
        return name, path, args, kwargs

    def clone(self) -> models.Field:
        _, _, args, kwargs = self.deconstruct()
        return type(self._flagschema_old_template)(*args, **kwargs)

    def __reduce__(self) -> Any:
        # Field.__reduce__ looks the field up by name on unpickling, and the old name belongs to
        # the alias now; the private attribute name finds the companion itself.
        field = cast(models.Field, self)
        if not hasattr(field, "model"):
            return super().__reduce__()
        meta = field.model._meta
        return _load_field, (meta.app_label, meta.object_name, field.attname)


def _alias_property(field: _LogicalField) -> property:
    """``instance.<old_name>``: reads and writes the logical field. The getter is C code
    (``operator.attrgetter``), so reading through the old name costs no Python call."""
    attname = cast(models.Field, field).attname

    def set_logical(instance: models.Model, value: Any) -> None:
        setattr(instance, attname, value)

    return property(
        operator.attrgetter(attname),
        set_logical,
        doc=f"Old name of {cast(models.Field, field).name!r} (a flagschema alias).",
    )


def _converting_alias_property(field: _LogicalField, companion: models.Field) -> property:
    """``instance.<old_name>`` of a conversion: the old shape, ``backward(instance.<field>)``
    (what the companion writes); setting it sets the field to ``forward(value)``."""
    attname = cast(models.Field, field).attname

    def get_old(instance: models.Model) -> Any:
        return cast(Any, companion).old_value_for(instance, getattr(instance, attname))

    def set_old(instance: models.Model, value: Any) -> None:
        transition = field._flagschema_transition
        if value is not None and transition is not None and transition.forward is not None:
            try:
                value = transition.forward(value)
            except Exception as exc:
                raise _transform_failed(transition, "forward", value, exc, instance) from exc
        setattr(instance, attname, value)

    return property(get_old, set_old, doc=f"Old shape of {cast(models.Field, field).name!r}.")


def _transform_failed(
    transition: Transition | None, which: str, value: Any, exc: Exception, instance: Any = None
) -> TransitionError:
    label = transition.label if transition else "a transition"
    field = transition.field.name if transition else "?"
    pk = getattr(instance, "pk", None) if instance is not None else None
    row = f"row pk={pk!r}" if pk is not None else "a new row"
    return TransitionError(
        f"{label}: {which}({value!r}) raised {type(exc).__name__}: {exc} while writing field "
        f"{field!r} of {row}; nothing was written."
    )


def is_logical_field(field: object) -> bool:
    return isinstance(field, _LogicalField) and field._flagschema_transition is not None


def is_companion_field(field: object) -> bool:
    return isinstance(field, _CompanionField)


def companion_of(field: object) -> models.Field | None:
    """The companion of a logical field, or None for any other field."""
    if isinstance(field, _LogicalField):
        return field._flagschema_companion
    return None


# --- the model's _meta ---------------------------------------------------------------------


class _TransitionOptions(Options):
    """``Options`` of a model with transitions: old names resolve to the logical field, and
    managers build querysets that keep both columns written on ``update()``."""

    _flagschema_aliases: dict[str, models.Field]
    # Companion attribute names: written, never listed by values().
    _flagschema_hidden: frozenset[str]

    @cached_property
    def _forward_fields_map(self) -> dict[str, Any]:
        # get_field() looks here first: the old name finds the logical field, at no extra cost
        # per lookup. The companion stays reachable by its private attribute name.
        found = dict(Options._forward_fields_map.func(self))  # type: ignore[attr-defined]
        found.update(self._flagschema_aliases)
        return found

    @cached_property
    def managers(self) -> Any:
        from flagschema.query import dual_write_manager

        found = Options.managers.func(self)  # type: ignore[attr-defined]
        for manager in found:
            dual_write_manager(manager)
        return found

    @cached_property
    def base_manager(self) -> Any:
        from flagschema.query import dual_write_manager

        return dual_write_manager(Options.base_manager.func(self))  # type: ignore[attr-defined]


def _prepare_options(cls: type[models.Model]) -> None:
    meta = cls._meta
    if not isinstance(meta, _TransitionOptions):
        meta.__class__ = _TransitionOptions
        meta._flagschema_aliases = {}  # type: ignore[attr-defined]
        meta._flagschema_hidden = frozenset()  # type: ignore[attr-defined]
    aliases: dict[str, models.Field] = {}
    hidden: set[str] = set()
    for field in meta.fields:  # forward fields, parents' included
        if is_logical_field(field) and cast(Any, field)._flagschema_kind == "rename":
            # A rename's old name is an alias of the field; a conversion's names the old
            # column itself (the companion), which holds the old shape.
            aliases[cast(Any, field)._flagschema_old_name] = field
        elif is_companion_field(field):
            hidden.add(field.attname)
    options = cast(_TransitionOptions, meta)
    options._flagschema_aliases = aliases
    options._flagschema_hidden = frozenset(hidden)
    cast(Any, meta)._expire_cache()


def _wrap_save_base(cls: type[models.Model]) -> None:
    original: Any = cls.save_base
    if getattr(original, "_flagschema_wrapped", False):
        return

    def save_base(self: models.Model, *args: Any, update_fields: Any = None, **kwargs: Any):
        if update_fields is not None:
            update_fields = _with_companion_names(type(self), update_fields)
        return original(self, *args, update_fields=update_fields, **kwargs)

    save_base._flagschema_wrapped = True  # type: ignore[attr-defined]
    save_base.__doc__ = original.__doc__
    cls.save_base = save_base  # type: ignore[method-assign]


def _with_companion_names(model: type[models.Model], names: Any) -> frozenset[str]:
    """``save(update_fields=...)`` naming either shape writes both columns."""
    names = frozenset(names)
    extra: set[str] = set()
    for field in model._meta.concrete_fields:
        companion = companion_of(field)
        if companion is None:
            continue
        own = {field.name, field.attname, companion.name, companion.attname}
        if names & own:
            extra.update((field.name, companion.attname))
    return names | extra if extra else names


def _on_class_prepared(sender: type[models.Model], **kwargs: Any) -> None:
    meta = sender._meta
    if meta.abstract:
        return
    if any(is_logical_field(f) for f in meta.concrete_fields):
        _prepare_options(sender)
        _wrap_save_base(sender)


class_prepared.connect(_on_class_prepared)
