"""Transitions and their registry.

A *transition* is one declared schema change (a rename, a type change, a split or a merge)
between an old shape and a new shape of a model's data. Every transition has a *label*,
``app_label.Model.field``, which is the name the runbook, the admin and
:func:`flagschema.reading` use for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from flagschema.exceptions import DeclarationError, TransitionError

if TYPE_CHECKING:
    from django.db import models

Side = Literal["old", "new"]
SIDES: tuple[Side, Side] = ("old", "new")
# The kinds of a Transition declared on a model (several old or new fields).
MULTI_KINDS = frozenset({"split", "merge", "reshape"})
FLAG_TYPES = ("switch", "flag")


def check_flag_type(flag_type: object) -> None:
    if flag_type not in FLAG_TYPES:
        raise DeclarationError(
            f"flag_type={flag_type!r}: give 'switch' (a waffle Switch: one state everywhere) "
            "or 'flag' (a waffle Flag: chosen per request)."
        )


class Transition:
    """One schema change of a model between an old shape and a new shape, behind a flag.

    ``RenamedField`` and ``ConvertedField`` declare one for a single column. Declared directly
    on a model, a ``Transition`` changes several columns at once (a split or a merge):

    >>> class Customer(models.Model):
    ...     # was: name = models.CharField(max_length=200)
    ...     name_split = flagschema.Transition(
    ...         old={"name": models.CharField(max_length=200)},
    ...         new={
    ...             "first_name": models.CharField(max_length=100, default=""),
    ...             "last_name": models.CharField(max_length=100, default=""),
    ...         },
    ...         forward=split_name,  # name -> (first_name, last_name)
    ...         backward=join_name,  # (first_name, last_name) -> name
    ...         forward_sql={"first_name": ..., "last_name": ...},  # optional
    ...         backward_sql={"name": Concat("first_name", Value(" "), "last_name")},
    ...         flag="customers.split_name",
    ...     )

    ``old`` maps each old field's name to the field exactly as its migrations declare it (its
    column stays; ``customer.name`` and ``filter(name=...)`` keep the old shape). ``new`` maps
    each new field's name to its field; migrations add them as nullable columns. ``forward``
    receives the old values, in the order of ``old``, and returns the new values in the order
    of ``new`` (one value when there is one new field, else a tuple); ``backward`` the other
    way. A row whose columns are all NULL stays NULL without calling them; otherwise they get
    ``None`` for a NULL column. ``forward_sql`` maps a new field's name to a Django expression
    of the old fields, which filters, ordering and ``values()`` use while reads come from the
    old shape; ``backward_sql`` maps an old field's name to an expression of the new fields,
    which ``QuerySet.update()`` uses when given expressions. Without them, such a query raises
    :class:`~flagschema.TransitionError` instead of running. ``samples`` are old-shape values
    (tuples when there are several old fields) that the system checks convert forward and back;
    ``new_samples`` new-shape values (tuples when there are several new fields) that they
    convert backward and forward: a split whose new values the old column cannot hold
    (``("Mary Ann", "Evans")`` joined and split again) is found before it loses one.
    ``flag_type="flag"`` names a waffle Flag instead of a Switch (a rollout per request).
    ``comparator(value_read, new_value) -> bool`` replaces ``==`` in shadow reads (values
    that differ only in representation).

    Its label is ``app_label.Model.<attribute name>``; registry entries of ``RenamedField`` and
    ``ConvertedField`` are ``Transition`` objects too, labelled by the field's name.
    """

    label: str
    model: type[models.Model]
    kind: str
    flag: str
    # "switch": a waffle Switch, one state for every process; "flag": a waffle Flag, chosen
    # per request (see flagschema.flags.PinReadSideMiddleware).
    flag_type: str
    # Shadow reads compare a value read from the old side with the new column's by this
    # (value_read, new_value) -> bool; None means ==.
    comparator: Callable[[Any, Any], bool] | None
    forward: Callable[..., Any] | None  # None for a rename: both shapes are the same
    backward: Callable[..., Any] | None
    new_fields: tuple[models.Field, ...]
    old_fields: tuple[models.Field, ...]
    new_names: tuple[str, ...]
    old_names: tuple[str, ...]
    # New-shape values the checks convert backward and forward (``new_samples=``).
    new_samples: tuple[Any, ...] = ()

    def __init__(
        self,
        *,
        old: Mapping[str, models.Field],
        new: Mapping[str, models.Field],
        forward: Callable[..., Any],
        backward: Callable[..., Any],
        flag: str,
        forward_sql: Mapping[str, Any] | None = None,
        backward_sql: Mapping[str, Any] | None = None,
        samples: Iterable[Any] = (),
        flag_type: str = "switch",
        comparator: Callable[[Any, Any], bool] | None = None,
        new_samples: Iterable[Any] = (),
    ) -> None:
        from django.db import models

        for what, fields in (("old", old), ("new", new)):
            if not isinstance(fields, Mapping) or not fields:
                raise DeclarationError(
                    f"Transition({what}=...) takes a dict of field name -> field, e.g. "
                    f"{what}={{'name': models.CharField(max_length=200)}}; got {fields!r}."
                )
            for name, field in fields.items():
                if not isinstance(name, str) or not name.isidentifier() or "__" in name:
                    raise DeclarationError(
                        f"Transition({what}=...): {name!r} is not a field name."
                    )
                if not isinstance(field, models.Field) or field.is_relation:
                    raise DeclarationError(
                        f"Transition({what}=...): {name!r} must be a plain (non-relational) "
                        f"model field instance, not {field!r}."
                    )
        both = set(old) & set(new)
        if both:
            raise DeclarationError(
                f"Transition: {', '.join(repr(n) for n in sorted(both))} is both an old and a "
                "new field; a "
                "transition between columns of the same name is a ConvertedField."
            )
        if len(old) == 1 and len(new) == 1:
            raise DeclarationError(
                "Transition: one old field to one new field is a RenamedField (same type) or "
                "a ConvertedField (another type); Transition is for splits and merges."
            )
        if not callable(forward) or not callable(backward):
            raise DeclarationError(
                "Transition needs forward= (old values -> new values) and backward= (new "
                "values -> old values), both callables."
            )
        if not isinstance(flag, str) or not flag.strip():
            raise DeclarationError(
                "Transition needs flag='<waffle switch name>'; while the switch is off reads "
                "come from the old fields."
            )
        check_flag_type(flag_type)
        self.flag_type = flag_type
        self.comparator = comparator
        self._old_templates = dict(old)
        self._new_templates = dict(new)
        self.old_names = tuple(old)
        self.new_names = tuple(new)
        self.flag = flag
        self.forward = forward
        self.backward = backward
        self._forward_sql = _expressions("forward_sql", forward_sql, new)
        self._backward_sql = _expressions("backward_sql", backward_sql, old)
        for name, given in (("samples", samples), ("new_samples", new_samples)):
            if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
                shape = "new" if name == "new_samples" else "old"
                raise DeclarationError(
                    f"Transition({name}=...) takes a list of {shape} values, not {given!r}."
                )
        if comparator is not None and not callable(comparator):
            raise DeclarationError(
                "Transition(comparator=...) takes a callable (value_read, new_value) -> bool, "
                f"not {comparator!r}."
            )
        self.samples = tuple(samples)
        self.new_samples = tuple(new_samples)
        self.kind = "split" if len(old) == 1 else "merge" if len(new) == 1 else "reshape"
        self.label = ""

    @classmethod
    def _for_field(
        cls,
        *,
        label: str,
        model: type[models.Model],
        flag: str,
        kind: str,
        field: models.Field,
        companion: models.Field,
        flag_type: str = "switch",
        comparator: Callable[[Any, Any], bool] | None = None,
        forward: Callable[[Any], Any] | None = None,
        backward: Callable[[Any], Any] | None = None,
        forward_sql: Any = None,
        backward_sql: Any = None,
        samples: Iterable[Any] = (),
        new_samples: Iterable[Any] = (),
    ) -> Transition:
        """The transition of a ``RenamedField`` or ``ConvertedField``."""
        self = cls.__new__(cls)
        self.label = label
        self.model = model
        self.flag = flag
        self.flag_type = flag_type
        self.comparator = comparator
        self.kind = kind
        self.new_fields = (field,)
        self.old_fields = (companion,)
        self.new_names = (field.name,)
        self.old_names = (companion.name,)
        self.forward = forward
        self.backward = backward
        self._forward_sql = {field.name: forward_sql} if forward_sql is not None else {}
        self._backward_sql = {companion.name: backward_sql} if backward_sql is not None else {}
        self.samples = tuple(samples)
        self.new_samples = tuple(new_samples)
        return self

    def contribute_to_class(self, cls: type[models.Model], name: str) -> None:
        from flagschema.fields import wire_transition

        wire_transition(self, cls, name)

    def __repr__(self) -> str:
        old = ", ".join(self.old_columns) if hasattr(self, "old_fields") else "?"
        new = ", ".join(self.new_columns) if hasattr(self, "new_fields") else "?"
        return f"<Transition {self.label or '(not bound)'} ({self.kind}: {old} -> {new})>"

    # --- the one-column case ---------------------------------------------------------------
    @property
    def field(self) -> models.Field:
        """The (first) new field: the logical field of a rename or a conversion."""
        return self.new_fields[0]

    @property
    def companion(self) -> models.Field:
        """The (first) old field: the hidden field keeping the old column."""
        return self.old_fields[0]

    @property
    def old_name(self) -> str:
        return self.old_fields[0].name

    @property
    def old_column(self) -> str:
        return cast(str, self.old_fields[0].column)

    @property
    def new_column(self) -> str:
        return cast(str, self.new_fields[0].column)

    @property
    def forward_sql(self) -> Any:
        return self._forward_sql.get(self.new_fields[0].name)

    @property
    def backward_sql(self) -> Any:
        return self._backward_sql.get(self.old_fields[0].name)

    # --- all cases -------------------------------------------------------------------------
    @property
    def old_columns(self) -> tuple[str, ...]:
        return tuple(cast(str, f.column) for f in self.old_fields)

    @property
    def new_columns(self) -> tuple[str, ...]:
        return tuple(cast(str, f.column) for f in self.new_fields)

    def column_for(self, side: Side) -> str:
        """The physical column that holds the *side* shape (of a one-column transition)."""
        return self.new_column if side == "new" else self.old_column

    def read_side(self) -> Side:
        """The side reads come from now, as the flag (or a pin) says."""
        from flagschema.flags import read_side

        return read_side(self)

    def forward_sql_for(self, new_field: models.Field) -> Any:
        """The expression of the old fields that computes *new_field*, or None."""
        return self._forward_sql.get(new_field.name)

    def backward_sql_for(self, old_field: models.Field) -> Any:
        """The expression of the new fields that computes *old_field*, or None."""
        return self._backward_sql.get(old_field.name)

    def to_new(self, old_values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The new shape of one row's old values (all NULL stays NULL)."""
        return self._convert(self.forward, old_values, len(self.new_names), "forward")

    def to_old(self, new_values: tuple[Any, ...]) -> tuple[Any, ...]:
        """The old shape of one row's new values (all NULL stays NULL)."""
        return self._convert(self.backward, new_values, len(self.old_names), "backward")

    def _convert(
        self, transform: Callable[..., Any] | None, values: tuple[Any, ...], n: int, which: str
    ) -> tuple[Any, ...]:
        if transform is None:  # a rename
            return values
        if all(v is None for v in values):
            return (None,) * n
        result = transform(*values)
        if n == 1:
            return (result,)
        if not isinstance(result, (tuple, list)) or len(result) != n:
            raise TransitionError(
                f"{self.label}: {which}{values!r} returned {result!r}; it must return "
                f"{n} values (a tuple, in the order the transition lists its fields)."
            )
        return tuple(result)


def _expressions(
    what: str, given: Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise DeclarationError(
            f"Transition({what}=...) takes a dict of field name -> Django expression; got "
            f"{given!r}."
        )
    out: dict[str, Any] = {}
    for name, expression in given.items():
        if name not in fields:
            raise DeclarationError(
                f"Transition({what}=...) names {name!r}, which is not one of {', '.join(fields)}."
            )
        if not hasattr(expression, "resolve_expression"):
            raise DeclarationError(
                f"Transition({what}={{{name!r}: ...}}) must be a Django expression (F(), "
                f"Concat(), Cast(), ...), not {expression!r}."
            )
        out[name] = expression
    return out


class Registry:
    """All transitions declared on models of the installed apps, by label.

    >>> import flagschema
    >>> flagschema.registry["shop.Customer.full_name"].flag
    'customers.full_name'
    """

    def __init__(self) -> None:
        self._by_label: dict[str, Transition] = {}

    def register(self, transition: Transition) -> None:
        self._by_label[transition.label] = transition

    def unregister(self, label: str) -> None:
        self._by_label.pop(label, None)

    def __getitem__(self, label: str) -> Transition:
        try:
            return self._by_label[label]
        except KeyError:
            known = ", ".join(sorted(self._by_label)) or "none are declared"
            raise TransitionError(
                f"No transition is labelled {label!r}; labels are app_label.Model.field "
                f"(known: {known})."
            ) from None

    def get(self, label: str) -> Transition | None:
        return self._by_label.get(label)

    def __contains__(self, label: object) -> bool:
        return label in self._by_label

    def __iter__(self) -> Iterator[Transition]:
        return iter(sorted(self._by_label.values(), key=lambda t: t.label))

    def __len__(self) -> int:
        return len(self._by_label)

    def labels(self) -> list[str]:
        return sorted(self._by_label)

    def for_model(self, model: type[models.Model]) -> list[Transition]:
        return [t for t in self if t.model is model]


registry = Registry()
