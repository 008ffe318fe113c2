"""The writers of the stress suite (tests/test_stress.py): threads of the test process, and
worker processes started as ``python -m tests.stress_writers CONFIG_JSON``.

A writer owns its keys: the rows of both transitioned tables (``rename.Customer.full_name``, a
rename, and ``convert.Product.price``, a conversion with SQL expressions) whose primary key is
``slot`` modulo ``slots``, and the rows it creates. No other writer touches them, so the writes
of one key happen in the order its writer made them, and the last one acknowledged is what the
row must hold at the end, in both shapes.

Each batch of 1..``batch`` writes is one transaction. After its commit the writer appends one
line per row written to its log, ``[model, pk, value, op]`` (the value in the new shape, a
string; ``null`` for a delete), and flushes it: that line is the acknowledgement. A batch whose
transaction fails because the connection was dropped (or a deadlock chose it) is retried, as an
application retries, until it commits: a create whose commit went through but whose answer was
lost is found again by its tag (``email`` or ``sku``) instead of being made twice, and an
``F()`` update is not applied twice.

Kinds of writer:

* ``orm``: every write path of the ORM: ``create()`` (by the new name and by the old one),
  ``update()`` (both names), ``save()`` and ``save(update_fields=...)`` of a loaded instance,
  ``save()`` of another field (the transition's value loaded on one side and written back),
  a compare-and-set ``filter(<field>=<last value>).update()``, an ``F()`` expression update,
  ``bulk_update()``, ``bulk_create()``, ``update_or_create()`` and ``delete()``;
* ``raw``: SQL that names one shape only, as the previous release (old columns) or another
  service (new columns) writes: ``INSERT``, ``UPDATE`` and ``DELETE``; the sync triggers
  compute the other shape.

After some commits either kind reads a row it wrote back through the ORM, on whichever side
the flag names at that moment (a value or a filter that does not find it is a mismatch).

As a process the writer reads its settings like tests/worker.py (the test's cache, database and
``FLAGSCHEMA_FLAG_TTL``), writes one JSON event per line on stdout (``connected`` with the
server's id of its connection, ``progress``, ``dropped`` for each failed transaction, ``done``
with its figures) and stops when its stdin is closed.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from django.db import Error, InterfaceError, OperationalError, connection, transaction

CUSTOMER = "customer"
PRODUCT = "product"
LABELS = {CUSTOMER: "rename.Customer.full_name", PRODUCT: "convert.Product.price"}
FLAGS = {CUSTOMER: "customers.full_name", PRODUCT: "products.price"}
CENT = Decimal("0.01")
# Attempts of one batch before the writer gives up (and fails the test).
MAX_ATTEMPTS = 30
# The writes of each kind of writer, and how often each is chosen.
ORM_OPS = {
    "create": 8,
    "create_old_name": 5,
    "update": 14,
    "update_old_name": 8,
    "save": 10,
    "save_update_fields": 6,
    "save_other_field": 6,
    "compare_and_set": 8,
    "f_update": 6,
    "bulk_update": 6,
    "bulk_create": 3,
    "update_or_create": 5,
    "delete": 1,
}
RAW_OPS = {"insert_old": 8, "insert_new": 4, "update_old": 20, "update_new": 14, "raw_delete": 1}


def to_old(model: str, value: str) -> Any:
    """The old shape of *value* (the logged new-shape value of a row of *model*)."""
    if model == CUSTOMER:
        return value
    from tests.apps.convert.models import price_to_cents

    return price_to_cents(Decimal(value))


def as_value(model: str, stored: Any) -> str | None:
    """A raw new-column value as the log writes it (prices with two decimals: SQLite keeps
    a decimal as a number)."""
    if stored is None:
        return None
    if model == CUSTOMER:
        return str(stored)
    return str(Decimal(str(stored)).quantize(CENT))


@dataclass
class Ack:
    model: str
    pk: int
    value: str | None  # None: deleted
    op: str


@dataclass
class Write:
    """One write of a batch. ``run(retry)`` performs it inside the batch's transaction and
    returns the rows it wrote; *retry* says an earlier attempt may have committed."""

    op: str
    model: str
    run: Callable[[bool], list[Ack]]
    key: int = 0  # the smallest key it updates, for lock order (0: it creates rows)


@dataclass
class Figures:
    acks: int = 0
    batches: int = 0
    reads: int = 0
    read_mismatches: list[str] = field(default_factory=list)
    cas_misses: list[str] = field(default_factory=list)
    side_changes: dict[str, int] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)


class Writer:
    """One writer; ``config`` holds ``name``, ``kind`` ("orm" or "raw"), ``slot``, ``slots``,
    ``seed``, ``prefilled`` (each table's last key written before the expand), ``batch``
    (most writes per transaction), ``pause`` (seconds between two writes
    of a transaction: keeps it open, for the faults to land in), ``log`` (path) and
    ``value_base`` (makes its values unique)."""

    def __init__(self, config: dict[str, Any], emit: Callable[..., None]) -> None:
        self.config = config
        self.name: str = config["name"]
        self.kind: str = config["kind"]
        self.rng = random.Random(config["seed"])
        self.emit = emit
        self.figures = Figures()
        self.n = 0
        self.base = int(config["value_base"])
        self.vendor = connection.vendor
        self.keys: dict[str, list[int]] = {CUSTOMER: [], PRODUCT: []}
        # The value of each key this writer wrote (both shapes hold it); keys written before
        # the expand and not yet by this writer are absent.
        self.known: dict[str, dict[int, str]] = {CUSTOMER: {}, PRODUCT: {}}
        self._log: TextIO = open(config["log"], "a")  # noqa: SIM115 - closed by close()
        self._seen_connection: object = None
        self._sides: dict[str, bool | None] = dict.fromkeys(FLAGS.values())
        self._statements = 0

    # --- values --------------------------------------------------------------------------------
    def _next(self) -> int:
        self.n += 1
        return self.n

    def _tag(self) -> str:
        return f"{self.name}-{self._next()}"

    def _value(self, model: str) -> str:
        n = self._next()
        if model == CUSTOMER:
            return f"{self.name} write {n}"
        return str((Decimal(self.base + n) / 100).quantize(CENT))

    # --- the loop ------------------------------------------------------------------------------
    def load_keys(self) -> None:
        from tests.apps.convert.models import Product
        from tests.apps.rename.models import Customer

        slots, slot = int(self.config["slots"]), int(self.config["slot"])
        for model, cls in ((CUSTOMER, Customer), (PRODUCT, Product)):
            table = connection.ops.quote_name(cls._meta.db_table)
            with connection.cursor() as cursor:
                # Rows written before the expand (created ones are their creator's).
                cursor.execute(
                    f"SELECT id FROM {table} WHERE id <= %s AND id %% %s = %s ORDER BY id",
                    [self.config["prefilled"][model], slots, slot],
                )
                self.keys[model] = [row[0] for row in cursor.fetchall()]

    def run(self, stop: threading.Event, deadline: float) -> None:
        self.load_keys()
        while not stop.is_set() and time.monotonic() < deadline:
            self._note_connection()
            self._note_sides()
            writes = self._plan()
            acks = self._commit(writes)
            self._acknowledge(acks)
            if acks and self.rng.random() < 0.3:
                self._read_back(self.rng.choice(acks))

    def close(self) -> None:
        self._log.close()

    def _note_connection(self) -> None:
        """Tell the test the server's id of a new connection (the faults kill it by that id)."""
        try:
            connection.ensure_connection()
            if connection.connection is self._seen_connection:
                return
            with connection.cursor() as cursor:
                postgresql = self.vendor == "postgresql"
                cursor.execute(
                    "SELECT pg_backend_pid()" if postgresql else "SELECT CONNECTION_ID()"
                )
                backend = cursor.fetchone()[0]
        except Error as exc:
            self._dropped(exc, mid_transaction=False, stage="connecting")
            return
        self._seen_connection = connection.connection
        self.emit(event="connected", writer=self.name, id=backend)

    def _note_sides(self) -> None:
        """Count the flips this writer sees (each flag's state as its queries resolve it)."""
        from flagschema import flags

        for flag in FLAGS.values():
            try:
                active = flags.cache.is_active(flag)
            except Error:
                continue  # waffle read the switch from a dropped connection: next batch
            before = self._sides[flag]
            if before is not None and before != active:
                self.figures.side_changes[flag] = self.figures.side_changes.get(flag, 0) + 1
            self._sides[flag] = active

    def _commit(self, writes: list[Write]) -> list[Ack]:
        # Keys in ascending order within a table, like the backfill's ranges: no lock cycle.
        writes.sort(key=lambda w: (w.model, w.key == 0, w.key))
        for attempt in range(MAX_ATTEMPTS):
            self._statements = 0
            acks: list[Ack] = []
            done = 0
            try:
                with connection.execute_wrapper(self._count), transaction.atomic():
                    for write in writes:
                        if done and self.config["pause"]:
                            time.sleep(self.config["pause"])
                        acks.extend(write.run(attempt > 0))
                        done += 1
            except (OperationalError, InterfaceError) as exc:
                stage = "commit" if done == len(writes) else f"write {done + 1} of {len(writes)}"
                # The transaction had begun on the server once a statement ran in it.
                self._dropped(exc, mid_transaction=self._statements > 0, stage=stage)
                time.sleep(0.005 * (attempt + 1))
                continue
            for write in writes:
                self.figures.ops[write.op] = self.figures.ops.get(write.op, 0) + 1
            self.figures.batches += 1
            return acks
        raise RuntimeError(f"{self.name}: a batch failed {MAX_ATTEMPTS} times; giving up")

    def _count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """Execute wrapper: counts the statements of the transaction that ran."""
        result = execute(sql, params, many, context)
        self._statements += 1
        return result

    def _dropped(self, exc: BaseException, *, mid_transaction: bool, stage: str) -> None:
        raw = connection.connection
        # A connection lost inside a transaction is replaced when the atomic block ends (its
        # rollback fails: Django closes it and connects again); outside one Django keeps the
        # broken connection, which is closed here so that the next statement connects again.
        lost = raw is None or raw is not self._seen_connection or not _alive(raw)
        if lost and raw is not None and raw is self._seen_connection:
            with suppress(Error):
                connection.close()
        self.emit(
            event="dropped",
            writer=self.name,
            connection_lost=lost,
            mid_transaction=mid_transaction,
            stage=stage,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )

    def _acknowledge(self, acks: list[Ack]) -> None:
        for ack in acks:
            self._log.write(json.dumps([ack.model, ack.pk, ack.value, ack.op]) + "\n")
            keys, known = self.keys[ack.model], self.known[ack.model]
            if ack.value is None:
                known.pop(ack.pk, None)
                with suppress(ValueError):
                    keys.remove(ack.pk)
            else:
                if ack.pk not in known and ack.op.startswith(("create", "insert", "bulk_create")):
                    keys.append(ack.pk)
                known[ack.pk] = ack.value
        self._log.flush()
        before = self.figures.acks
        self.figures.acks += len(acks)
        if before // 100 != self.figures.acks // 100:
            self.emit(event="progress", writer=self.name, acks=self.figures.acks)

    # --- reading back ----------------------------------------------------------------------------
    def _read_back(self, ack: Ack) -> None:
        """Read a row just written through the ORM, on the side the flag names now: both shapes
        hold the value, so either side returns it."""
        if ack.value is None:
            return
        cls, name = _model(ack.model)
        value = _typed(ack.model, ack.value)
        try:
            got = list(cls.objects.filter(pk=ack.pk).values_list(name, flat=True))
            found = cls.objects.filter(pk=ack.pk, **{name: value}).exists()
        except (OperationalError, InterfaceError) as exc:
            self._dropped(exc, mid_transaction=False, stage="reading back")
            return
        self.figures.reads += 1
        if got != [value] or not found:
            self.figures.read_mismatches.append(
                f"{ack.model} pk {ack.pk}: wrote {ack.value!r} ({ack.op}), read {got!r}, "
                f"filter on it found {'it' if found else 'nothing'}"
            )

    # --- what to write ---------------------------------------------------------------------------
    def _plan(self) -> list[Write]:
        size = self.rng.randint(1, int(self.config["batch"]))
        used: set[tuple[str, int]] = set()
        writes = []
        for _ in range(size):
            model = self.rng.choice((CUSTOMER, PRODUCT))
            write = (self._orm if self.kind == "orm" else self._raw)(model, used)
            if write is not None:
                writes.append(write)
        if not writes:  # no key to write yet: create one
            model = self.rng.choice((CUSTOMER, PRODUCT))
            writes.append(
                self._create(model)
                if self.kind == "orm"
                else self._raw_insert(model, "insert_old")
            )
        return writes

    def _pick(self, model: str, used: set[tuple[str, int]], known: bool = False) -> int | None:
        """One of this writer's keys not yet in the batch (one it wrote, if *known*)."""
        pool = list(self.known[model]) if known else self.keys[model]
        for _ in range(4):
            if not pool:
                return None
            pk = self.rng.choice(pool)
            if (model, pk) not in used:
                used.add((model, pk))
                return pk
        return None

    def _orm(self, model: str, used: set[tuple[str, int]]) -> Write | None:
        op = self.rng.choices(list(ORM_OPS), weights=list(ORM_OPS.values()))[0]
        if op in ("create", "create_old_name"):
            return self._create(model, old_name=op == "create_old_name")
        if op == "bulk_create":
            return self._bulk_create(model)
        if op == "bulk_update":
            keys = [k for k in (self._pick(model, used) for _ in range(3)) if k is not None]
            return self._bulk_update(model, keys) if keys else None
        needs_known = op in ("save_other_field", "compare_and_set", "f_update")
        pk = self._pick(model, used, known=needs_known)
        if pk is None:
            return None
        return getattr(self, f"_{op}")(model, pk)

    def _raw(self, model: str, used: set[tuple[str, int]]) -> Write | None:
        op = self.rng.choices(list(RAW_OPS), weights=list(RAW_OPS.values()))[0]
        if op.startswith("insert"):
            return self._raw_insert(model, op)
        pk = self._pick(model, used)
        if pk is None:
            return None
        if op == "raw_delete":
            return self._raw_delete(model, pk)
        return self._raw_update(model, pk, op)

    # --- ORM writes ----------------------------------------------------------------------------
    def _create(self, model: str, old_name: bool = False) -> Write:
        cls, name = _model(model)
        tag, value = self._tag(), self._value(model)
        old, tag_field = _old_name(model), _tag_field(model)

        def run(retry: bool) -> list[Ack]:
            pk = _find(cls, tag_field, tag) if retry else None
            if pk is None:
                given = {old: to_old(model, value)} if old_name else {name: _typed(model, value)}
                pk = cls.objects.create(**{tag_field: tag}, **given).pk
            return [Ack(model, pk, value, "create_old_name" if old_name else "create")]

        return Write("create_old_name" if old_name else "create", model, run)

    def _bulk_create(self, model: str) -> Write:
        cls, name = _model(model)
        tag_field = _tag_field(model)
        rows = [(self._tag(), self._value(model)) for _ in range(self.rng.randint(2, 4))]

        def run(retry: bool) -> list[Ack]:
            found = {tag: _find(cls, tag_field, tag) for tag, _ in rows} if retry else {}
            missing = [(t, v) for t, v in rows if found.get(t) is None]
            objs = [cls(**{tag_field: t, name: _typed(model, v)}) for t, v in missing]
            cls.objects.bulk_create(objs)
            for obj, (tag, _) in zip(objs, missing, strict=True):
                found[tag] = obj.pk if obj.pk is not None else _find(cls, tag_field, tag)
            return [Ack(model, found[t], v, "bulk_create") for t, v in rows]

        return Write("bulk_create", model, run)

    def _update(self, model: str, pk: int, old_name: bool = False) -> Write:
        cls, name = _model(model)
        value = self._value(model)
        given = (
            {_old_name(model): to_old(model, value)} if old_name else {name: _typed(model, value)}
        )
        op = "update_old_name" if old_name else "update"

        def run(retry: bool) -> list[Ack]:
            _one(cls.objects.filter(pk=pk).update(**given), op, model, pk)
            return [Ack(model, pk, value, op)]

        return Write(op, model, run, pk)

    def _update_old_name(self, model: str, pk: int) -> Write:
        return self._update(model, pk, old_name=True)

    def _save(self, model: str, pk: int, update_fields: bool = False) -> Write:
        cls, name = _model(model)
        value = self._value(model)
        op = "save_update_fields" if update_fields else "save"

        def run(retry: bool) -> list[Ack]:
            obj = cls.objects.get(pk=pk)
            setattr(obj, name, _typed(model, value))
            obj.save(update_fields=[name] if update_fields else None)
            return [Ack(model, pk, value, op)]

        return Write(op, model, run, pk)

    def _save_update_fields(self, model: str, pk: int) -> Write:
        return self._save(model, pk, update_fields=True)

    def _save_other_field(self, model: str, pk: int) -> Write:
        """Load the row on the side the flag names, change another field and save it all:
        the transition's value goes back into both columns as it was."""
        cls, _ = _model(model)
        value, tag = self.known[model][pk], self._tag()
        other = "email" if model == CUSTOMER else "sku"

        def run(retry: bool) -> list[Ack]:
            obj = cls.objects.get(pk=pk)
            setattr(obj, other, tag)
            obj.save()
            return [Ack(model, pk, value, "save_other_field")]

        return Write("save_other_field", model, run, pk)

    def _compare_and_set(self, model: str, pk: int) -> Write:
        """``filter(pk=..., <field>=<the value last written>).update(...)``: the filter reads
        the side the flag names, and both shapes hold that value, so it matches."""
        cls, name = _model(model)
        before, value = self.known[model][pk], self._value(model)

        def run(retry: bool) -> list[Ack]:
            rows = cls.objects.filter(pk=pk, **{name: _typed(model, before)})
            if rows.update(**{name: _typed(model, value)}) == 1:
                return [Ack(model, pk, value, "compare_and_set")]
            if retry and _raw_new(model, pk) == value:
                return [Ack(model, pk, value, "compare_and_set")]  # the lost commit's
            self.figures.cas_misses.append(
                f"{model} pk {pk}: filter({name}={before!r}) matched no row; the row holds "
                f"{_raw_shapes(model, pk)!r} (old, new)"
            )
            return []

        return Write("compare_and_set", model, run, pk)

    def _f_update(self, model: str, pk: int) -> Write:
        """An update by an SQL expression of the field itself: the read side's column is read,
        and the other shape computed in SQL (``backward_sql``, or the same expression)."""
        from django.db.models import F, Value
        from django.db.models.functions import Concat

        cls, name = _model(model)
        before = self.known[model][pk]
        n = self._next()
        if model == CUSTOMER:
            if len(before) > 150:
                return self._update(model, pk)
            value = f"{before}/{n}"
            expression: Any = Concat(F(name), Value(f"/{n}"))
        else:
            delta = Decimal(1 + n % 97) / 100
            value = str((Decimal(before) + delta).quantize(CENT))
            expression = F(name) + delta

        def run(retry: bool) -> list[Ack]:
            # Not twice: after a commit whose answer was lost the row holds the value already.
            if not (retry and _raw_new(model, pk) == value):
                _one(cls.objects.filter(pk=pk).update(**{name: expression}), "f_update", model, pk)
            return [Ack(model, pk, value, "f_update")]

        return Write("f_update", model, run, pk)

    def _bulk_update(self, model: str, keys: list[int]) -> Write:
        cls, name = _model(model)
        values = {pk: self._value(model) for pk in keys}

        def run(retry: bool) -> list[Ack]:
            objs = list(cls.objects.filter(pk__in=keys))
            _one(len(objs) == len(keys), "bulk_update", model, keys)
            for obj in objs:
                setattr(obj, name, _typed(model, values[obj.pk]))
            cls.objects.bulk_update(objs, [name])
            return [Ack(model, pk, values[pk], "bulk_update") for pk in sorted(keys)]

        return Write("bulk_update", model, run, min(keys))

    def _update_or_create(self, model: str, pk: int) -> Write:
        cls, name = _model(model)
        value = self._value(model)

        def run(retry: bool) -> list[Ack]:
            _, created = cls.objects.update_or_create(pk=pk, defaults={name: _typed(model, value)})
            _one(not created, "update_or_create", model, pk)
            return [Ack(model, pk, value, "update_or_create")]

        return Write("update_or_create", model, run, pk)

    def _delete(self, model: str, pk: int) -> Write:
        cls, _ = _model(model)

        def run(retry: bool) -> list[Ack]:
            cls.objects.filter(pk=pk).delete()  # again on a retry: nothing left to delete
            return [Ack(model, pk, None, "delete")]

        return Write("delete", model, run, pk)

    # --- raw SQL writes, one shape only ----------------------------------------------------------
    def _raw_insert(self, model: str, op: str) -> Write:
        cls, _ = _model(model)
        tag, value = self._tag(), self._value(model)
        q = connection.ops.quote_name
        table = q(cls._meta.db_table)
        if model == CUSTOMER:
            column = "name" if op == "insert_old" else "full_name"
            columns, params = [column, "email", "vip"], [value, tag, False]
        else:
            column = "price_cents" if op == "insert_old" else "price"
            shape = to_old(model, value) if op == "insert_old" else Decimal(value)
            columns, params = [column, "sku"], [shape, tag]
        sql = (
            f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(params))})"
        )

        def run(retry: bool) -> list[Ack]:
            pk = _find(cls, _tag_field(model), tag) if retry else None
            if pk is None:
                with connection.cursor() as cursor:
                    if self.vendor == "postgresql":
                        cursor.execute(f"{sql} RETURNING {q('id')}", params)
                        pk = cursor.fetchone()[0]
                    else:
                        cursor.execute(sql, params)
                        pk = cursor.lastrowid
            return [Ack(model, pk, value, op)]

        return Write(op, model, run)

    def _raw_update(self, model: str, pk: int, op: str) -> Write:
        cls, _ = _model(model)
        value = self._value(model)
        q = connection.ops.quote_name
        if model == CUSTOMER:
            column = "name" if op == "update_old" else "full_name"
            shape: Any = value
        else:
            column = "price_cents" if op == "update_old" else "price"
            shape = to_old(model, value) if op == "update_old" else Decimal(value)
        sql = f"UPDATE {q(cls._meta.db_table)} SET {q(column)} = %s WHERE {q('id')} = %s"

        def run(retry: bool) -> list[Ack]:
            with connection.cursor() as cursor:
                cursor.execute(sql, [shape, pk])
                _one(cursor.rowcount, op, model, pk)
            return [Ack(model, pk, value, op)]

        return Write(op, model, run, pk)

    def _raw_delete(self, model: str, pk: int) -> Write:
        cls, _ = _model(model)
        q = connection.ops.quote_name
        sql = f"DELETE FROM {q(cls._meta.db_table)} WHERE {q('id')} = %s"

        def run(retry: bool) -> list[Ack]:
            with connection.cursor() as cursor:
                cursor.execute(sql, [pk])
            return [Ack(model, pk, None, "raw_delete")]

        return Write("raw_delete", model, run, pk)


# --- helpers ---------------------------------------------------------------------------------


def _model(model: str) -> tuple[Any, str]:
    """The model class and the name of its transitioned field."""
    if model == CUSTOMER:
        from tests.apps.rename.models import Customer

        return Customer, "full_name"
    from tests.apps.convert.models import Product

    return Product, "price"


def _old_name(model: str) -> str:
    return "name" if model == CUSTOMER else "price_cents"


def _tag_field(model: str) -> str:
    """A plain column that tells a writer's created rows apart (to find a lost commit's)."""
    return "email" if model == CUSTOMER else "sku"


def _typed(model: str, value: str) -> Any:
    return value if model == CUSTOMER else Decimal(value)


def _alive(raw: Any) -> bool:
    """Whether a driver's connection is still open (psycopg: ``closed``; PyMySQL: ``open``)."""
    closed = getattr(raw, "closed", None)
    if isinstance(closed, bool):
        return not closed
    return bool(getattr(raw, "open", True))


def _find(cls: Any, tag_field: str, tag: str) -> int | None:
    return cls.objects.filter(**{tag_field: tag}).values_list("pk", flat=True).first()


def _raw_shapes(model: str, pk: int) -> tuple[Any, Any] | None:
    cls, _ = _model(model)
    q = connection.ops.quote_name
    old, new = ("name", "full_name") if model == CUSTOMER else ("price_cents", "price")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {q(old)}, {q(new)} FROM {q(cls._meta.db_table)} WHERE {q('id')} = %s",
            [pk],
        )
        row = cursor.fetchone()
    return None if row is None else (row[0], row[1])


def _raw_new(model: str, pk: int) -> str | None:
    shapes = _raw_shapes(model, pk)
    return None if shapes is None else as_value(model, shapes[1])


def _one(ok: Any, op: str, model: str, keys: Any) -> None:
    """A write to a key this writer owns must find its row (1 row, or True)."""
    if ok is not True and ok != 1:
        raise AssertionError(f"{op} of {model} {keys}: the row was not found ({ok!r})")


# --- as a process ----------------------------------------------------------------------------


def _emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def _stdin_closed() -> Iterator[threading.Event]:
    stop = threading.Event()

    def wait_for_eof() -> None:
        for _ in sys.stdin:
            pass
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    yield stop


def main(argv: list[str]) -> int:
    from tests.worker import _setup

    config = json.loads(argv[0])
    _setup(config)
    writer = Writer(config, _emit)
    try:
        with _stdin_closed() as stop:
            writer.run(stop, time.monotonic() + float(config["lifetime"]))
    finally:
        writer.close()
    figures = writer.figures
    _emit(event="done", writer=writer.name, **figures.__dict__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
