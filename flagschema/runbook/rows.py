"""Row selections the runbook verbs share: which rows lack the new shape, in key order."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from flagschema.flags import reading
from flagschema.transitions import Transition


def unfilled_q(transition: Transition) -> Q:
    """Rows that have an old shape and no new shape: every new column NULL, some old column
    not NULL (written before the expand, or by a writer that knows only the old column).

    Use it inside ``reading(transition, "new")`` so that the new fields name their own
    columns (see :func:`rows`)."""
    no_new = Q(*(Q(**{f"{f.attname}__isnull": True}) for f in transition.new_fields))
    some_old = Q(
        *(Q(**{f"{f.attname}__isnull": False}) for f in transition.old_fields), _connector=Q.OR
    )
    return no_new & some_old


def rows(transition: Transition, using: str = "default") -> QuerySet[Any]:
    """All rows of the transition's table, through the base manager (no custom filtering)."""
    return transition.model._base_manager.using(using).all()


def count_unfilled(transition: Transition, using: str = "default") -> int:
    with reading(transition, "new"):
        return rows(transition, using).filter(unfilled_q(transition)).count()
