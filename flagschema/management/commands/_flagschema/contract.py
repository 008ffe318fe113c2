"""``flagschema contract LABEL``: write the migration that drops the old column(s), and print
the code change that goes with it (see :mod:`flagschema.runbook.contract`)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from flagschema.management.commands.flagschema import label_argument, transition_for

HELP = (
    "write the migration that drops a transition's old column(s) and print the code change "
    "(the transition becomes plain fields); refused unless reads are on the new side and "
    "verify is clean"
)


def add_arguments(parser: CommandParser) -> None:
    label_argument(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the migration instead of writing it"
    )
    parser.add_argument(
        "--database", default="default", help="the database to check (default: 'default')"
    )


def run(command: Any, options: dict[str, Any]) -> int:
    from flagschema.exceptions import ContractRefused
    from flagschema.runbook.contract import contract, display_path

    transition = transition_for(options["label"])
    dry_run = options["dry_run"]
    try:
        result = contract(transition, using=options["database"], write=not dry_run)
    except ContractRefused as exc:
        raise CommandError(str(exc)) from None
    change = result.code_change
    if options["json"]:
        command.print_json(
            {
                "label": result.label,
                "dry_run": dry_run,
                "migration": {
                    "app_label": result.app_label,
                    "name": result.name,
                    "path": result.path,
                    "written": result.written,
                    "operations": [
                        {
                            "operation": type(op).__name__,
                            "model_name": getattr(op, "model_name", None),
                            "name": getattr(op, "name", None),
                            "description": op.describe(),
                        }
                        for op in result.operations
                    ],
                    "text": result.text,
                },
                "code_change": {
                    "path": change.path,
                    "first_line": change.first_line,
                    "last_line": change.last_line,
                    "before": change.before,
                    "after": change.after,
                    "imports": list(change.imports),
                    "diff": change.diff,
                    "notes": list(change.notes),
                },
                "verify": result.verify.as_dict(),
                "next_steps": list(result.next_steps),
            }
        )
        return 0
    out = command.stdout.write
    path = display_path(result.path)
    out(
        f"{result.label}: reads are on the new side and verify is clean "
        f"({result.verify.checked} rows checked)."
    )
    out(f"{'Would write' if dry_run else 'Wrote'} {path}:")
    for op in result.operations:
        out(f"  - {op.describe()}")
    if dry_run:
        out("")
        out(result.text.rstrip("\n"))
    out("")
    if change.path is not None:
        out(f"Code change, in the same release ({display_path(change.path)}):")
        out(change.diff.rstrip("\n"))
    else:
        out("Code change, in the same release: replace the transition's declaration with")
        out(change.after.rstrip("\n"))
    if change.imports:
        out("which needs: " + "; ".join(change.imports))
    for note in change.notes:
        out(f"- {note}")
    out("")
    out("Next:")
    for number, step in enumerate(result.next_steps, 1):
        out(f"  {number}. {step}")
    return 0
