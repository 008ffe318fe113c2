"""``flagschema backfill LABEL [--batch-size N] [--sleep SECONDS] [--dry-run] [--restart]``.

Fills the new shape of the rows that lack it, one primary-key range per transaction, resuming
where an interrupted run stopped. On a terminal, stderr shows a progress bar (rows done, rate,
time left); elsewhere (logs, CI) a plain line every few seconds.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser

from flagschema.exceptions import TransitionError
from flagschema.management.commands.flagschema import MAX_ROWS, label_argument, transition_for
from flagschema.runbook.backfill import DEFAULT_BATCH_SIZE, BackfillStep, backfill

HELP = (
    "fill the new shape of the rows that lack it, in primary-key ranges of one short "
    "transaction each; an interrupted run resumes where it stopped"
)

# Seconds between two progress lines when stderr is not a terminal, and between two redraws of
# the bar when it is.
PLAIN_LINE_SECONDS = 2.0
BAR_REDRAW_SECONDS = 0.1
BAR_WIDTH = 30
# The longest --sleep: a pause of more than a day between two ranges is a mistake (milliseconds
# meant for seconds), and time.sleep() refuses more than about 9 * 10**9 seconds.
MAX_SLEEP_SECONDS = 86_400.0


def add_arguments(parser: CommandParser) -> None:
    label_argument(parser)
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help=(
            f"rows per range and transaction (default {DEFAULT_BATCH_SIZE['sql']:,} when the "
            f"new shape is computed in SQL, {DEFAULT_BATCH_SIZE['python']:,} in Python)"
        ),
    )
    parser.add_argument(
        "--sleep",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause between two ranges, to leave the database room (default 0, at most a day)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count the rows to fill and show the statement"
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start from the first row instead of resuming an interrupted run",
    )
    parser.add_argument(
        "--database", default="default", help="the database alias (default: %(default)s)"
    )


def run(command: Any, options: dict[str, Any]) -> int:
    transition = transition_for(options["label"])
    batch_size = options.get("batch_size")
    if batch_size is not None and not 1 <= batch_size <= MAX_ROWS:
        raise CommandError(
            f"--batch-size {batch_size}: a range holds at least one row, and at most {MAX_ROWS}."
        )
    sleep = options.get("sleep") or 0.0
    if not 0 <= sleep <= MAX_SLEEP_SECONDS:  # NaN too
        raise CommandError(
            f"--sleep {sleep}: give 0 or more seconds, at most {MAX_SLEEP_SECONDS:,.0f} (a day)."
        )
    printer = ProgressPrinter(command.stderr, transition.label)
    try:
        report = backfill(
            transition,
            using=options.get("database") or "default",
            batch_size=batch_size,
            sleep=sleep,
            dry_run=options.get("dry_run", False),
            restart=options.get("restart", False),
            progress=printer,
        )
    except TransitionError as exc:
        printer.close()
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        printer.close()
        command.stderr.write(
            f"Interrupted. The ranges committed so far are kept; run `manage.py flagschema "
            f"backfill {transition.label}` again to resume."
        )
        return 130
    printer.close()
    if options.get("json"):
        command.print_json(report.as_dict())
        return 1 if report.failed else 0
    out = command.stdout
    how = "in SQL" if report.method == "sql" else "in Python (forward)"
    if report.dry_run:
        ranges = -(-report.total // report.batch_size)
        out.write(
            f"Dry run: {report.unfilled:,} of {report.total:,} rows of {report.label} have no "
            f"new shape. The backfill would fill them {how}, in about {ranges:,} ranges of "
            f"{report.batch_size:,} rows, each with:\n  {report.statement}\nNothing was written."
        )
        return 0
    if report.resumed_from is not None:
        out.write(f"Resumed after primary key {report.resumed_from}.")
    out.write(
        f"Backfilled {report.label} {how}: {report.done:,} rows in {report.batches:,} ranges "
        f"of up to {report.batch_size:,}, {report.written:,} given their new shape, "
        f"{report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s); longest range "
        f"{report.max_batch_seconds * 1000:.0f} ms."
    )
    if report.failed:
        keys = ", ".join(str(pk) for pk in report.failed_pks)
        out.write(
            f"{report.failed:,} rows kept no new shape: forward raised for them (first keys: "
            f"{keys}). Fix forward or those rows, then run the backfill again."
        )
        return 1
    out.write(f"Next: manage.py flagschema verify {report.label}")
    return 0


class ProgressPrinter:
    """Renders :class:`~flagschema.runbook.backfill.BackfillStep` on *out* (the command's
    stderr): a bar redrawn in place on a terminal, a plain line now and then elsewhere."""

    def __init__(self, out: Any, label: str) -> None:
        self.out = out
        self.label = label
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.drawn = False
        self.shown_at: float | None = None

    def __call__(self, step: BackfillStep) -> None:
        now = time.monotonic()
        last = step.done >= step.total
        every = BAR_REDRAW_SECONDS if self.tty else PLAIN_LINE_SECONDS
        if not last and self.shown_at is not None and now - self.shown_at < every:
            return
        self.shown_at = now
        text = self.describe(step)
        if self.tty:
            filled = int(BAR_WIDTH * step.done / step.total) if step.total else BAR_WIDTH
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self.out.write(f"\r[{bar}] {text}\033[K", ending="", style_func=_plain)
            self.out.flush()
            self.drawn = True
        else:
            self.out.write(f"{self.label}: {text}", style_func=_plain)

    @staticmethod
    def describe(step: BackfillStep) -> str:
        rate = step.done / step.elapsed if step.elapsed > 0 else 0.0
        percent = 100 * step.done / step.total if step.total else 100.0
        if rate > 0:
            eta = str(timedelta(seconds=round(max(step.total - step.done, 0) / rate)))
        else:
            eta = "?"
        return (
            f"{step.done:,}/{step.total:,} rows ({percent:.0f}%), {step.written:,} written, "
            f"{rate:,.0f} rows/s, ETA {eta}"
        )

    def close(self) -> None:
        if self.drawn:
            self.out.write("", style_func=_plain)
            self.drawn = False


def _plain(text: str) -> str:
    return text
