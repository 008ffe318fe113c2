"""``python manage.py flagschema <verb>``: the runbook, one thin command over
:mod:`flagschema.runbook`.

Each verb lives in ``flagschema/management/commands/_flagschema/<verb>.py`` with ``HELP``,
``add_arguments(parser)`` and ``run(command, options) -> int`` (the exit status). Every verb
takes ``--json``. Errors are :class:`~django.core.management.CommandError`, one line each.
"""

from __future__ import annotations

import json
import pkgutil
import sys
from importlib import import_module
from types import ModuleType
from typing import Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# The order `--help` lists them in; each is a module of the _flagschema package.
ORDER = ("status", "backfill", "verify", "flip", "contract", "lint")
# The most rows a --batch-size or --limit may name: the databases take a 64-bit signed integer
# in LIMIT and OFFSET, and refuse (or cannot be sent) a larger one.
MAX_ROWS = 2**63 - 1


def verbs() -> list[str]:
    from flagschema.management.commands import _flagschema

    found = {m.name for m in pkgutil.iter_modules(_flagschema.__path__)}
    return sorted(found, key=lambda v: (ORDER.index(v) if v in ORDER else len(ORDER), v))


def verb_module(verb: str) -> ModuleType:
    return import_module(f"flagschema.management.commands._flagschema.{verb}")


class Command(BaseCommand):
    help = (
        "Operate schema transitions: status, backfill LABEL, verify LABEL, flip LABEL --to "
        "old|new --reason TEXT, contract LABEL, lint [APP ...]. Every verb takes --json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subparsers = parser.add_subparsers(
            dest="verb", metavar="VERB", required=True, parser_class=CommandParser
        )
        # The options of each verb that take one value: dest -> option.
        self.one_value: dict[str, dict[str, str]] = {}
        for verb in verbs():
            module = verb_module(verb)
            sub = subparsers.add_parser(verb, help=module.HELP, description=module.HELP)
            sub.add_argument(
                "--json", action="store_true", help="print one JSON document, for scripts"
            )
            module.add_arguments(sub)
            self.one_value[verb] = {
                a.dest: a.option_strings[-1]
                for a in sub._actions
                if a.option_strings and a.nargs is None
            }

    def get_check_kwargs(self, options: dict[str, Any]) -> Any:
        # The system checks run before a verb are the static ones, as Django before 6.1 runs
        # them: since 6.1 they default to every database in DATABASES, and MySQL's backend
        # connects for its field checks, so `lint` (CI, no server) would fail and the other
        # verbs would connect to databases they do not use. `manage.py check --database`
        # runs the database checks.
        return {**cast(dict[str, Any], super().get_check_kwargs(options)), "databases": []}

    def handle(self, *args: Any, **options: Any) -> None:
        verb = options["verb"]
        for dest, option in getattr(self, "one_value", {}).get(verb, {}).items():
            # `--limit=--` names no value: argparse before Python 3.13 reads it as an empty
            # list (unconverted), 3.13 as the text '--'. Refused alike on every version.
            value = options.get(dest)
            if isinstance(value, list) or value == "--":
                raise CommandError(f"{option}: give a value ('--' is none).")
        database = options.get("database")
        if database is not None and database not in settings.DATABASES:
            raise CommandError(
                f"--database {database!r} is not in DATABASES (the aliases are "
                f"{', '.join(map(repr, settings.DATABASES))})."
            )
        status = verb_module(verb).run(self, options)
        if status:
            # The report is printed; the status tells scripts and CI what it said.
            sys.exit(status)

    def print_json(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))


def label_argument(parser: CommandParser) -> None:
    parser.add_argument("label", help="the transition, app_label.Model.field (see `status`)")


def transition_for(label: str) -> Any:
    """The registered transition *label*, or a one-line CommandError listing the labels."""
    from flagschema.exceptions import TransitionError
    from flagschema.transitions import registry

    try:
        return registry[label]
    except TransitionError as exc:
        raise CommandError(str(exc)) from None
