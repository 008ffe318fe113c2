"""Flip a transition's read side, with the safety rules and the audit record.

A flip to new is refused while the new shape is not known to be right (verify finds mismatching
or unfilled rows, or a declared sample does not survive the round trip), unless forced. Every
flip, whoever makes it, is recorded as a :class:`~flagschema.models.FlipEvent`: flips made here
directly, flips made in waffle's own admin or with ``waffle_switch`` by the signal receivers
below.
"""

from __future__ import annotations

import contextvars
import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from flagschema import flags, shadow
from flagschema.conf import get_setting
from flagschema.defaults import FLAG_BACKEND
from flagschema.exceptions import FlipRefused
from flagschema.transitions import SIDES, Side, Transition, registry


@dataclass
class FlipResult:
    label: str
    flag: str
    flag_type: str  # "switch" or "flag"
    from_side: str  # "old", "new", or "per-request" (a waffle Flag rolling out)
    to_side: Side
    changed: bool
    forced: bool = False
    actor: str = ""
    reason: str = ""
    host: str = ""
    event_id: int | None = None
    verify: dict[str, Any] | None = None
    propagation: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PER_REQUEST = "per-request"


def current_side(transition: Transition) -> str:
    """The side the flag names now, asked of the backend itself (no pin, no cached state):
    ``"old"`` or ``"new"``; for a waffle Flag whose ``everyone`` is unset, ``"per-request"``
    (its percent, users and groups decide in requests; elsewhere reads are old)."""
    if transition.flag_type == "flag":
        from waffle import get_waffle_flag_model

        flag = get_waffle_flag_model().objects.filter(name=transition.flag).first()
        if flag is None or flag.everyone is False:
            return "old"
        return "new" if flag.everyone else PER_REQUEST
    return "new" if flags.cache.backend()(transition.flag) else "old"


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd)
        return ""


def flip(
    transition: Transition,
    to: str,
    *,
    reason: str,
    actor: str | None = None,
    force: bool = False,
    source: str = "command",
    using: str = "default",
) -> FlipResult:
    """Make *transition* read from *to*; see the module docstring for the rules."""
    if to not in SIDES:
        raise FlipRefused(f"--to must be 'old' or 'new', not {to!r}.")
    side: Side = "new" if to == "new" else "old"
    if not reason or not reason.strip():
        raise FlipRefused(
            f"A flip of {transition.label} needs a reason (--reason TEXT): it goes into the "
            "audit record that the next person on call reads."
        )
    if transition.flag_type == "switch" and get_setting("FLAG_BACKEND") != FLAG_BACKEND:
        raise FlipRefused(
            f"{transition.label} reads its side from FLAGSCHEMA_FLAG_BACKEND="
            f"{get_setting('FLAG_BACKEND')!r}, not from a waffle switch: flip "
            f"{transition.flag!r} in that flag system."
        )
    before = current_side(transition)
    result = FlipResult(
        label=transition.label,
        flag=transition.flag,
        flag_type=transition.flag_type,
        from_side=before,
        to_side=side,
        changed=before != side,
        forced=force,
        actor=actor if actor is not None else default_actor(),
        reason=reason.strip(),
        host=socket.gethostname(),
        propagation=propagation(),
        warnings=propagation_warnings(),
    )
    if not result.changed:
        return result
    if side == "new":
        result.verify = _check_before_flip_to_new(transition, force=force, using=using)
    _set_switch(transition, side, result, source=source)
    return result


def _check_before_flip_to_new(
    transition: Transition, *, force: bool, using: str
) -> dict[str, Any] | None:
    from flagschema.runbook.roundtrip import check_rows, check_samples
    from flagschema.runbook.verify import verify

    problems: list[str] = []
    samples = check_samples(transition)
    if not samples.ok:
        first = samples.problems[0]
        problems.append(
            f"{samples.failed} declared sample(s) do not survive the round trip, e.g. "
            f"{first.where}: {first.detail}"
        )
    # A row whose new shape does not come back from the old one would be changed by the
    # rollback this flip must allow.
    lossy = check_rows(transition, using=using)
    if not lossy.ok:
        keys = ", ".join(repr(pk) for pk in lossy.sample_pks[:5])
        paths = "; ".join(sorted({p.path for p in lossy.problems}))
        problems.append(
            f"{lossy.failed} row(s) do not survive the round trip ({paths}), e.g. pk {keys}"
        )
    shadowed = shadow.stats(transition)
    limit = float(get_setting("SHADOW_MAX_MISMATCH_RATE"))
    if shadowed.compared and shadowed.rate > limit:
        problems.append(
            f"shadow reads found {shadowed.mismatched} mismatching of {shadowed.compared} "
            f"compared ({shadowed.rate:.2%}, above FLAGSCHEMA_SHADOW_MAX_MISMATCH_RATE "
            f"{limit:.2%})"
        )
    report = verify(transition, using=using)
    if not report.clean:
        keys = ", ".join(repr(pk) for pk in report.sample_pks[:5])
        problems.append(
            f"verify found {report.mismatched} mismatching and {report.unfilled} unfilled "
            f"row(s) of {report.checked}" + (f" (pk {keys})" if keys else "")
        )
    if problems and not force:
        raise FlipRefused(
            f"{transition.label} was not flipped to new: {'; '.join(problems)}. Fill the rows "
            "without the new shape with `manage.py flagschema backfill "
            f"{transition.label}`; repair mismatching rows with `manage.py flagschema verify "
            f"{transition.label} --repair` (rows the transforms lose are left alone) or the "
            "transforms; then verify again. Or flip with --force to read the new shape anyway.",
            problems=problems,
            forceable=True,
        )
    return report.as_dict()


_recording = contextvars.ContextVar("flagschema_flip_recording", default=False)


@contextmanager
def _flipping() -> Iterator[None]:
    """Switch saves inside are recorded by :func:`flip` itself, not by the signal receiver."""
    token = _recording.set(True)
    try:
        yield
    finally:
        _recording.reset(token)


def _set_switch(transition: Transition, side: Side, result: FlipResult, *, source: str) -> None:
    """Set the waffle Switch (``active``) or Flag (``everyone``: on for everyone, or off for
    everyone, whatever its percent, users and groups say) and record the flip."""
    from flagschema.models import FlipEvent

    model, attribute = _waffle_model(transition.flag_type)
    with transaction.atomic(), _flipping():
        switch, _ = model.objects.select_for_update().get_or_create(name=transition.flag)
        setattr(switch, attribute, side == "new")
        switch.save()
        # Every transition reading this flag flips with it.
        for label in labels_of_flag(transition.flag, transition.flag_type):
            event = FlipEvent.objects.create(
                label=label,
                flag=transition.flag,
                from_side=result.from_side,
                to_side=side,
                actor=result.actor,
                reason=result.reason,
                host=result.host,
                source=source,
                forced=result.forced,
            )
            if label == transition.label:
                result.event_id = event.pk
    # waffle drops its cached copy when the transaction commits; inside an outer transaction
    # (a test, a caller's atomic block) that is later, so drop it now as well.
    switch.flush()
    flags.cache.forget(transition.flag)
    shadow.reset(transition)  # the shadow counters describe one state of the flag


def labels_of_flag(flag: str, flag_type: str = "switch") -> list[str]:
    return [t.label for t in registry if t.flag == flag and t.flag_type == flag_type]


def _waffle_model(flag_type: str) -> tuple[Any, str]:
    """The waffle model of *flag_type* and its attribute that means "read new"."""
    from waffle import get_waffle_flag_model, get_waffle_switch_model

    if flag_type == "flag":
        return get_waffle_flag_model(), "everyone"
    return get_waffle_switch_model(), "active"


def _waffle_cache() -> tuple[str, str]:
    from waffle.utils import get_setting as waffle_setting

    alias = waffle_setting("CACHE_NAME") or "default"
    backend = settings.CACHES.get(alias, {}).get("BACKEND", "?")
    return alias, backend


def propagation() -> str:
    """How soon every process reads the new side."""
    alias, backend = _waffle_cache()
    ttl = float(get_setting("FLAG_TTL"))
    return (
        f"every process reads it within {ttl:g} s (FLAGSCHEMA_FLAG_TTL) plus one round trip "
        f"to waffle's cache {alias!r} ({backend.rsplit('.', 1)[-1]})"
    )


def propagation_warnings() -> list[str]:
    alias, backend = _waffle_cache()
    if backend.endswith("LocMemCache"):
        return [
            f"waffle's cache {alias!r} is a LocMemCache, one per process: other processes "
            "keep their cached switch until it expires. Use a shared cache (Redis) in "
            "production."
        ]
    return []


# --- flips made outside flagschema -----------------------------------------------------------


def _receivers(flag_type: str) -> tuple[Any, Any, Any]:
    """Signal receivers recording the flips of waffle's Switches (``active``) or Flags
    (``everyone``) made outside flagschema."""
    _, attribute = _waffle_model(flag_type)

    def before_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
        if raw or _recording.get() or not labels_of_flag(instance.name, flag_type):
            return
        previous = (
            sender.objects.filter(pk=instance.pk).values_list(attribute, flat=True).first()
            if instance.pk
            else None
        )
        # A switch or flag that was not there read as waffle's default.
        was = _missing_reads_new(flag_type) if previous is None else bool(previous)
        instance._flagschema_was_on = was

    def after_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
        if raw or _recording.get() or "_flagschema_was_on" not in instance.__dict__:
            return
        was = instance.__dict__.pop("_flagschema_was_on")
        now = bool(getattr(instance, attribute))
        if now != was:
            _record_outside_flip(instance.name, flag_type, was, now)

    def after_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
        # A deleted switch or flag reads as waffle's default (WAFFLE_SWITCH_DEFAULT): the
        # record says what processes read from now on, not that the row went.
        was = bool(getattr(instance, attribute))
        now = _missing_reads_new(flag_type)
        if not _recording.get() and was != now and labels_of_flag(instance.name, flag_type):
            _record_outside_flip(instance.name, flag_type, was, now)

    return before_save, after_save, after_delete


def _missing_reads_new(flag_type: str) -> bool:
    """Whether a transition reads new when its waffle switch does not exist: waffle answers
    ``WAFFLE_SWITCH_DEFAULT`` for a missing switch. Outside a request a missing waffle Flag
    reads old (flagschema asks its ``everyone``), whatever ``WAFFLE_FLAG_DEFAULT`` says."""
    if flag_type == "flag":
        return False
    from waffle.utils import get_setting as waffle_setting

    return bool(waffle_setting("SWITCH_DEFAULT"))


def _record_outside_flip(flag: str, flag_type: str, was: bool, now: bool) -> None:
    from flagschema.models import FlipEvent

    for label in labels_of_flag(flag, flag_type):
        FlipEvent.objects.create(
            label=label,
            flag=flag,
            from_side="new" if was else "old",
            to_side="new" if now else "old",
            actor="",
            reason="switched in waffle, not through flagschema",
            host=socket.gethostname(),
            source="waffle",
        )


_connected: list[Any] = []  # the receivers (signals hold them weakly)


def connect_waffle_signals() -> None:
    from django.db.models.signals import post_delete, post_save, pre_save

    for flag_type in ("switch", "flag"):
        model, _ = _waffle_model(flag_type)
        before, after, deleted = _receivers(flag_type)
        _connected.extend((before, after, deleted))
        uid = f"flagschema-{flag_type}"
        pre_save.connect(before, sender=model, dispatch_uid=f"{uid}-pre")
        post_save.connect(after, sender=model, dispatch_uid=f"{uid}-post")
        post_delete.connect(deleted, sender=model, dispatch_uid=f"{uid}-delete")
