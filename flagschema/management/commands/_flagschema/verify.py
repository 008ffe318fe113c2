"""``flagschema verify LABEL [--limit N] [--json]``: do the old and new shapes of every row agree?

Prints the rows checked, the mismatching and unfilled counts and up to ten primary keys (never
row values). The exit status is 0 only when every row agrees, 1 otherwise.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from flagschema.exceptions import TransitionError
from flagschema.management.commands.flagschema import MAX_ROWS, label_argument, transition_for
from flagschema.runbook.verify import verify

HELP = (
    "compare the old and new shapes of every row (in SQL where the transition allows it); "
    "exit status 1 when a row disagrees or has no new shape"
)


def add_arguments(parser: CommandParser) -> None:
    label_argument(parser)
    parser.add_argument(
        "--limit", type=int, metavar="N", help="compare only the first N rows, by primary key"
    )
    parser.add_argument(
        "--database", default="default", help="the database alias (default: %(default)s)"
    )


def run(command: Any, options: dict[str, Any]) -> int:
    transition = transition_for(options["label"])
    limit = options.get("limit")
    if limit is not None and not 0 <= limit <= MAX_ROWS:
        raise CommandError(
            f"--limit {limit}: give a number of rows, 0 or more, at most {MAX_ROWS}."
        )
    try:
        report = verify(transition, using=options.get("database") or "default", limit=limit)
    except TransitionError as exc:
        raise CommandError(str(exc)) from None
    if options.get("json"):
        command.print_json(report.as_dict())
        return 0 if report.clean else 1
    how = "in SQL" if report.method == "sql" else "in Python, row by row"
    out = command.stdout
    out.write(f"{report.label}: {report.checked:,} rows compared {how}.")
    shown = min(report.mismatched, len(report.sample_pks))
    for what, count, keys in (
        ("mismatching", report.mismatched, report.sample_pks[:shown]),
        ("without the new shape", report.unfilled, report.sample_pks[shown:]),
    ):
        out.write(f"  {what}: {count:,}{_keys(keys, count)}")
    if report.clean:
        out.write(command.style.SUCCESS("Clean: every row holds both shapes, and they agree."))
        return 0
    if report.unfilled:
        out.write(
            f"Fill the rows without the new shape: manage.py flagschema backfill {report.label}"
        )
    if report.mismatched:
        out.write(
            "Mismatching rows hold a new shape that is not what forward() makes of their old "
            "shape: written around the ORM (raw SQL, another service, the previous release)."
        )
    return 1


def _keys(keys: list[Any], count: int) -> str:
    if not keys:
        return ""
    more = ", ..." if count > len(keys) else ""
    return f" (primary keys: {', '.join(str(pk) for pk in keys)}{more})"
