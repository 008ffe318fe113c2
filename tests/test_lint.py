"""`flagschema lint`: migrations that rename, drop or retype a column outside a transition.

The test app `tests.apps.lintme` has one scenario per migration; it is installed only for
these tests (its migrations are read, never applied). No test here has database access:
pytest-django refuses any query, so they also prove that lint connects to no database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import modify_settings, override_settings

from flagschema.runbook.lint import lint, offline_backends, project_apps

MIGRATIONS = Path(__file__).parent / "apps" / "lintme" / "migrations"

# (migration, operation index, operation, kind) of every problem in tests/apps/lintme.
PROBLEMS = [
    ("0003_rename_field", 0, "RenameField", "rename"),
    ("0004_remove_field", 0, "RemoveField", "drop"),
    ("0005_alter_type", 0, "AlterField", "type"),
    ("0005_alter_type", 1, "AlterField", "type"),
    ("0008_tables", 0, "RenameModel", "rename"),
    ("0008_tables", 1, "RenameModel", "rename"),
    ("0008_tables", 2, "DeleteModel", "drop"),
    ("0008_tables", 3, "AlterField", "type"),
    ("0008_tables", 4, "AlterField", "rename"),
    ("0008_tables", 5, "AlterModelTable", "rename"),
    ("0008_tables", 6, "AlterOrderWithRespectTo", "drop"),
    ("0008_tables", 7, "AlterField", "type"),
    ("0008_tables", 8, "RemoveField", "drop"),
]


@pytest.fixture
def lintme() -> Iterator[None]:
    with modify_settings(INSTALLED_APPS={"append": "tests.apps.lintme"}):
        yield


def run_lint(*args: str) -> tuple[int, str]:
    """(exit status, stdout) of `manage.py flagschema lint *args`."""
    out = StringIO()
    try:
        call_command("flagschema", "lint", *args, stdout=out)
    except SystemExit as exc:
        assert isinstance(exc.code, int) and exc.code != 0
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def lint_json(*args: str) -> tuple[int, dict[str, Any]]:
    status, out = run_lint(*args, "--json")
    return status, json.loads(out)


def keys(findings: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return [(f["migration"], f["index"], f["operation"], f["kind"]) for f in findings]


def shown(migration: str) -> str:
    """The migration's path as lint prints it: relative to the working directory."""
    path = MIGRATIONS / f"{migration}.py"
    relative = os.path.relpath(path)
    return str(path) if relative.startswith(os.pardir) else relative


def line_of(migration: str, text: str) -> int:
    lines = (MIGRATIONS / f"{migration}.py").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


@pytest.mark.usefixtures("lintme")
def test_a_rename_field_and_a_remove_field_fail_and_an_additive_migration_passes() -> None:
    status, report = lint_json("lintme")
    assert status == 1
    assert report["exit_status"] == 1
    assert keys(report["problems"])[:2] == [
        ("0003_rename_field", 0, "RenameField", "rename"),
        ("0004_remove_field", 0, "RemoveField", "drop"),
    ]
    rename, remove = report["problems"][:2]
    assert rename["message"] == "renames column lintme_invoice.number to reference"
    assert remove["message"] == "drops column lintme_invoice.note"
    assert rename["label"] == "lintme.0003_rename_field"
    assert rename["description"] == "Rename field number on invoice to reference"
    # 0002 adds a field and an index, widens a varchar, changes a default and a related_name.
    everything = report["problems"] + report["warnings"] + report["accepted"]
    assert "0002_additive" not in {f["migration"] for f in everything}
    assert report["migrations"] == 9
    assert report["apps"] == ["lintme"]


@pytest.mark.usefixtures("lintme")
def test_every_rename_drop_and_type_change_is_found_and_state_only_changes_are_not() -> None:
    _, report = lint_json("lintme")
    assert keys(report["problems"]) == PROBLEMS
    # 0007 renames with db_column/db_table kept, deletes an unmanaged model and removes a
    # field in state_operations only.
    assert "0007_state_only" not in {f["migration"] for f in report["problems"]}
    messages = {(f["migration"], f["index"]): f["message"] for f in report["problems"]}
    assert messages["0005_alter_type", 0].startswith(
        "changes the type of column lintme_invoice.amount: integer -> varchar(20) ("
    )
    assert messages["0008_tables", 0] == "renames table lintme_widget to lintme_part"
    assert messages["0008_tables", 1] == (
        "renames columns of the many-to-many tables of lintme_shelf_table"
    )
    assert messages["0008_tables", 2] == "drops table lintme_tag"
    assert "varchar(20) -> varchar(5)" in messages["0008_tables", 3]  # shorter max_length
    assert messages["0008_tables", 4] == "renames column lintme_invoice.reference to ref_no"
    assert messages["0008_tables", 5] == "renames table lintme_gadget_table to lintme_gizmo"
    assert messages["0008_tables", 6] == "drops column lintme_line._order"
    # A foreign key's column takes its target's key type: the new target has a BigAutoField.
    assert "lintme_line.box_id: integer -> bigint" in messages["0008_tables", 7]
    assert messages["0008_tables", 8] == "drops column lintme_invoice.due"


@pytest.mark.usefixtures("lintme")
def test_types_are_compared_on_every_backend_that_can_be_instantiated() -> None:
    _, report = lint_json("lintme")
    assert {"sqlite", "postgresql"} <= set(report["backends"])  # psycopg is a test dependency
    payload = next(
        f for f in report["problems"] if (f["migration"], f["index"]) == ("0005_alter_type", 1)
    )
    # TextField -> JSONField: text both times on SQLite, a new type on PostgreSQL (and MySQL).
    assert "text -> jsonb (postgresql)" in payload["message"]
    assert "sqlite" not in payload["message"]


def test_the_comparison_backends_refuse_to_connect() -> None:
    backends = offline_backends()
    assert backends
    for vendor, wrapper in backends:
        with pytest.raises(Exception, match="does not connect"):
            wrapper.ensure_connection()
        assert vendor == wrapper.vendor


@pytest.mark.usefixtures("lintme")
def test_the_human_output_names_file_line_and_operation_and_the_status_is_one() -> None:
    status, out = run_lint("lintme")
    assert status == 1
    line = line_of("0003_rename_field", "RenameField")
    assert (
        f"{shown('0003_rename_field')}:{line}: error: lintme.0003_rename_field operations[0] "
        "RenameField: renames column lintme_invoice.number to reference\n"
    ) in out
    remove_line = line_of("0004_remove_field", "RemoveField")
    assert f"{shown('0004_remove_field')}:{remove_line}: error: lintme.0004_remove_field" in out
    assert "RemoveField: drops column lintme_invoice.note" in out
    assert "0009_sql.py:8: warning: lintme.0009_sql operations[0] RunSQL: runs SQL" in out
    assert "13 problems and 1 warning in 9 migrations of lintme" in out
    assert "1 operation accepted in 1 migration" in out
    assert "flagschema lint --accept lintme.0003_rename_field" in out
    assert "0006_accepted" not in out  # accepted: counted, not listed


@pytest.mark.usefixtures("lintme")
def test_a_migration_with_the_marker_is_accepted_with_its_reason() -> None:
    _, report = lint_json("lintme")
    assert keys(report["accepted"]) == [("0006_accepted", 0, "RemoveField", "drop")]
    assert report["accepted"][0]["accepted"] == "title is unused since the previous release"


@pytest.mark.usefixtures("lintme")
def test_the_setting_accepts_migrations_and_lint_then_passes() -> None:
    problem_migrations = sorted({f"lintme.{m}" for m, *_ in PROBLEMS})
    with override_settings(FLAGSCHEMA_LINT_ACCEPTED=problem_migrations):
        status, report = lint_json("lintme")
        assert status == 0
        assert report["problems"] == []
        assert len(report["accepted"]) == len(PROBLEMS) + 1
        assert {
            f["accepted"] for f in report["accepted"] if f["migration"] != "0006_accepted"
        } == {"FLAGSCHEMA_LINT_ACCEPTED"}
        # The RunSQL warning does not fail the run, unless --strict.
        assert keys(report["warnings"]) == [("0009_sql", 0, "RunSQL", "sql")]
        assert run_lint("lintme", "--strict")[0] == 1
        status, out = run_lint("lintme")
        assert status == 0
        assert "1 warning in 9 migrations of lintme" in out


@pytest.mark.usefixtures("lintme")
def test_a_setting_that_names_no_migration_is_an_error() -> None:
    with (
        override_settings(FLAGSCHEMA_LINT_ACCEPTED=["lintme.0003_renamed"]),
        pytest.raises(
            CommandError, match=r"^FLAGSCHEMA_LINT_ACCEPTED names 'lintme.0003_renamed'"
        ),
    ):
        run_lint("lintme")


def test_by_default_the_projects_own_apps_are_read_and_they_pass() -> None:
    status, report = lint_json()
    assert status == 0
    assert {"rename", "convert", "reshape"} <= set(report["apps"])
    # Not django.contrib, not waffle (site-packages), not flagschema itself.
    not_ours = {"admin", "auth", "contenttypes", "sessions", "messages", "waffle", "flagschema"}
    assert not not_ours & set(report["apps"])
    assert report["problems"] == report["warnings"] == []
    status, out = run_lint()
    assert status == 0
    assert out.startswith("No problems in ")


@pytest.mark.usefixtures("lintme")
def test_project_apps_include_an_added_app_and_the_given_apps_can_be_anything_installed() -> None:
    assert project_apps()[-1] == "lintme"
    assert {"rename", "convert", "reshape"} <= set(project_apps())
    # Any installed app can be named, a third-party one too.
    assert lint(["waffle"]).apps == ["waffle"]
    assert lint(["waffle"]).exit_status() == 0


def test_an_unknown_app_is_a_one_line_error() -> None:
    with pytest.raises(CommandError, match=r"^No installed app with label 'nope'\.$"):
        run_lint("nope")


@pytest.mark.usefixtures("lintme")
def test_accept_prints_the_line_to_add_and_what_it_accepts() -> None:
    status, out = run_lint("--accept", "lintme.0003", "--reason", "number was never read")
    assert status == 0
    assert f"add this line to the Migration class in {shown('0003_rename_field')}:" in out
    assert "    flagschema_accepted = 'number was never read'\n" in out
    assert "renames column lintme_invoice.number to reference" in out
    # The file is not touched.
    assert "flagschema_accepted" not in (MIGRATIONS / "0003_rename_field.py").read_text()


@pytest.mark.usefixtures("lintme")
def test_accept_as_json_and_on_migrations_with_nothing_to_accept() -> None:
    _, accept = lint_json("--accept", "lintme.0006_accepted")
    assert accept["label"] == "lintme.0006_accepted"
    assert accept["line"] == "flagschema_accepted = True"
    assert accept["already"] == "title is unused since the previous release"
    assert keys(accept["findings"]) == [("0006_accepted", 0, "RemoveField", "drop")]
    assert Path(accept["path"]).resolve() == (MIGRATIONS / "0006_accepted.py").resolve()
    status, out = run_lint("--accept", "lintme.0002")
    assert status == 0
    assert "Lint reports nothing in it: it needs no acceptance." in out


@pytest.mark.usefixtures("lintme")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--accept", "lintme.0099"], r"^No migration in 'lintme' matches '0099'\.$"),
        (["--accept", "lintme.000"], r"^More than one migration in 'lintme' matches '000'"),
        (["--accept", "lintme"], r"^'lintme' is not app_label\.migration_name\.$"),
        (["--accept", "nope.0001"], r"^No installed app with label 'nope'\.$"),
        (["lintme", "--accept", "lintme.0003"], r"^--accept takes one migration and no APP"),
        (["lintme", "--reason", "why"], r"^--reason goes with --accept MIGRATION\.$"),
    ],
)
def test_accept_errors_are_one_line(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message) as error:
        run_lint(*args)
    assert "\n" not in str(error.value)
