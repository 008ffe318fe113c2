"""``flagschema flip LABEL --to old|new --reason TEXT [--force] [--actor NAME] [--json]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from flagschema.exceptions import TransitionError
from flagschema.management.commands.flagschema import label_argument, transition_for
from flagschema.runbook.flip import flip

HELP = (
    "flip a transition's read side (a rollback is --to old); a flip to new is refused "
    "while verify finds mismatching or unfilled rows, unless --force"
)


def add_arguments(parser: CommandParser) -> None:
    label_argument(parser)
    parser.add_argument("--to", required=True, choices=["old", "new"], help="the side to read")
    parser.add_argument(
        "--reason", required=True, help="why, for the audit record (an incident id helps)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="flip to new even when verify finds mismatching or unfilled rows",
    )
    parser.add_argument("--actor", help="who flips (default: the OS user)")
    parser.add_argument(
        "--database", default="default", help="the database alias (default: %(default)s)"
    )


def run(command: Any, options: dict[str, Any]) -> int:
    transition = transition_for(options["label"])
    reason, actor = options["reason"], options.get("actor")
    _check_storable(reason, actor)
    try:
        result = flip(
            transition,
            options["to"],
            reason=reason,
            actor=actor,
            force=options["force"],
            using=options["database"],
        )
    except TransitionError as exc:
        raise CommandError(str(exc)) from None
    if options["json"]:
        command.print_json(result.as_dict())
        return 0
    style = command.style
    if not result.changed:
        command.stdout.write(
            f"{result.label} already reads {result.to_side.upper()}; nothing was changed."
        )
        return 0
    forced = style.WARNING(" (forced)") if result.forced else ""
    command.stdout.write(
        style.SUCCESS(
            f"{result.label} now reads {result.to_side.upper()} (was {result.from_side.upper()})."
        )
        + forced
    )
    what = "Flag" if result.flag_type == "flag" else "Switch"
    setting = "Everyone " + ("on" if result.to_side == "new" else "off")
    command.stdout.write(
        f"waffle {what} {result.flag!r}"
        + (f" ({setting})" if result.flag_type == "flag" else "")
        + f"; recorded as flip #{result.event_id}."
    )
    command.stdout.write(f"When: {result.propagation}.")
    for warning in result.warnings:
        command.stdout.write(style.WARNING(f"Warning: {warning}"))
    if result.from_side == "per-request":
        command.stdout.write(
            f"Undo: resume the rollout by setting Everyone of the waffle Flag {result.flag!r} "
            "back to Unknown in waffle's admin (its percent, users and groups are kept)."
        )
    else:
        command.stdout.write(
            f"Undo: manage.py flagschema flip {result.label} --to {result.from_side} "
            f"--reason 'undo of flip #{result.event_id}'"
        )
    return 0


def _check_storable(reason: str, actor: str | None) -> None:
    """Refuse, before anything is flipped, a --reason or --actor that the audit record
    (:class:`~flagschema.models.FlipEvent`) cannot store on every database."""
    from flagschema.models import FlipEvent

    for option, value in (("--reason", reason), ("--actor", actor)):
        if value is None:
            continue
        if "\x00" in value:
            raise CommandError(
                f"{option}: a NUL character cannot be stored (PostgreSQL refuses it)."
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # bytes the terminal's encoding could not decode
            raise CommandError(
                f"{option}: not valid text (check the terminal's encoding)."
            ) from None
    longest = FlipEvent._meta.get_field("actor").max_length
    if actor is not None and longest is not None and len(actor) > longest:
        raise CommandError(
            f"--actor is {len(actor):,} characters long; the audit record holds {longest}."
        )
