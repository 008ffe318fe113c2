"""Verify: do the old and the new shape of every row agree?

Before a flip to new (and before a contract) every row must hold the same data in both shapes:
the new columns equal to what ``forward`` makes of the old ones. :func:`verify` counts the rows
that disagree (*mismatched*) and the rows that have an old shape and no new one yet
(*unfilled*: the backfill has not reached them), and names a few of their primary keys.

It compares in SQL where the transition allows it, in one statement:

* a rename: the old column and the new one, NULL-safe (``IS DISTINCT FROM`` and its
  equivalents);
* a conversion, split or merge with a ``forward_sql`` for every new field: each new column and
  its ``forward_sql``, cast to the new field's type (as reads of the old side compute it), so
  that decimals, integers and text compare as the new column holds them.

Otherwise the rows are read in primary-key batches (never the whole table at once) and compared
in Python: ``transition.to_new(old values) == new values``, both as the new field's Python type.

A mismatching row is *lossy* (``lossy``, ``lossy_pks``) when its old shape is what ``backward``
makes of its new shape (what an ORM write of the new shape stores) and ``forward`` does not give
that new shape back: nothing wrote around the ORM, the transforms lose the value (a split of
"Mary Ann" / "Evans" joined to "Mary Ann Evans" splits as "Mary" / "Ann Evans").
:func:`repair` rewrites the other mismatching rows' new shape from their old one, and the lossy
ones only when asked (``rewrite_lossy``): it would replace what the application wrote.

>>> from flagschema.runbook.verify import verify
>>> report = verify(registry["shop.Order.reference"])
>>> report.clean, report.mismatched, report.sample_pks
(False, 1, [1017])
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from django.db import models
from django.db.models import Count, F, Q, QuerySet
from django.db.models.expressions import Expression
from django.db.models.functions import Cast

from flagschema.exceptions import ArgumentError
from flagschema.flags import reading
from flagschema.runbook.rows import rows, unfilled_q
from flagschema.transitions import Transition, registry

# How many primary keys a report names (its counts are always complete).
MAX_SAMPLES = 10


@dataclass
class VerifyReport:
    """What :func:`verify` found for one transition.

    ``checked`` rows were compared; ``mismatched`` of them hold a new shape that is not what
    ``forward`` makes of their old shape; ``unfilled`` have an old shape and no new shape yet
    (:func:`flagschema.runbook.rows.unfilled_q`). ``sample_pks`` names up to ten of them,
    mismatching rows first. ``method`` is ``"sql"`` or ``"python"``.
    """

    label: str
    checked: int
    mismatched: int
    unfilled: int
    sample_pks: list[Any] = field(default_factory=list)
    method: str = "sql"
    # Of the mismatching rows, those whose new shape does not survive the trip through the old
    # shape (see the module docstring), and up to ten of their keys.
    lossy: int = 0
    lossy_pks: list[Any] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every checked row holds both shapes, and they agree."""
        return self.mismatched == 0 and self.unfilled == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "clean": self.clean}


def verify(
    transition: Transition | str,
    *,
    using: str = "default",
    limit: int | None = None,
    batch_size: int = 10_000,
    record: bool = True,
) -> VerifyReport:
    """Compare the old and new shapes of the rows of *transition*'s table (a transition or its
    label), in SQL where possible, else in Python in primary-key batches of *batch_size*.

    *limit* compares only the first *limit* rows in primary-key order. With *record*, the
    result is stored as a :class:`~flagschema.models.VerifyRun` (which ``flip`` and
    ``contract`` consult)."""
    if isinstance(transition, str):
        transition = registry[transition]
    if limit is not None and limit < 0:
        raise ArgumentError(f"verify(limit={limit!r}): the limit is a number of rows, 0 or more.")
    if batch_size < 1:
        raise ArgumentError(f"verify(batch_size={batch_size!r}): a batch is at least one row.")
    with reading(transition, "new"):  # the new fields name their own columns
        if sql_comparable(transition):
            report = _verify_sql(transition, using, limit)
        else:
            report = _verify_python(transition, using, limit, batch_size)
        if report.mismatched and report.method == "sql":
            # The Python comparison tells them apart as it goes; here they are read again.
            for pk, olds, news in mismatching_rows(transition, using=using, limit=limit):
                if loses_new_shape(transition, olds, news):
                    report.lossy += 1
                    if len(report.lossy_pks) < MAX_SAMPLES:
                        report.lossy_pks.append(pk)
    if record:
        from flagschema.models import VerifyRun

        VerifyRun.objects.using(using).create(
            label=report.label,
            checked=report.checked,
            mismatched=report.mismatched,
            unfilled=report.unfilled,
            sample_pks=json.dumps(report.sample_pks, default=str),
        )
    return report


def sql_comparable(transition: Transition) -> bool:
    """Whether the new shape can be computed from the old one in SQL: a rename, or a
    ``forward_sql`` for every new field. The backfill uses the same expressions."""
    return transition.kind == "rename" or all(
        transition.forward_sql_for(f) is not None for f in transition.new_fields
    )


def expected_new(transition: Transition, new_field: models.Field) -> Any:
    """The SQL expression of the old fields that *new_field*'s column should hold.

    Use it inside ``reading(transition, "new")``: old fields are named by their attribute
    names (a rename's old name is an alias of the new field)."""
    if transition.kind == "rename":
        return F(transition.old_fields[0].attname)
    expression = transition.forward_sql_for(new_field)
    if expression is None:
        raise ArgumentError(f"{transition.label}: {new_field.name!r} has no forward_sql.")
    return Cast(expression, output_field=_cast_type(new_field))


def _cast_type(new_field: models.Field) -> models.Field:
    """The type *new_field*'s expected value is cast to: the field's own, like reads of the old
    side (``fields._ConvertedCol``), so that `12.345` compares as the `12.35` a numeric(12, 2)
    column holds and the backfill writes what those reads returned. Text is cast without its
    length: ``CAST(... AS varchar(100))`` truncates a longer value silently, where the
    column's own check refuses it (backfill) and the comparison must see it differ (verify)."""
    if isinstance(new_field, (models.CharField, models.TextField)):
        return models.TextField()
    return new_field.clone()


class DistinctFrom(Expression):
    """``lhs IS DISTINCT FROM rhs``: true when exactly one is NULL, or both are not NULL and
    differ (a plain ``=`` is NULL, not false, when one side is NULL)."""

    conditional = True

    def __init__(self, lhs: Any, rhs: Any) -> None:
        super().__init__(output_field=models.BooleanField())
        self.lhs, self.rhs = lhs, rhs

    def get_source_expressions(self) -> list[Any]:
        return [self.lhs, self.rhs]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.lhs, self.rhs = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Dispatched here rather than by as_<vendor>(): aggregates compile their filter with
        # as_sql() directly.
        lhs, lhs_params = compiler.compile(self.lhs)
        rhs, rhs_params = compiler.compile(self.rhs)
        params = [*lhs_params, *rhs_params]
        if connection.vendor == "postgresql":
            return f"({lhs} IS DISTINCT FROM {rhs})", params
        if connection.vendor == "sqlite":
            return f"({lhs} IS NOT {rhs})", params
        if connection.vendor == "mysql":
            if isinstance(self.lhs.output_field, (models.CharField, models.TextField)):
                # Byte for byte: text columns compare under their collation, usually
                # case-insensitive and blind to trailing spaces ('Ada' = 'ADA ').
                lhs, rhs = f"CAST({lhs} AS BINARY)", f"CAST({rhs} AS BINARY)"
            return f"(NOT ({lhs} <=> {rhs}))", params
        both = [*params, *params]
        return (
            f"(CASE WHEN {lhs} IS NULL AND {rhs} IS NULL THEN 0 WHEN {lhs} = {rhs} THEN 0 "
            "ELSE 1 END = 1)",
            both,
        )


def mismatch_q(transition: Transition) -> Q:
    """Rows whose new shape is not what their old shape gives, in SQL (inside
    ``reading(transition, "new")``; see :func:`sql_comparable`). Unfilled rows match too:
    exclude them with ``~unfilled_q(transition)``."""
    return Q(
        *(
            Q(DistinctFrom(F(f.attname), expected_new(transition, f)))
            for f in transition.new_fields
        ),
        _connector=Q.OR,
    )


def _limited(transition: Transition, using: str, limit: int | None) -> QuerySet[Any]:
    queryset = rows(transition, using)
    if limit is None:
        return queryset
    if limit == 0:
        return queryset.none()
    last = list(queryset.order_by("pk").values_list("pk", flat=True)[limit - 1 : limit])
    return queryset.filter(pk__lte=last[0]) if last else queryset


def _verify_sql(transition: Transition, using: str, limit: int | None) -> VerifyReport:
    queryset = _limited(transition, using, limit)
    unfilled = unfilled_q(transition)
    mismatch = mismatch_q(transition) & ~unfilled
    # One scan of the table for the three counts.
    counts = queryset.aggregate(
        checked=Count("*"),
        mismatched=Count("pk", filter=mismatch),
        unfilled=Count("pk", filter=unfilled),
    )
    report = VerifyReport(
        transition.label,
        checked=counts["checked"],
        mismatched=counts["mismatched"],
        unfilled=counts["unfilled"],
        method="sql",
    )
    # Another scan to name keys only when there is something to name.
    for count, condition in ((report.mismatched, mismatch), (report.unfilled, unfilled)):
        wanted = MAX_SAMPLES - len(report.sample_pks)
        if count and wanted > 0:
            found = queryset.filter(condition).order_by("pk").values_list("pk", flat=True)
            report.sample_pks.extend(found[:wanted])
    return report


def _verify_python(
    transition: Transition, using: str, limit: int | None, batch_size: int
) -> VerifyReport:
    report = VerifyReport(transition.label, checked=0, mismatched=0, unfilled=0, method="python")
    unfilled_pks: list[Any] = []
    new_fields = transition.new_fields
    for pk, olds, news in _batches(transition, using, limit, batch_size):
        report.checked += 1
        if all(v is None for v in news):
            if any(v is not None for v in olds):
                report.unfilled += 1
                if len(unfilled_pks) < MAX_SAMPLES:
                    unfilled_pks.append(pk)
            continue
        try:
            expected = transition.to_new(olds)
        except Exception:
            agree = False  # an old shape that cannot be converted agrees with nothing
        else:
            agree = all(
                _same(f, want, got)
                for f, want, got in zip(new_fields, expected, news, strict=True)
            )
        if not agree:
            report.mismatched += 1
            if len(report.sample_pks) < MAX_SAMPLES:
                report.sample_pks.append(pk)
            if loses_new_shape(transition, olds, news):
                report.lossy += 1
                if len(report.lossy_pks) < MAX_SAMPLES:
                    report.lossy_pks.append(pk)
    report.sample_pks.extend(unfilled_pks[: MAX_SAMPLES - len(report.sample_pks)])
    return report


def _batches(
    transition: Transition, using: str, limit: int | None, batch_size: int
) -> Iterator[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]:
    """(pk, old values, new values) of each row in primary-key order, read *batch_size* rows
    at a time."""
    old_names = [f.attname for f in transition.old_fields]
    new_names = [f.attname for f in transition.new_fields]
    n_old = len(old_names)
    base = rows(transition, using).order_by("pk")
    seen = 0
    last = None
    while limit is None or seen < limit:
        query = base if last is None else base.filter(pk__gt=last)
        size = batch_size if limit is None else min(batch_size, limit - seen)
        batch = list(query.values_list("pk", *old_names, *new_names)[:size])
        for row in batch:
            yield row[0], tuple(row[1 : 1 + n_old]), tuple(row[1 + n_old :])
        if len(batch) < size:
            return
        seen += len(batch)
        last = batch[-1][0]


def mismatching_rows(
    transition: Transition, *, using: str = "default", limit: int | None = None
) -> Iterator[tuple[Any, tuple[Any, ...], tuple[Any, ...]]]:
    """(pk, old values, new values) of each row whose new shape is not what its old shape
    gives (rows without a new shape left out), in primary-key order. Use it inside
    ``reading(transition, "new")``."""
    old_names = [f.attname for f in transition.old_fields]
    new_names = [f.attname for f in transition.new_fields]
    n_old = len(old_names)
    if sql_comparable(transition):
        queryset = _limited(transition, using, limit).filter(
            mismatch_q(transition) & ~unfilled_q(transition)
        )
        rows = queryset.order_by("pk").values_list("pk", *old_names, *new_names)
        for row in rows.iterator(chunk_size=2000):
            yield row[0], tuple(row[1 : 1 + n_old]), tuple(row[1 + n_old :])
        return
    for pk, olds, news in _batches(transition, using, limit, 2000):
        if all(v is None for v in news):
            continue
        try:
            expected = transition.to_new(olds)
        except Exception:
            yield pk, olds, news
            continue
        if not all(
            _same(f, want, got)
            for f, want, got in zip(transition.new_fields, expected, news, strict=True)
        ):
            yield pk, olds, news


def loses_new_shape(transition: Transition, olds: tuple[Any, ...], news: tuple[Any, ...]) -> bool:
    """Whether a row holds what an ORM write of its new shape stores (the old shape is
    ``backward(new)``) and ``forward`` does not give that new shape back: the transforms lose
    it, nobody wrote around the ORM."""
    if transition.forward is None or transition.backward is None:
        return False
    try:
        back = transition.to_old(news)
        again = transition.to_new(back)
    except Exception:
        return False
    written_by_orm = all(
        _same(f, b, o) for f, b, o in zip(transition.old_fields, back, olds, strict=True)
    )
    comes_back = all(
        _same(f, a, n) for f, a, n in zip(transition.new_fields, again, news, strict=True)
    )
    return written_by_orm and not comes_back


@dataclass
class RepairReport:
    """What :func:`repair` did: ``repaired`` rows got the new shape their old shape gives
    (``repaired_pks``: up to ten keys); ``lossy_left`` lossy rows were left as they are
    (``lossy_pks``), or rewritten too (counted in ``repaired``) with ``rewrite_lossy``."""

    label: str
    repaired: int = 0
    repaired_pks: list[Any] = field(default_factory=list)
    lossy_left: int = 0
    lossy_pks: list[Any] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def repair(
    transition: Transition | str,
    *,
    using: str = "default",
    rewrite_lossy: bool = False,
) -> RepairReport:
    """Give each mismatching row the new shape its old shape gives (``forward_sql`` where the
    transition has it, else ``forward``), writing the new column(s) only. Rows that do not
    survive the round trip (:func:`loses_new_shape`) hold what the application wrote in the
    new shape: they are left alone unless *rewrite_lossy*."""
    from django.db import connections, transaction

    if isinstance(transition, str):
        transition = registry[transition]
    report = RepairReport(transition.label)
    connection = connections[using]
    # A plain queryset: the managers' would write both shapes.
    table: QuerySet[Any] = QuerySet(model=transition.model, using=using)
    with reading(transition, "new"), transaction.atomic(using=using):
        chosen = []
        for pk, olds, news in list(mismatching_rows(transition, using=using)):
            if not rewrite_lossy and loses_new_shape(transition, olds, news):
                report.lossy_left += 1
                if len(report.lossy_pks) < MAX_SAMPLES:
                    report.lossy_pks.append(pk)
                continue
            chosen.append((pk, olds))
        if sql_comparable(transition):
            for start in range(0, len(chosen), 500):
                pks = [pk for pk, _ in chosen[start : start + 500]]
                table.filter(pk__in=pks).update(
                    **{f.attname: expected_new(transition, f) for f in transition.new_fields}
                )
        else:
            plain = [f.clone() for f in transition.new_fields]
            quote = connection.ops.quote_name
            meta = transition.model._meta
            sets = ", ".join(f"{quote(str(f.column))} = %s" for f in transition.new_fields)
            sql = (
                f"UPDATE {quote(meta.db_table)} SET {sets} "
                f"WHERE {quote(str(cast(Any, meta.pk).column))} = %s"
            )
            with connection.cursor() as cursor:
                for pk, olds in chosen:
                    news = transition.to_new(olds)
                    values = [
                        f.get_db_prep_save(v, connection) for f, v in zip(plain, news, strict=True)
                    ]
                    cursor.execute(sql, [*values, pk])
        report.repaired = len(chosen)
        report.repaired_pks = [pk for pk, _ in chosen[:MAX_SAMPLES]]
    return report


def _same(new_field: models.Field, expected: Any, stored: Any) -> bool:
    """Whether *stored* (read from the new column) is what *expected* (from ``forward``) is
    once stored in it: compared as the field's Python type, decimals at its scale."""
    if expected == stored:
        return True
    if expected is None or stored is None:
        return False
    try:
        want = new_field.to_python(expected)
        got = new_field.to_python(stored)
    except Exception:
        return False
    places = getattr(new_field, "decimal_places", None)
    if isinstance(want, Decimal) and isinstance(got, Decimal) and places is not None:
        try:
            quantum = Decimal(1).scaleb(-places)
            # Databases round a numeric half away from zero.
            return want.quantize(quantum, ROUND_HALF_UP) == got.quantize(quantum, ROUND_HALF_UP)
        except InvalidOperation:
            return False
    return bool(want == got)
