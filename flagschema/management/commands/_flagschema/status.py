"""``flagschema status [LABEL ...] [--json]``: every transition, its read side and its state."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from flagschema.exceptions import TransitionError
from flagschema.runbook.status import TransitionStatus, status

HELP = (
    "list every declared transition: columns, flag and read side, rows without the new "
    "shape, the sync triggers, the last backfill, verify and flip"
)


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument("labels", nargs="*", metavar="LABEL", help="only these transitions")
    parser.add_argument(
        "--no-count", action="store_true", help="do not count rows (a large table is scanned)"
    )
    parser.add_argument(
        "--database", default="default", help="the database alias (default: %(default)s)"
    )


def run(command: Any, options: dict[str, Any]) -> int:
    try:
        found = status(
            using=options["database"],
            labels=options["labels"] or None,
            count_rows=not options["no_count"],
        )
    except TransitionError as exc:
        raise CommandError(str(exc)) from None
    if options["json"]:
        command.print_json([s.as_dict() for s in found])
        return 0
    if not found:
        command.stdout.write("No transitions are declared.")
        return 0
    for i, item in enumerate(found):
        if i:
            command.stdout.write("")
        _print(command, item)
    return 0


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else "?"


def _print(command: Any, s: TransitionStatus) -> None:
    style = command.style
    if s.read_side == "new":
        side = style.SUCCESS("NEW")
    elif s.read_side == "old":
        side = style.WARNING("OLD")
    else:  # a waffle Flag rolling out: its percent, users and groups decide per request
        side = style.WARNING("PER REQUEST") + " (old outside requests)"
    command.stdout.write(style.MIGRATE_HEADING(s.label) + f"  ({s.kind} on {s.model})")
    command.stdout.write(f"  columns    {', '.join(s.old_columns)} -> {', '.join(s.new_columns)}")
    command.stdout.write(f"  reads      {side}  (waffle {s.flag_type} {s.flag!r})")
    if s.error:
        command.stdout.write("  rows       " + style.ERROR(s.error))
    elif s.rows is not None:
        unfilled = f"{s.unfilled:,} without the new shape"
        if s.unfilled:
            unfilled = style.WARNING(unfilled)
        command.stdout.write(f"  rows       {s.rows:,}, {unfilled}")
    if s.triggers is not None:
        triggers = "installed" if s.triggers else "not installed"
        command.stdout.write(f"  triggers   {triggers}")
    if s.backfill is None:
        command.stdout.write("  backfill   never run")
    else:
        b = s.backfill
        state = f"finished {_when(b['finished'])}" if b["finished"] else "in progress"
        command.stdout.write(
            f"  backfill   {state}: {b['rows_done']:,} rows done, last pk {b['last_pk']!r}"
        )
    if s.last_verify is None:
        command.stdout.write("  verify     never run")
    else:
        v = s.last_verify
        if v["clean"]:
            verdict = style.SUCCESS("clean")
        else:
            verdict = style.ERROR(f"{v['mismatched']:,} mismatching, {v['unfilled']:,} unfilled")
        command.stdout.write(
            f"  verify     {verdict} ({v['checked']:,} rows) at {_when(v['when'])}"
        )
    if s.shadow is not None and (s.shadow["on"] or s.shadow["compared"]):
        sh = s.shadow
        state = "on" if sh["on"] else "off"
        counts = f"{sh['mismatched']:,} mismatching of {sh['compared']:,} compared"
        if sh["mismatched"]:
            counts = style.ERROR(counts)
        command.stdout.write(f"  shadow     {state}: {counts} since {_when(sh['since'])}")
    if s.last_flip is None:
        command.stdout.write("  last flip  never flipped")
    else:
        f = s.last_flip
        who = f["actor"] or "someone"
        forced = " (forced)" if f["forced"] else ""
        command.stdout.write(
            f"  last flip  {f['from']} -> {f['to']}{forced} at {_when(f['when'])} by {who} "
            f"via {f['source']}: {f['reason']!r}"
        )
