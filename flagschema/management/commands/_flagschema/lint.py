"""``flagschema lint [APP ...]``: migrations that rename, drop or retype a column outside a
transition, for CI (exit status 1 when there is one nobody accepted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import CommandError, CommandParser

from flagschema.exceptions import LintError
from flagschema.runbook.lint import Finding, LintReport, acceptance, lint

if TYPE_CHECKING:
    from flagschema.management.commands.flagschema import Command

HELP = (
    "Report migrations that rename, drop or change the type of a column outside a transition "
    "(file, line, operation); exit status 1 when one is not accepted. Reads the project's "
    "own apps, or the APPs given; opens no database connection."
)


def add_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "apps", nargs="*", metavar="APP", help="app labels (default: the project's own apps)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="warnings (RunSQL) fail the exit status too"
    )
    parser.add_argument(
        "--accept",
        metavar="MIGRATION",
        help="print the line that accepts app_label.migration_name once reviewed "
        "(the file is not changed)",
    )
    parser.add_argument("--reason", help="with --accept: why the migration is safe")


def run(command: Command, options: dict[str, Any]) -> int:
    try:
        if options["accept"] is not None:  # `--accept=` too: a migration that is none
            if options["apps"]:
                raise CommandError("--accept takes one migration and no APP arguments.")
            return _accept(command, options)
        if options["reason"] is not None:  # an empty one too: it was given
            raise CommandError("--reason goes with --accept MIGRATION.")
        report = lint(options["apps"])
    except LintError as exc:
        raise CommandError(str(exc)) from None
    status = report.exit_status(strict=options["strict"])
    if options["json"]:
        command.print_json({**report.as_dict(), "exit_status": status})
        return status
    write = command.stdout.write
    for finding in report.findings:
        if not finding.accepted:
            write(_line(finding))
    write(_summary(report))
    if report.problems:
        first = report.problems[0].label
        write(
            "Declare a transition instead (RenamedField, ConvertedField, Transition), or, once "
            f"reviewed, accept the migration: manage.py flagschema lint --accept {first} "
            "--reason 'reviewed: safe without a transition'"
        )
    return status


def _accept(command: Command, options: dict[str, Any]) -> int:
    found = acceptance(options["accept"], options["reason"])
    if options["json"]:
        command.print_json(found.as_dict())
        return 0
    write = command.stdout.write
    if found.already:
        write(f"{found.label} is accepted already ({found.already}).")
    write(f"To accept {found.label}, add this line to the Migration class in {found.path}:")
    write("")
    write(f"    {found.line}")
    write("")
    if found.findings:
        write(
            f"It accepts what lint reports there now ({_count(len(found.findings), 'operation')}):"
        )
        for finding in found.findings:
            write(f"  {_line(finding)}")
    else:
        write("Lint reports nothing in it: it needs no acceptance.")
    return 0


def _summary(report: LintReport) -> str:
    found = [
        _count(n, noun)
        for n, noun in ((len(report.problems), "problem"), (len(report.warnings), "warning"))
        if n
    ]
    summary = (
        f"{' and '.join(found) or 'No problems'} in {_count(report.migrations, 'migration')} "
        f"of {', '.join(report.apps) or 'no apps'}"
    )
    if report.accepted:
        summary += (
            f"; {_count(len(report.accepted), 'operation')} accepted in "
            f"{_count(len({f.label for f in report.accepted}), 'migration')}"
        )
    return f"{summary} (column types compared on {', '.join(report.backends)})."


def _line(finding: Finding) -> str:
    return (
        f"{finding.location}: {finding.severity}: {finding.label} "
        f"operations[{finding.index}] {finding.operation}: {finding.message}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
