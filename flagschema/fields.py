"""RenamedField: one logical field over two physical columns, read from the flag's side.

How it works (checked against Django 4.2-6.1, pinned by tests/test_internals.py):

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
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps as global_apps
from django.core import checks
from django.db import connections, models, router
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import DEFERRED
from django.db.models.expressions import Col
from django.db.models.fields import _load_field  # type: ignore[attr-defined]
from django.db.models.functions import Cast
from django.db.models.options import Options
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import class_prepared
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler
from django.utils.functional import cached_property

from flagschema.dbdefaults import default_expression, old_db_default
from flagschema.exceptions import DeclarationError, TransitionError
from flagschema.flags import (
    note_raw_old_use,
    note_select,
    read_side,
    selected_raw_old,
    start_compile,
)
from flagschema.generated import follow_renames
from flagschema.transitions import MULTI_KINDS, Side, Transition, check_flag_type, registry
from flagschema.writes import check_old_value, old_default

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

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


# --- identifier quoting across Django versions ---------------------------------------------
# Django 6.1 quotes table aliases too (SQLCompiler.quote_name) and deprecates
# quote_name_unless_alias(), which is the only way before it. Chosen once, at import.
_QUOTE_METHOD = "quote_name" if hasattr(SQLCompiler, "quote_name") else "quote_name_unless_alias"


def _quoter(compiler: SQLCompiler) -> Callable[[str], str]:
    """The compiler's identifier quoting, as Django's own ``Col.as_sql`` uses it."""
    return cast(Callable[[str], str], getattr(compiler, _QUOTE_METHOD))


class _SideCol(Col):
    """A column reference whose physical column is chosen when the SQL is compiled."""

    def get_db_converters(self, connection: BaseDatabaseWrapper) -> list[Any]:
        # The output field is a plain copy of the target: its converters, once.
        return cast(Any, self.target).get_db_converters(connection)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        target: Any = self.target
        transition = target._flagschema_transition
        if transition is None:
            column = target.column
        else:
            # The column for each side is worked out when the model is built.
            column = target._flagschema_read_columns[_compiled_side(compiler, transition)]
        quote = _quoter(compiler)
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
            return self._old_shape_sql(transition, compiler, connection)
        return super().as_sql(compiler, connection)

    def _old_shape_sql(
        self, transition: Transition, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> Any:
        """The field read from the old shape: ``forward_sql`` where it is given; otherwise the
        raw (first) old column, which only a SELECT may use (its rows are converted by
        ``forward`` in Python); anywhere else the statement is refused before it runs."""
        field = cast(Any, self.target)
        resolved = _resolved_forward_sql(transition, field)
        if resolved is not None:
            # The SQL depends on the table alias (and how it is quoted) and the connection
            # only: compiled once for each.
            key = (self.alias, _quoter(compiler)(self.alias), connection.alias)
            compiled = field._flagschema_forward_compiled.get(key)
            if compiled is None:
                expression = _rebind(
                    resolved, {id(old): old.get_col(self.alias) for old in transition.old_fields}
                )
                # Cast to the new field's type, so that comparisons and ordering treat the
                # value as that type (SQLite compares an expression without a type as text);
                # text without its length, which CAST(... AS varchar(n)) would cut silently.
                sql, params = compiler.compile(Cast(expression, output_field=_cast_type(field)))
                compiled = field._flagschema_forward_compiled[key] = (sql, tuple(params))
            return compiled[0], list(compiled[1])
        source = transition.old_fields[0].get_col(self.alias)
        sql, params = source.as_sql(compiler, compiler.connection)
        note_raw_old_use(self, transition, compiler, sql)
        return sql, params

    def select_format(self, compiler: SQLCompiler, sql: str, params: Any) -> Any:
        transition = cast(Any, self.target)._flagschema_transition
        if (
            transition is not None
            and note_select(self, compiler)
            and len(transition.old_fields) > 1
            and _outside_model_rows(self, compiler)
        ):
            raise TransitionError(
                f"{transition.label}: {cast(Any, self.target).name!r} is read from the "
                f"old fields ({', '.join(f.name for f in transition.old_fields)}) here, "
                "and values(), values_list() and annotations can only get it in SQL, so "
                "the query was not run. Add forward_sql={"
                f"{cast(Any, self.target).name!r}: <a Django expression of the old "
                "fields>} to the Transition, load model instances, or flip it to new."
            )
        return super().select_format(compiler, sql, params)

    def get_db_converters(self, connection: BaseDatabaseWrapper) -> list[Any]:
        transition = cast(Any, self.target)._flagschema_transition
        if transition is None or not selected_raw_old(self):
            return super().get_db_converters(connection)
        if len(transition.old_fields) > 1:
            # The model instance computes the value from its old fields when it is read.

            def from_old_fields(value: Any, expression: Any, connection: Any) -> Any:
                return FROM_OLD_FIELDS

            return [from_old_fields]
        # The selected value is the old column's: its own field converts it from the database
        # (the new field's converters expect the new type), then forward.
        source = transition.old_fields[0]
        converters = source.get_db_converters(connection)
        if len(transition.new_fields) == 1:
            forward = transition.forward

            def convert(value: Any, expression: Any, connection: Any) -> Any:
                return None if value is None else forward(value)

        else:
            index = transition.new_fields.index(self.target)
            to_new = transition.to_new

            def convert(value: Any, expression: Any, connection: Any) -> Any:
                return None if value is None else to_new((value,))[index]

        return [*converters, convert]


def _cast_type(field: Any) -> models.Field:
    plain = field._flagschema_plain
    if plain.get_internal_type() == "CharField":
        return models.TextField()
    return cast(models.Field, plain)


def _resolved_forward_sql(transition: Transition, field: Any) -> Any:
    """*field*'s ``forward_sql`` resolved against its own model (the query being compiled may
    be another model's, joined to it), or None. Resolved once; :func:`_rebind` points its
    columns at the table alias of each use."""
    try:
        return field._flagschema_forward_resolved
    except AttributeError:
        pass
    template = transition.forward_sql_for(field)
    resolved = None
    if template is not None:
        resolved = template.resolve_expression(Query(transition.model), allow_joins=False)
    field._flagschema_forward_resolved = resolved
    return resolved


def _outside_model_rows(col: Col, compiler: SQLCompiler) -> bool:
    """Whether the SELECT being compiled hands *col*'s value out as it is (``values()``, an
    annotation), where a model instance would compute it from its other fields."""
    query = compiler.query
    if query.values_select:
        return True
    return any(a is col for a in query.annotation_select.values())


class _Marker:
    """A value held in an instance's ``__dict__`` that its descriptor replaces when read."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def __repr__(self) -> str:
        return f"<{self.text}>"

    def __reduce__(self) -> str:
        return self.name  # pickled by reference: the module attribute


FROM_OLD_FIELDS = _Marker("FROM_OLD_FIELDS", "computed from the old fields when read")
"""A new field of a Transition loaded from several old columns: computed on first access."""


class _SideColumns:
    """``get_col`` of both fields of a transition, on Django's cached-column path.

    The column's ``output_field`` is a plain copy of the field: expressions that combine it
    with others (``Concat``, ``Case``) infer their type from their sources' classes, and a
    transition's field class is a subclass that Django would report as a mixed type.
    """

    _flagschema_col_class: type[_SideCol] = _SideCol

    def get_col(self, alias: str, output_field: models.Field | None = None) -> Col:
        field: Any = self
        if output_field is None or output_field == field:
            if alias == field.model._meta.db_table:
                return field.cached_col
            output_field = field._flagschema_plain
        return self._flagschema_col_class(alias, field, output_field)

    @cached_property
    def cached_col(self) -> Col:
        field: Any = self
        return self._flagschema_col_class(
            field.model._meta.db_table, field, field._flagschema_plain
        )

    @cached_property
    def _flagschema_plain(self) -> models.Field:
        """A plain copy of this field (no transition behaviour): the type of its columns."""
        return cast(models.Field, self).clone()

    @cached_property
    def _flagschema_forward_compiled(self) -> dict[tuple[str, str, str], tuple[str, tuple]]:
        """Compiled ``forward_sql`` of this field, by table alias and connection."""
        return {}


def _rebind(expression: Any, cols: dict[int, Col]) -> Any:
    """*expression* with every column of a field in *cols* (by ``id()``) replaced by the
    given column (of the table alias of the query being compiled, which may be a join)."""
    if isinstance(expression, Col) and id(expression.target) in cols:
        return cols[id(expression.target)]
    sources = expression.get_source_expressions()
    if not sources:
        return expression
    expression = expression.copy()
    expression.set_source_expressions(
        [_rebind(s, cols) if s is not None else None for s in sources]
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
    ``flag_type="flag"`` names a waffle *Flag* instead of a Switch: the side is chosen per
    request (percent, users, groups) by :class:`~flagschema.flags.PinReadSideMiddleware`.
    """

    _flagschema_kind = "rename"

    def __new__(
        cls,
        field: models.Field | None = None,
        *,
        old_name: str = "",
        flag: str = "",
        old: models.Field | None = None,
        flag_type: str = "switch",
        comparator: Callable[[Any, Any], bool] | None = None,
    ) -> Any:
        if field is None and not (old_name or flag or old is not None or comparator):
            # copy.copy() and pickle create the object without arguments.
            return object.__new__(cls)
        if not isinstance(field, models.Field):
            raise DeclarationError(
                "RenamedField takes the new field as its first argument, e.g. "
                "RenamedField(models.CharField(max_length=200), old_name='name', flag='...')."
            )
        _check_common("RenamedField", old_name=old_name, flag=flag, comparator=comparator)
        if old is not None and not isinstance(old, models.Field):
            raise DeclarationError(
                f"RenamedField(old=...) takes the old field as its migrations declare it (a "
                f"model field instance), not {old!r}."
            )
        obj = _build_logical(
            field, old_name=old_name, flag=flag, old=old, kind="rename", flag_type=flag_type
        )
        obj._flagschema_comparator = comparator
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Everything happened in __new__, which had to pick the concrete field class.
        pass


def _build_logical(
    field: models.Field,
    *,
    old_name: str,
    flag: str,
    old: models.Field | None,
    kind: str,
    flag_type: str = "switch",
) -> Any:
    check_flag_type(flag_type)
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
    obj._flagschema_flag_type = flag_type
    obj._flagschema_comparator = None
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
    ``samples`` are old values that the system checks convert forward and back (a value that
    does not come back would be lost by a rollback); ``new_samples`` are new values they
    convert backward and forward (a value the old column cannot hold would be changed).

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
        samples: Iterable[Any] = (),
        flag_type: str = "switch",
        comparator: Callable[[Any, Any], bool] | None = None,
        new_samples: Iterable[Any] = (),
    ) -> Any:
        if field is None and old is None and forward is None and backward is None:
            return object.__new__(cls)  # copy.copy() and pickle
        if not isinstance(field, models.Field) or not isinstance(old, models.Field):
            raise DeclarationError(
                "ConvertedField takes the new field first and the old one as old=, e.g. "
                "ConvertedField(models.DecimalField(...), old=models.IntegerField("
                "db_column='price_cents'), forward=..., backward=..., flag='...')."
            )
        if not callable(forward) or not callable(backward):
            raise DeclarationError(
                "ConvertedField needs forward= (old value -> new value) and backward= "
                "(new value -> old value), both callables."
            )
        _check_common("ConvertedField", old_name=old_name, flag=flag, comparator=comparator)
        for name, expression in (("forward_sql", forward_sql), ("backward_sql", backward_sql)):
            if expression is not None and not hasattr(expression, "resolve_expression"):
                raise DeclarationError(
                    f"ConvertedField({name}=...) must be a Django expression (F(), Cast(), "
                    f"...), not {expression!r}."
                )
        samples = _samples("ConvertedField", samples)
        new_samples = _samples("ConvertedField", new_samples, "new_samples")
        obj = _build_logical(
            field,
            old_name=old_name or old.db_column or "",
            flag=flag,
            old=old,
            kind="convert",
            flag_type=flag_type,
        )
        obj._flagschema_transforms = {
            "forward": forward,
            "backward": backward,
            "forward_sql": forward_sql,
            "backward_sql": backward_sql,
            "samples": samples,
            "new_samples": new_samples,
        }
        obj._flagschema_comparator = comparator
        return obj


def _check_common(what: str, *, old_name: object, flag: object, comparator: object) -> None:
    """The arguments RenamedField and ConvertedField share: types, at declaration. Values that
    are wrong only for the model (an empty flag, an old_name that names no field) are reported
    by the system checks."""
    if not isinstance(old_name, str):
        raise DeclarationError(
            f"{what}(old_name=...) takes the old field's name, not {old_name!r}."
        )
    if not isinstance(flag, str):
        raise DeclarationError(f"{what}(flag=...) takes the waffle switch's name, not {flag!r}.")
    if comparator is not None and not callable(comparator):
        raise DeclarationError(
            f"{what}(comparator=...) takes a callable (value_read, new_value) -> bool, not "
            f"{comparator!r}."
        )


def _samples(what: str, samples: object, name: str = "samples") -> tuple[Any, ...]:
    if isinstance(samples, (str, bytes)) or not hasattr(samples, "__iter__"):
        shape = "new" if name == "new_samples" else "old"
        raise DeclarationError(
            f"{what}({name}=...) takes a list of {shape} values, not {samples!r}."
        )
    return tuple(cast(Iterable[Any], samples))


class _LogicalField(RenamedField, _SideColumns):
    """Mixed in before the user's field class; see the module docstring."""

    _flagschema_template: models.Field
    _flagschema_old_template: models.Field | None
    _flagschema_old_name: str
    _flagschema_flag: str
    _flagschema_flag_type: str
    _flagschema_comparator: Callable[[Any, Any], bool] | None
    _flagschema_transition: Transition | None
    _flagschema_companion: models.Field | None
    _flagschema_read_columns: dict[str, str]
    _flagschema_kind: str
    _flagschema_transforms: dict[str, Any]

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

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)  # type: ignore[misc]
        # A database default (Django 5.0+) is written as its expression: the new column has
        # no default in the schema (see flagschema.dbdefaults).
        default = default_expression(cast(models.Field, self), value)
        return value if default is None else default

    def get_default(self) -> Any:
        # A field without a default of its own takes the old field's, converted: a row created
        # without it stores the old default in the old column, as before the transition.
        transition = self._flagschema_transition
        if transition is not None and not cast(models.Field, self).has_default():
            default = old_default(transition, cast(models.Field, self))
            if default is not models.NOT_PROVIDED:
                return default
        return super().get_default()  # type: ignore[misc]

    # --- model wiring ----------------------------------------------------------------------
    def contribute_to_class(self, cls: type[models.Model], name: str, *args: Any, **kw: Any):
        super().contribute_to_class(cls, name, *args, **kw)  # type: ignore[misc]
        meta = cls._meta
        self._flagschema_transition = None
        self._flagschema_companion = None
        if self._flagschema_kind in MULTI_KINDS:
            return  # wired by wire_transition(), which adds the fields of a Transition
        if meta.abstract or meta.proxy or not self._flagschema_old_name:
            # Abstract: each concrete child gets its own copy. Proxy and an empty old_name are
            # reported by the checks instead of failing at import.
            return
        if not self._flagschema_old_name.isidentifier() or "__" in self._flagschema_old_name:
            return
        old_name = self._flagschema_old_name
        old = self._flagschema_old_field()
        companion = _make_companion(
            old, name=old_name, attname=f"_flagschema_{name}_other", logical=self
        )
        cls.add_to_class(old_name, companion)
        self._flagschema_companion = companion
        converts = self._flagschema_kind == "convert"
        field = cast(models.Field, self)
        transition = Transition._for_field(
            label=f"{meta.label}.{name}",
            model=cls,
            flag=self._flagschema_flag,
            flag_type=self._flagschema_flag_type,
            comparator=self._flagschema_comparator,
            kind=self._flagschema_kind,
            field=field,
            companion=companion,
            **self._flagschema_transforms,
        )
        self._flagschema_transition = transition
        cast(Any, companion)._flagschema_transition = transition
        if converts:
            self._flagschema_col_class = _ConvertedCol
            setattr(cls, old_name, _old_shape_property(transition, 0))
        else:
            setattr(cls, old_name, _alias_property(self))
        # The column each reads for a read side: the logical field the side's, the other the
        # companion. A conversion's old column has the old type: the companion always reads it.
        self._flagschema_read_columns = {
            "old": transition.old_column,
            "new": transition.new_column,
        }
        cast(Any, companion)._flagschema_read_columns = {
            "old": transition.old_column if converts else transition.new_column,
            "new": transition.old_column,
        }
        _prepare_options(cls)
        _install_shadow(transition)
        if meta.apps is global_apps:
            registry.register(transition)

    def _flagschema_old_field(self) -> models.Field:
        """The old field as migrations know it: ``old`` if given, else the new one renamed."""
        template = self._flagschema_old_template or self._flagschema_template
        return copy.deepcopy(template)

    # --- checks ----------------------------------------------------------------------------
    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)  # type: ignore[misc]
        from flagschema.checks import check_transition_field

        errors.extend(check_transition_field(cast(models.Field, self)))
        return errors


def _make_companion(
    old: models.Field, *, name: str, attname: str, logical: _LogicalField | None
) -> models.Field:
    """The hidden field that keeps the old column *name* written, built from the old field as
    its migrations declare it."""
    base = type(old)
    if base not in _companion_classes:
        _companion_classes[base] = type(
            f"Companion{base.__name__}", (_CompanionField, base), {"__module__": __name__}
        )
    args, kwargs = _without_model_binding(old)
    # Runtime-only attributes: hidden from forms and serializers, no uniqueness checks of its
    # own (the logical field does those on the read side). Migrations see `old`.
    kwargs.update(
        db_column=old.db_column or name,
        editable=False,
        serialize=False,
        unique=False,
        db_index=False,
        primary_key=False,
        blank=True,
    )
    companion: Any = object.__new__(_companion_classes[base])
    base.__init__(companion, *args, **kwargs)
    companion._flagschema_old_template = old
    companion._flagschema_logical = logical
    companion._flagschema_private = attname
    companion._flagschema_transition = None
    return cast(models.Field, companion)


def wire_transition(transition: Transition, cls: type[models.Model], name: str) -> None:
    """Add the fields of a :class:`~flagschema.Transition` declared as *name* on *cls*."""
    meta = cls._meta
    if meta.abstract or meta.proxy:
        raise TransitionError(
            f"{meta.label}.{name}: a Transition must be declared on a concrete model; "
            f"{meta.label} is {'abstract' if meta.abstract else 'a proxy'}."
        )
    transition.label = f"{meta.label}.{name}"
    transition.model = cls
    new_fields = []
    for field_name, template in transition._new_templates.items():
        field = _build_logical(
            template, old_name="", flag=transition.flag, old=None, kind=transition.kind
        )
        field.descriptor_class = _NewShapeAttribute
        field._flagschema_col_class = _ConvertedCol
        cls.add_to_class(field_name, field)
        new_fields.append(field)
    old_fields = []
    for field_name, template in transition._old_templates.items():
        companion = _make_companion(
            copy.deepcopy(template),
            name=field_name,
            attname=f"_flagschema_{name}_{field_name}",
            logical=None,
        )
        cls.add_to_class(field_name, companion)
        old_fields.append(companion)
    transition.new_fields = tuple(new_fields)
    transition.old_fields = tuple(old_fields)
    for field in new_fields:
        field._flagschema_transition = transition
        # On the old side these fields are computed from the old ones (_ConvertedCol).
        field._flagschema_read_columns = {"old": field.column, "new": field.column}
    for index, companion in enumerate(old_fields):
        cast(Any, companion)._flagschema_transition = transition
        cast(Any, companion)._flagschema_index = index
        cast(Any, companion)._flagschema_read_columns = {
            "old": companion.column,
            "new": companion.column,
        }
        setattr(cls, companion.name, _old_shape_property(transition, index))
    setattr(cls, name, transition)
    _prepare_options(cls)
    _install_shadow(transition)
    if meta.apps is global_apps:
        registry.register(transition)


def _install_shadow(transition: Transition) -> None:
    from flagschema.shadow import install

    install(transition)


class _NewShapeAttribute(DeferredAttribute):
    """The attribute of a field a :class:`~flagschema.Transition` adds. Loaded from several old
    columns, its value is computed from the instance's old fields when first read."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        field: Any = self.field
        value = instance.__dict__.get(field.attname, _UNLOADED)
        if value is _UNLOADED:  # deferred: Django loads it (and may load the marker)
            value = super().__get__(instance, cls)
        if value is FROM_OLD_FIELDS:
            _fill_from_old_fields(instance, field._flagschema_transition)
            value = instance.__dict__[field.attname]
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


_UNLOADED: Any = object()


def _fill_from_old_fields(instance: Any, transition: Transition) -> None:
    data = instance.__dict__
    missing = [f.attname for f in transition.old_fields if f.attname not in data]
    if missing:
        instance.refresh_from_db(fields=missing)
    olds = tuple(data[f.attname] for f in transition.old_fields)
    try:
        news = transition.to_new(olds)
    except Exception as exc:
        raise _transform_failed(transition, "forward", olds, exc, instance, "reading") from exc
    for field, value in zip(transition.new_fields, news, strict=True):
        if data.get(field.attname) is FROM_OLD_FIELDS:
            data[field.attname] = value


class _CompanionDescriptor:
    """``instance._flagschema_..._<old name>``: the value written to the old column.

    When a queryset did not load it (``only()``, ``defer()``, ``raw()``), it is derived from the
    new shape, which is what the next save writes, instead of being loaded with a query as
    Django's deferred attribute would.
    """

    def __init__(self, field: _CompanionField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        data = instance.__dict__
        attname = cast(models.Field, self.field).attname
        if attname in data:
            return data[attname]
        return self.field.old_value_for(instance)


class _CompanionField(_SideColumns):
    """Mixed in before the old field's class: the hidden field holding an old column."""

    descriptor_class = _CompanionDescriptor

    _flagschema_old_template: models.Field
    _flagschema_logical: _LogicalField | None  # the new field of a rename or a conversion
    _flagschema_private: str
    _flagschema_transition: Transition | None
    _flagschema_index: int = 0

    def get_attname(self) -> str:
        # Private so that it never collides with the old name, which belongs to a property.
        return self._flagschema_private

    def old_value_for(self, instance: models.Model) -> Any:
        """This old column's value for the new shape *instance* holds; a raising transform
        becomes a TransitionError naming the transition, the fields and the row."""
        transition = cast(Transition, self._flagschema_transition)
        backward = transition.backward
        if backward is None:  # a rename: the same value
            value = getattr(instance, transition.new_fields[0].attname)
            default = default_expression(transition.new_fields[0], value)  # db_default
            return value if default is None else default
        logical = self._flagschema_logical
        if logical is not None:  # a conversion: one value each way
            value = getattr(instance, cast(models.Field, logical).attname)
            if value is None:
                return None
            try:
                default = default_expression(cast(models.Field, logical), value)  # db_default
                if default is not None:
                    return old_db_default(transition, default, cast(models.Field, self))
                return backward(value)
            except TransitionError:
                raise
            except Exception as exc:
                raise _transform_failed(transition, "backward", (value,), exc, instance) from exc
        news = tuple(getattr(instance, f.attname) for f in transition.new_fields)
        try:
            return transition.to_old(news)[self._flagschema_index]
        except Exception as exc:
            raise _transform_failed(transition, "backward", news, exc, instance) from exc

    def get_default(self) -> Any:
        # A new instance holds no value of its own for the old column, which its descriptor
        # then derives from the new shape: a default would be written as it is by raw saves
        # (loaddata), which do not call pre_save(). Model.__init__ sets no attribute for
        # DEFERRED.
        return DEFERRED

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        old_value = self.old_value_for(model_instance)
        if old_value is not None and self._flagschema_integer:
            # A widening conversion: refuse what the old column cannot hold by name, before
            # the statement runs, instead of the database's bare DataError.
            model = type(model_instance)
            pk = model_instance.pk
            check_old_value(
                cast(Transition, self._flagschema_transition),
                cast(models.Field, self),
                old_value,
                connections[router.db_for_write(model, instance=model_instance)],
                f"row pk={pk!r}" if pk is not None else "a new row",
            )
        setattr(model_instance, cast(models.Field, self).attname, old_value)
        return old_value

    @cached_property
    def _flagschema_integer(self) -> bool:
        """Whether the old column is an integer column, whose range the database enforces, of
        a transition that changes the type (a rename keeps it, and so its range)."""
        transition = self._flagschema_transition
        if transition is None or transition.kind == "rename":
            return False
        internal = cast(models.Field, self).get_internal_type()
        return internal in BaseDatabaseOperations.integer_field_ranges

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
        # a property now; the private attribute name finds the companion itself.
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


def _old_shape_property(transition: Transition, index: int) -> property:
    """``instance.<old name>`` of a conversion, split or merge: the old shape computed from the
    new fields (what the next save writes); setting it sets the new fields from the old shape,
    with the other old fields as they are."""
    companion: Any = transition.old_fields[index]
    single = len(transition.old_fields) == 1

    def get_old(instance: models.Model) -> Any:
        return companion.old_value_for(instance)

    def set_old(instance: models.Model, value: Any) -> None:
        if single:
            olds: tuple[Any, ...] = (value,)
        else:
            current = list(_old_shape(transition, instance))
            current[index] = value
            olds = tuple(current)
        try:
            news = transition.to_new(olds)
        except Exception as exc:
            raise _transform_failed(transition, "forward", olds, exc, instance) from exc
        for field, new in zip(transition.new_fields, news, strict=True):
            setattr(instance, field.attname, new)

    return property(get_old, set_old, doc=f"Old shape of {transition.label}.")


def _old_shape(transition: Transition, instance: models.Model) -> tuple[Any, ...]:
    return tuple(cast(Any, f).old_value_for(instance) for f in transition.old_fields)


def _transform_failed(
    transition: Transition | None,
    which: str,
    values: tuple[Any, ...],
    exc: Exception,
    instance: Any = None,
    doing: str = "writing",
) -> TransitionError:
    label = transition.label if transition else "a transition"
    if transition is None:
        fields = "?"
    elif len(transition.new_fields) == 1:
        fields = f"field {transition.field.name!r}"
    else:
        fields = "fields " + ", ".join(repr(f.name) for f in transition.new_fields)
    pk = getattr(instance, "pk", None) if instance is not None else None
    row = f"row pk={pk!r}" if pk is not None else "a new row"
    args = ", ".join(repr(v) for v in values)
    outcome = "; nothing was written." if doing == "writing" else "."
    return TransitionError(
        f"{label}: {which}({args}) raised {type(exc).__name__}: {exc} while {doing} {fields} "
        f"of {row}{outcome}"
    )


def is_logical_field(field: object) -> bool:
    return isinstance(field, _LogicalField) and field._flagschema_transition is not None


def is_companion_field(field: object) -> bool:
    return isinstance(field, _CompanionField)


def transition_of(field: object) -> Transition | None:
    """The transition *field* (a new or an old field of one) belongs to, or None."""
    if isinstance(field, (_LogicalField, _CompanionField)):
        return field._flagschema_transition
    return None


# --- the model's _meta ---------------------------------------------------------------------


class _TransitionOptions(Options):
    """``Options`` of a model with transitions: old names resolve to the logical field, and
    managers build querysets that keep both columns written on ``update()``."""

    _flagschema_aliases: dict[str, models.Field]
    # Companion attribute names: written, never listed by values().
    _flagschema_hidden: frozenset[str]
    # Every name of a transition's fields -> the names that writing one of them must write.
    _flagschema_write_groups: dict[str, tuple[str, ...]]

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
        meta._flagschema_write_groups = {}  # type: ignore[attr-defined]
    aliases: dict[str, models.Field] = {}
    hidden: set[str] = set()
    groups: dict[str, tuple[str, ...]] = {}
    for field in meta.fields:  # forward fields, parents' included
        if is_logical_field(field) and cast(Any, field)._flagschema_kind == "rename":
            # A rename's old name is an alias of the field; a conversion's names the old
            # column itself (the companion), which holds the old shape.
            aliases[cast(Any, field)._flagschema_old_name] = field
        elif is_companion_field(field):
            hidden.add(field.attname)
        transition = transition_of(field)
        if transition is not None and transition.label:
            group = (
                *(f.name for f in transition.new_fields),
                *(f.attname for f in transition.old_fields),
            )
            for f in (*transition.new_fields, *transition.old_fields):
                for key in (f.name, f.attname):
                    groups[key] = group
            if transition.kind == "rename":
                groups[transition.old_name] = group
    options = cast(_TransitionOptions, meta)
    options._flagschema_aliases = aliases
    options._flagschema_hidden = frozenset(hidden)
    options._flagschema_write_groups = groups
    cast(Any, meta)._expire_cache()


def _wrap_save_base(cls: type[models.Model]) -> None:
    original: Any = cls.save_base
    if getattr(original, "_flagschema_wrapped", False):
        return

    def save_base(self: models.Model, *args: Any, update_fields: Any = None, **kwargs: Any):
        if update_fields is not None:
            update_fields = with_transition_names(type(self), update_fields)
        return original(self, *args, update_fields=update_fields, **kwargs)

    save_base._flagschema_wrapped = True  # type: ignore[attr-defined]
    save_base.__doc__ = original.__doc__
    cls.save_base = save_base  # type: ignore[method-assign]


def with_transition_names(model: type[models.Model], names: Iterable[str]) -> list[str]:
    """*names* plus, for any field of a transition among them, every field of that transition
    (``save(update_fields=...)``, ``bulk_update()``: naming either shape writes both)."""
    names = list(names)
    groups: dict[str, tuple[str, ...]] = getattr(model._meta, "_flagschema_write_groups", {})
    if not groups:
        return names
    seen = set(names)
    for name in list(names):
        for extra in groups.get(name, ()):
            if extra not in seen:
                seen.add(extra)
                names.append(extra)
    return names


def _on_class_prepared(sender: type[models.Model], **kwargs: Any) -> None:
    meta = sender._meta
    if meta.abstract:
        return
    if any(is_logical_field(f) for f in meta.concrete_fields):
        _prepare_options(sender)
        _wrap_save_base(sender)
        follow_renames(
            sender,
            {
                f.name: cast(Any, f)._flagschema_old_name
                for f in meta.concrete_fields
                if is_logical_field(f) and cast(Any, f)._flagschema_kind == "rename"
            },
        )


class_prepared.connect(_on_class_prepared)
