"""The state of every declared transition: what on-call reads first."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError

from flagschema import shadow
from flagschema.flags import shadowing
from flagschema.runbook.flip import current_side
from flagschema.runbook.rows import count_unfilled, rows
from flagschema.transitions import Transition, registry
from flagschema.triggers import triggers_installed


@dataclass
class TransitionStatus:
    label: str
    model: str
    kind: str
    flag: str
    flag_type: str  # "switch" or "flag" (a waffle Flag: per request)
    old_columns: list[str]
    new_columns: list[str]
    read_side: str  # what the flag says now: "old", "new" or "per-request" (a waffle Flag)
    rows: int | None  # None when the table could not be read (see error)
    unfilled: int | None  # rows with an old shape and no new shape
    backfill: dict[str, Any] | None  # the last backfill's progress, None if never run
    last_verify: dict[str, Any] | None
    last_flip: dict[str, Any] | None
    # Shadow reads: whether they are on, and the counts since the last flip (every process).
    shadow: dict[str, Any] | None = None
    error: str | None = None
    # Whether the sync triggers (flagschema.operations.InstallSyncTriggers) are installed;
    # None when the database cannot tell (another vendor, its catalog unreadable).
    triggers: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def transition_status(
    transition: Transition, *, using: str = "default", count_rows: bool = True
) -> TransitionStatus:
    from flagschema.models import BackfillProgress, FlipEvent, VerifyRun

    label = transition.label
    status = TransitionStatus(
        label=label,
        model=transition.model._meta.label,
        kind=transition.kind,
        flag=transition.flag,
        flag_type=transition.flag_type,
        old_columns=list(transition.old_columns),
        new_columns=list(transition.new_columns),
        read_side=current_side(transition),
        rows=None,
        unfilled=None,
        backfill=None,
        last_verify=None,
        last_flip=None,
    )
    counts = shadow.stats(transition)
    status.shadow = {
        "on": shadowing(transition) if status.read_side == "old" else False,
        "compared": counts.compared,
        "mismatched": counts.mismatched,
        "rate": counts.rate,
        "since": datetime.fromtimestamp(counts.since, tz=UTC) if counts.since else None,
    }
    if count_rows:
        try:
            status.rows = rows(transition, using).count()
            status.unfilled = count_unfilled(transition, using)
        except DatabaseError as exc:
            status.error = (
                f"the table could not be read ({type(exc).__name__}: {exc}); "
                "is the expand migration applied?"
            )
    status.triggers = triggers_installed(transition, using)
    progress = BackfillProgress.objects.using(using).filter(label=label).first()
    if progress is not None:
        status.backfill = {
            "rows_done": progress.rows_done,
            "rows_written": progress.rows_written,
            "last_pk": json.loads(progress.last_pk) if progress.last_pk else None,
            "started": progress.started,
            "updated": progress.updated,
            "finished": progress.finished,
        }
    run = VerifyRun.objects.using(using).filter(label=label).first()
    if run is not None:
        status.last_verify = {
            "when": run.created,
            "checked": run.checked,
            "mismatched": run.mismatched,
            "unfilled": run.unfilled,
            "clean": run.is_clean,
            "sample_pks": json.loads(run.sample_pks) if run.sample_pks else [],
        }
    event = FlipEvent.objects.using(using).filter(label=label).first()
    if event is not None:
        status.last_flip = {
            "when": event.created,
            "actor": event.actor,
            "from": event.from_side,
            "to": event.to_side,
            "reason": event.reason,
            "source": event.source,
            "host": event.host,
            "forced": event.forced,
        }
    return status


def status(
    *, using: str = "default", labels: list[str] | None = None, count_rows: bool = True
) -> list[TransitionStatus]:
    """The status of every declared transition (or of *labels*), by label."""
    chosen = [registry[label] for label in labels] if labels else list(registry)
    return [transition_status(t, using=using, count_rows=count_rows) for t in chosen]
