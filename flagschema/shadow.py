"""Shadow reads: answer from the old side, and compare a sample of reads with the new shape.

In shadow mode (``flagschema.shadowing``) a sampled share of model querysets
(``FLAGSCHEMA_SHADOW_SAMPLE``, 1% by default) also selects each new column, raw, in the same
query, as an annotation. When the row becomes an instance, the annotation's descriptor compares
the value the application reads (from the old side) with the new column's, by the transition's
comparator (``==`` by default). A mismatch:

* sends :data:`shadow_mismatch` (sender: the model; ``transition``, ``pk``, ``fields``),
* logs a warning on the ``flagschema.shadow`` logger with the label and the primary key, never
  the values (they may be personal data),
* counts in the cache (``FLAGSCHEMA_SHADOW_CACHE``, waffle's by default), so that
  ``flagschema status``, the admin and ``flagschema flip`` see every process's counts.

A row whose new column is NULL (not backfilled yet) is not compared: ``verify`` counts those.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from django.core.cache import caches
from django.db.models.expressions import Col
from django.dispatch import Signal

from flagschema.conf import get_setting
from flagschema.flags import shadowing
from flagschema.transitions import Transition, registry

if TYPE_CHECKING:
    from django.db import models

logger = logging.getLogger("flagschema.shadow")

shadow_mismatch = Signal()
"""Sent once per instance read in shadow mode whose new shape differs from what it read:
``sender`` is the model, with ``transition``, ``pk`` and ``fields`` (the new fields' names)."""

PREFIX = "_flagschema_shadow_"


def shadow_name(field: models.Field) -> str:
    return PREFIX + field.attname


# --- which querysets are sampled ------------------------------------------------------------


def shadow_annotations(model: type[models.Model]) -> dict[str, Col]:
    """The annotations a model queryset about to run adds: each new column of the model's
    transitions in shadow mode, raw, when this queryset is sampled; else nothing."""
    transitions = getattr(model._meta, "_flagschema_transitions", ())
    if not transitions:
        return {}
    shadowed = [t for t in transitions if shadowing(t)]
    if not shadowed or random.random() >= float(get_setting("SHADOW_SAMPLE")):
        return {}
    table = model._meta.db_table
    return {
        shadow_name(field): Col(table, field)  # the new column itself, as the field reads it
        for transition in shadowed
        for field in transition.new_fields
    }


# --- the comparison -------------------------------------------------------------------------


class ShadowSlot:
    """``instance._flagschema_shadow_<attname>``: set with the new column's value by the sampled
    query; compares it with what the instance read."""

    def __init__(self, transition: Transition, field: models.Field) -> None:
        self.transition = transition
        self.field = field

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(shadow_name(self.field))

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[shadow_name(self.field)] = value
        if value is None:
            return  # no new shape yet: verify's "unfilled"
        read = getattr(instance, self.field.attname)
        comparator = self.transition.comparator
        try:
            same = comparator(read, value) if comparator else read == value
        except Exception:
            logger.exception("%s: the shadow comparator raised", self.transition.label)
            same = False
        _tally.add(self.transition, instance, self.field, same)


class _Tally(threading.local):
    """Comparisons of the queryset being read, flushed to the shared counters after it."""

    def __init__(self) -> None:
        self.compared: dict[str, int] = {}
        self.mismatched: dict[str, int] = {}
        self.rows: dict[tuple[str, Any], tuple[Transition, Any, list[str]]] = {}

    def add(self, transition: Transition, instance: Any, field: Any, same: bool) -> None:
        label = transition.label
        key = (label, id(instance))
        if key not in self.rows:
            self.rows[key] = (transition, instance, [])
            self.compared[label] = self.compared.get(label, 0) + 1
        if not same:
            mismatched = self.rows[key][2]
            if not mismatched:
                self.mismatched[label] = self.mismatched.get(label, 0) + 1
            mismatched.append(field.name)

    def flush(self) -> None:
        rows, compared, mismatched = self.rows, self.compared, self.mismatched
        self.rows, self.compared, self.mismatched = {}, {}, {}
        for transition, instance, fields in rows.values():
            if fields:
                logger.warning(
                    "shadow read mismatch: %s pk=%r (%s)",
                    transition.label,
                    instance.pk,
                    ", ".join(fields),
                )
                shadow_mismatch.send(
                    sender=type(instance), transition=transition, pk=instance.pk, fields=fields
                )
        for label, count in compared.items():
            _count(label, count, mismatched.get(label, 0))


_tally = _Tally()


def flush() -> None:
    """Report the comparisons of the queryset just read (called after it is fetched)."""
    if _tally.rows:
        _tally.flush()


# --- counters shared by every process -------------------------------------------------------


def _cache() -> Any:
    alias = get_setting("SHADOW_CACHE")
    if alias is None:
        from waffle.utils import get_cache

        return get_cache()
    return caches[alias]


def _key(label: str, what: str) -> str:
    return f"flagschema:shadow:{label}:{what}"


def _count(label: str, compared: int, mismatched: int) -> None:
    cache = _cache()
    cache.add(_key(label, "since"), time.time(), timeout=None)
    for what, n in (("compared", compared), ("mismatched", mismatched)):
        if not n:
            continue
        key = _key(label, what)
        if not cache.add(key, n, timeout=None):
            try:
                cache.incr(key, n)
            except ValueError:  # expired or evicted between add and incr
                cache.add(key, n, timeout=None)


@dataclass
class ShadowStats:
    label: str
    compared: int
    mismatched: int
    since: float | None  # a Unix time, or None when nothing was compared

    @property
    def rate(self) -> float:
        return self.mismatched / self.compared if self.compared else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


def stats(transition: Transition) -> ShadowStats:
    cache = _cache()
    label = transition.label
    found = cache.get_many([_key(label, w) for w in ("compared", "mismatched", "since")])
    return ShadowStats(
        label=label,
        compared=int(found.get(_key(label, "compared")) or 0),
        mismatched=int(found.get(_key(label, "mismatched")) or 0),
        since=found.get(_key(label, "since")),
    )


def reset(transition: Transition) -> None:
    """Start a new counting period (a flip does, so that a rate describes one state)."""
    _cache().delete_many([_key(transition.label, w) for w in ("compared", "mismatched", "since")])


def install(transition: Transition) -> None:
    """Give the model the descriptors the sampled queries set (called when it is built)."""
    model = transition.model
    for field in transition.new_fields:
        setattr(model, shadow_name(field), ShadowSlot(transition, field))
    meta: Any = model._meta
    known = tuple(getattr(meta, "_flagschema_transitions", ()))
    if transition not in known:
        meta._flagschema_transitions = (*known, transition)


def all_stats() -> list[ShadowStats]:
    return [stats(t) for t in registry]
