"""What the runbook records: flips (the audit trail), backfill progress and verify results."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class FlipEvent(models.Model):
    """One change of a transition's read side: who, when, from, to, why, where."""

    SOURCES = [
        ("command", "manage.py flagschema flip"),
        ("admin", "the Schema transitions admin"),
        ("waffle", "waffle's own admin or commands"),
    ]

    label = models.CharField(max_length=255, db_index=True)
    flag = models.CharField(max_length=255)
    # "old" or "new"; from_side may be "per-request" (a waffle Flag in a partial rollout).
    from_side = models.CharField(max_length=12)
    to_side = models.CharField(max_length=12)
    actor = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    host = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=SOURCES, default="command")
    forced = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        permissions = [("flip_transition", "Can flip a schema transition's read side")]

    def __str__(self) -> str:
        return f"{self.label}: {self.from_side} -> {self.to_side} by {self.actor or '?'}"


class BackfillProgress(models.Model):
    """How far the backfill of one transition got: the last primary key of the last committed
    batch, so that a killed backfill resumes after it."""

    label = models.CharField(max_length=255, unique=True)
    # JSON of the last primary key done (an int, a string, a UUID's text).
    last_pk = models.TextField(blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_written = models.BigIntegerField(default=0)
    batches = models.BigIntegerField(default=0)
    started = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        state = "finished" if self.finished else "in progress"
        return f"{self.label}: {self.rows_done} rows, {state}"


class VerifyRun(models.Model):
    """The result of one ``flagschema verify``."""

    label = models.CharField(max_length=255, db_index=True)
    checked = models.BigIntegerField(default=0)
    mismatched = models.BigIntegerField(default=0)
    unfilled = models.BigIntegerField(default=0)
    # JSON list of up to a few primary keys of mismatching rows.
    sample_pks = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.label}: {self.mismatched} mismatched of {self.checked}"

    @property
    def is_clean(self) -> bool:
        return self.mismatched == 0 and self.unfilled == 0
