"""Transitions and their registry.

A *transition* is one declared schema change (today: a rename) between an old shape and a new
shape of a model's data. Every transition has a *label*, ``app_label.Model.field``, which is the
name the runbook, the admin and :func:`flagschema.reading` use for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from flagschema.exceptions import TransitionError

if TYPE_CHECKING:
    from django.db import models

Side = Literal["old", "new"]
SIDES: tuple[Side, Side] = ("old", "new")


@dataclass(eq=False)
class Transition:
    """One declared transition of a concrete model.

    ``field`` is the logical field (the new name); ``companion`` is the hidden field that keeps
    the other column written. Columns are the physical column names.
    """

    label: str
    model: type[models.Model]
    flag: str
    kind: str
    field: models.Field
    companion: models.Field
    old_name: str
    old_column: str
    new_column: str
    # A conversion's transforms (a rename has none: both columns hold the same value).
    forward: Callable[[Any], Any] | None = None
    backward: Callable[[Any], Any] | None = None
    forward_sql: Any = None
    backward_sql: Any = None

    def __repr__(self) -> str:
        return f"<Transition {self.label} ({self.kind}: {self.old_column} -> {self.new_column})>"

    def column_for(self, side: Side) -> str:
        """The physical column that holds the *side* shape."""
        return self.new_column if side == "new" else self.old_column

    def read_side(self) -> Side:
        """The side reads come from now, as the flag (or a pin) says."""
        from flagschema.flags import read_side

        return read_side(self)


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
