"""``flagschema verify LABEL [--limit N] [--repair [--rewrite-lossy]] [--json]``: do the old and
new shapes of every row agree?

Prints the rows checked, the mismatching and unfilled counts and up to ten primary keys (never
row values), and which mismatching rows the transforms lose (they do not survive the round
trip through the old shape) rather than a write around the ORM. ``--repair`` first gives the
mismatching rows the new shape their old shape gives, leaving the lossy ones alone unless
``--rewrite-lossy``. The exit status is 0 only when every row agrees, 1 otherwise.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from flagschema.exceptions import TransitionError
from flagschema.management.commands.flagschema import MAX_ROWS, label_argument, transition_for
from flagschema.runbook.verify import repair, verify

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
    parser.add_argument(
        "--repair",
        action="store_true",
        help="first give each mismatching row the new shape its old shape gives (rows that "
        "do not survive the round trip are left alone)",
    )
    parser.add_argument(
        "--rewrite-lossy",
        action="store_true",
        help="with --repair: rewrite the rows that do not survive the round trip too (their "
        "new shape, as the application wrote it, is replaced)",
    )


def run(command: Any, options: dict[str, Any]) -> int:
    transition = transition_for(options["label"])
    limit = options.get("limit")
    if limit is not None and not 0 <= limit <= MAX_ROWS:
        raise CommandError(
            f"--limit {limit}: give a number of rows, 0 or more, at most {MAX_ROWS}."
        )
    if options.get("rewrite_lossy") and not options.get("repair"):
        raise CommandError("--rewrite-lossy goes with --repair.")
    using = options.get("database") or "default"
    repaired = None
    try:
        if options.get("repair"):
            repaired = repair(transition, using=using, rewrite_lossy=options["rewrite_lossy"])
        report = verify(transition, using=using, limit=limit)
    except TransitionError as exc:
        raise CommandError(str(exc)) from None
    if options.get("json"):
        data = report.as_dict()
        if repaired is not None:
            data["repair"] = repaired.as_dict()
        command.print_json(data)
        return 0 if report.clean else 1
    how = "in SQL" if report.method == "sql" else "in Python, row by row"
    out = command.stdout
    if repaired is not None:
        out.write(
            f"{report.label}: repaired {repaired.repaired:,} mismatching row(s)"
            f"{_keys(repaired.repaired_pks, repaired.repaired)}: their new shape is what "
            "forward() makes of their old shape."
        )
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
    if report.lossy:
        out.write(
            f"{report.label}: {report.lossy:,} mismatching row(s) do not survive the round trip "
            f"through the old shape{_keys(report.lossy_pks, report.lossy)}: their old shape is "
            "what backward() makes of their new shape, and forward() does not give it back. "
            "The transforms lose these values (nothing wrote around the ORM): a flip to old "
            "and a save would change them. Make the transforms lossless, or restrict the new "
            "values to what the old shape can hold; a repair rewrites them only with "
            f"--rewrite-lossy: manage.py flagschema verify {report.label} --repair "
            "--rewrite-lossy"
        )
    if report.mismatched > report.lossy:
        out.write(
            "Mismatching rows hold a new shape that is not what forward() makes of their old "
            "shape: written around the ORM (raw SQL, another service, the previous release). "
            "Give them the new shape of their old one: "
            f"manage.py flagschema verify {report.label} --repair"
        )
    return 1


def _keys(keys: list[Any], count: int) -> str:
    if not keys:
        return ""
    more = ", ..." if count > len(keys) else ""
    return f" (primary keys: {', '.join(str(pk) for pk in keys)}{more})"
