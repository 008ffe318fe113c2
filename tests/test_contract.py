"""`flagschema contract LABEL`: the refusals, the migration it writes for a rename, a conversion,
a split and a merge, the code change it prints, and (end to end, in subprocesses) that a copy of
tests/apps/contract migrates and works once the migration and the code change are applied."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError
from django.db.migrations import AlterField

import flagschema
from flagschema.exceptions import ContractRefused
from flagschema.runbook.contract import contract, plan
from tests.apps.rename.models import Customer
from tests.helpers import put, set_switch

ROOT = Path(__file__).resolve().parent.parent


def contract_command(*args: str) -> str:
    out = StringIO()
    call_command("flagschema", "contract", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def migrations_copy(tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch):
    """Give an app's migrations a copy in a temporary directory (MIGRATION_MODULES), so that a
    test may write and delete migration files; returns the copy's directory."""

    def copy(app_label: str) -> Path:
        package = "migrations_" + re.sub(r"\W", "_", tmp_path.name)
        target = tmp_path / package
        shutil.copytree(
            ROOT / "tests" / "apps" / app_label / "migrations",
            target,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        settings.MIGRATION_MODULES = {app_label: package}
        return target

    return copy


def operations(result: Any) -> list[tuple[str, str, str, Any]]:
    """(operation, model, field, the field's deconstruction or None) of each operation of a
    contract result or a migration."""
    return [
        (
            type(op).__name__,
            op.model_name,
            op.name,
            op.field.deconstruct()[1:] if isinstance(op, AlterField) else None,
        )
        for op in result.operations
    ]


def loaded(text: str) -> Any:
    """The Migration class a migration file's text defines."""
    namespace: dict[str, Any] = {}
    exec(compile(text, "<migration>", "exec"), namespace)
    return namespace["Migration"]


# --- refusals --------------------------------------------------------------------------------


def test_an_unknown_label_is_one_line_and_exit_status_1(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit:
        ManagementUtility(
            ["manage.py", "flagschema", "--skip-checks", "contract", "rename.Customer.nope"]
        ).execute()
    assert exit.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("CommandError: No transition is labelled 'rename.Customer.nope'")
    assert "rename.Customer.full_name" in err  # the known labels


@pytest.mark.django_db
def test_refused_while_reads_are_on_the_old_side(capsys: pytest.CaptureFixture) -> None:
    set_switch("customers.full_name", False)
    label = "rename.Customer.full_name"
    with pytest.raises(
        CommandError, match=r"reads are on the old side \(waffle switch 'customers"
    ):
        contract_command(label)
    # A pin is not the flag: only the switch's own state counts.
    with flagschema.reading(label, "new"), pytest.raises(ContractRefused, match="old side"):
        contract(flagschema.registry[label], write=False)
    with pytest.raises(SystemExit) as exit:
        ManagementUtility(
            ["manage.py", "flagschema", "--skip-checks", "contract", label]
        ).execute()
    assert exit.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"flagschema flip {label} --to new" in err


@pytest.mark.django_db
def test_refused_while_a_waffle_flag_still_decides_per_request() -> None:
    from waffle.models import Flag

    label = "rollout.Article.body"
    flag = Flag.objects.create(name="articles.body", everyone=None, percent=50)
    flag.flush()
    with pytest.raises(ContractRefused, match=r"reads are decided per request \(waffle flag"):
        contract(flagschema.registry[label], write=False)
    flag.everyone = True
    flag.save()
    flag.flush()
    assert contract(flagschema.registry[label], write=False).name == ("0003_contract_article_body")


@pytest.mark.django_db
def test_refused_when_verify_is_not_clean() -> None:
    set_switch("customers.full_name", True)
    ada = Customer.objects.create(full_name="Ada Lovelace")
    grace = Customer.objects.create(full_name="Grace Hopper")
    Customer.objects.create(full_name="Alan Turing")
    put(Customer, ada.pk, full_name=None)  # unfilled: the backfill has not reached it
    put(Customer, grace.pk, full_name="Grace Murray")  # mismatched
    with pytest.raises(CommandError) as refused:
        contract_command("rename.Customer.full_name", "--dry-run")
    message = str(refused.value)
    assert "\n" not in message
    assert "verify is not clean (1 mismatched, 1 unfilled row(s); e.g. pk " in message
    assert f"{grace.pk}" in message and "flagschema verify rename.Customer.full_name" in message


@pytest.mark.django_db
def test_refused_while_migrations_of_the_app_are_unapplied(migrations_copy: Any) -> None:
    set_switch("customers.full_name", True)
    directory = migrations_copy("rename")
    (directory / "0003_other.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('rename', '0002_expand')]\n"
        "    operations = []\n"
    )
    with pytest.raises(CommandError, match=r"not applied on database 'default' \(0003_other\)"):
        contract_command("rename.Customer.full_name", "--dry-run")


def test_refused_without_the_expand_migration(migrations_copy: Any) -> None:
    directory = migrations_copy("rename")
    (directory / "0002_expand.py").unlink()
    with pytest.raises(ContractRefused, match="no migration of rename adds 'full_name'"):
        plan(flagschema.registry["rename.Customer.full_name"])


def test_refused_when_a_migration_already_removes_the_old_field(migrations_copy: Any) -> None:
    directory = migrations_copy("rename")
    (directory / "0003_drop_name.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('rename', '0002_expand')]\n"
        "    operations = [migrations.RemoveField('customer', 'name')]\n"
    )
    with pytest.raises(ContractRefused, match="the migrations of rename already remove 'name'"):
        plan(flagschema.registry["rename.Customer.full_name"])


# --- the migration and the code change -------------------------------------------------------


def test_a_rename_drops_the_old_column_and_makes_the_new_one_not_null() -> None:
    result = plan(flagschema.registry["rename.Customer.full_name"])
    assert result.name == "0003_contract_customer_full_name"
    assert Path(result.path) == ROOT / "tests/apps/rename/migrations" / f"{result.name}.py"
    assert not Path(result.path).exists()  # plan() writes nothing
    assert operations(result) == [
        ("RemoveField", "customer", "name", None),
        (
            "AlterField",
            "customer",
            "full_name",
            ("django.db.models.CharField", [], {"max_length": 200}),
        ),
    ]
    migration = loaded(result.text)
    assert migration.dependencies == [("rename", "0002_expand")]
    assert operations(migration) == operations(result)
    assert "# flagschema contract of rename.Customer.full_name: drops name." in result.text
    assert "rename.Customer.full_name" in migration.flagschema_accepted  # for flagschema lint

    change = result.code_change
    assert change.path == str(ROOT / "tests/apps/rename/models.py")
    assert change.before == (
        "    full_name = flagschema.RenamedField(\n"
        "        models.CharField(max_length=200),\n"
        '        old_name="name",\n'
        '        flag="customers.full_name",\n'
        "    )\n"
    )
    assert change.after == "    full_name = models.CharField(max_length=200)\n"
    assert change.imports == ()
    source = Path(change.path).read_text()
    assert change.apply(source) == source.replace(change.before, change.after)
    assert "-    full_name = flagschema.RenamedField(\n" in change.diff
    assert "+    full_name = models.CharField(max_length=200)\n" in change.diff
    assert any("`customer.name`" in n and "must say `full_name`" in n for n in change.notes)


def test_a_rename_keeps_what_the_new_field_declares() -> None:
    result = plan(flagschema.registry["rename.Order.reference"])
    assert operations(result) == [
        ("RemoveField", "order", "ref", None),
        (
            "AlterField",
            "order",
            "reference",
            (
                "django.db.models.CharField",
                [],
                {"max_length": 50, "default": "", "db_index": True},
            ),
        ),
    ]
    assert result.code_change.after == (
        '    reference = models.CharField(max_length=50, default="", db_index=True)\n'
    )


def test_a_conversion_drops_the_old_column_and_restores_the_default() -> None:
    result = plan(flagschema.registry["convert.Product.price"])
    assert result.name == "0005_contract_product_price"
    assert operations(result) == [
        ("RemoveField", "product", "price_cents", None),
        (
            "AlterField",
            "product",
            "price",
            (
                "django.db.models.DecimalField",
                [],
                {"max_digits": 12, "decimal_places": 2, "default": Decimal("0")},
            ),
        ),
    ]
    assert loaded(result.text).dependencies == [("convert", "0004_line_item_price")]
    assert "from decimal import Decimal" in result.text
    assert result.code_change.after == (
        '    price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))\n'
    )
    notes = " ".join(result.code_change.notes)
    assert "`product.price_cents`" in notes
    assert "cents_to_price and price_to_cents" in notes


def test_a_conversion_whose_expand_column_is_final_only_drops_the_old_one() -> None:
    # stock = IntegerField(null=True): the expand column is the final column already.
    result = plan(flagschema.registry["convert.Product.stock"])
    assert operations(result) == [("RemoveField", "product", "stock_text", None)]
    assert result.code_change.after == "    stock = models.IntegerField(null=True)\n"
    assert not any(" int and str" in n for n in result.code_change.notes)  # builtins


def test_a_split_declares_its_new_fields_plainly() -> None:
    result = plan(flagschema.registry["reshape.Person.name_split"])
    assert result.name == "0003_contract_person_name_split"
    assert operations(result) == [
        ("RemoveField", "person", "name", None),
        (
            "AlterField",
            "person",
            "first_name",
            ("django.db.models.CharField", [], {"max_length": 100, "default": ""}),
        ),
        (
            "AlterField",
            "person",
            "last_name",
            (
                "django.db.models.CharField",
                [],
                {"max_length": 100, "default": "", "blank": True},
            ),
        ),
    ]
    change = result.code_change
    assert change.before.startswith("    name_split = flagschema.Transition(\n")
    assert change.before.endswith(
        '        samples=["Ada Lovelace", "Grace", "Mary Ann Evans"],\n    )\n'
    )
    assert change.after == (
        '    first_name = models.CharField(max_length=100, default="")\n'
        '    last_name = models.CharField(max_length=100, default="", blank=True)\n'
    )
    assert "split_name and join_name" in " ".join(change.notes)


def test_a_merge_drops_both_old_columns() -> None:
    result = plan(flagschema.registry["reshape.Place.address_merge"])
    assert sorted(operations(result)) == [
        ("RemoveField", "place", "city", None),
        ("RemoveField", "place", "street", None),
    ]
    assert result.code_change.after == "    address = models.JSONField(null=True)\n"


# --- the command -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_dry_run_prints_everything_and_writes_nothing(migrations_copy: Any) -> None:
    directory = migrations_copy("rename")
    set_switch("customers.full_name", True)
    Customer.objects.create(full_name="Ada Lovelace")
    before = sorted(p.name for p in directory.iterdir())
    out = contract_command("rename.Customer.full_name", "--dry-run")
    assert sorted(p.name for p in directory.iterdir()) == before
    assert "rename.Customer.full_name: reads are on the new side and verify is clean" in out
    assert "Would write " in out and "0003_contract_customer_full_name.py:" in out
    assert "  - Remove field name from customer\n" in out
    assert "migrations.RemoveField(" in out  # the migration's text
    assert "+    full_name = models.CharField(max_length=200)\n" in out
    assert "`customer.name`" in out
    assert "Next:\n  1. Apply the code change and add the migration to the same release" in out
    assert "a flag flip cannot undo" in out

    data = json.loads(contract_command("rename.Customer.full_name", "--dry-run", "--json"))
    assert data["dry_run"] is True and data["migration"]["written"] is False
    assert data["migration"]["name"] == "0003_contract_customer_full_name"
    assert [o["operation"] for o in data["migration"]["operations"]] == [
        "RemoveField",
        "AlterField",
    ]
    assert data["code_change"]["after"] == "    full_name = models.CharField(max_length=200)\n"
    assert data["verify"]["clean"] is True and data["verify"]["checked"] == 1
    assert len(data["next_steps"]) == 3


@pytest.mark.django_db
def test_writes_the_migration_once(migrations_copy: Any) -> None:
    directory = migrations_copy("convert")
    set_switch("products.price", True)
    out = contract_command("convert.Product.price")
    written = directory / "0005_contract_product_price.py"
    assert f"Wrote {written}:\n  - Remove field price_cents from product\n" in out
    text = written.read_text()
    assert "migrations.RemoveField(" in text and "name='price_cents'" in text
    assert "Code change, in the same release" in out
    with pytest.raises(CommandError, match="0005_contract_product_price exists already"):
        contract_command("convert.Product.price")
    assert written.read_text() == text


# --- end to end ------------------------------------------------------------------------------

E2E_LABELS = (
    "contract.Customer.full_name",
    "contract.Product.price",
    "contract.Person.name_split",
)


class E2E:
    """A copy of tests/apps/contract in a temporary directory, run by subprocesses with
    tests/contract_e2e_settings.py, on a database of its own (the suite's vendor)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        shutil.copytree(
            ROOT / "tests" / "apps" / "contract",
            directory / "contract",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(directory), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "tests.contract_e2e_settings",
            "FLAGSCHEMA_CONTRACT_E2E_DIR": str(directory),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "django", *args, check=check)

    def step(self, name: str) -> Any:
        return json.loads(self.run("-m", "tests.contract_e2e", name).stdout)


@pytest.fixture
def e2e(tmp_path: Path):
    project = E2E(tmp_path)
    project.step("setup")
    yield project
    project.step("teardown")


def test_the_contracted_app_migrates_and_works_without_its_transitions(e2e: E2E) -> None:
    models_py = e2e.directory / "contract" / "models.py"
    migrations = e2e.directory / "contract" / "migrations"
    for number, label in enumerate(E2E_LABELS, start=3):
        data = json.loads(e2e.manage("flagschema", "contract", label, "--json").stdout)
        name = data["migration"]["name"]
        assert name == f"{number:04d}_contract_{label.split('.', 1)[1].lower().replace('.', '_')}"
        assert Path(data["migration"]["path"]) == migrations / f"{name}.py"
        assert (migrations / f"{name}.py").read_text() == data["migration"]["text"]
        # Until the code change is applied, the system checks stop migrate (and every other
        # command): the migration cannot drop the column under code that still uses it.
        early = e2e.manage("migrate", check=False)
        assert early.returncode == 1
        assert f"flagschema.E001) The migration contract.{name} drops" in early.stderr
        # A second contract refuses, in one line, with exit status 1.
        again = e2e.manage("flagschema", "--skip-checks", "contract", label, check=False)
        assert again.returncode == 1
        assert again.stderr.strip().count("\n") == 0
        assert f"the contract migration contract.{name} exists already" in again.stderr
        # The code change, exactly as printed: the declaration replaced by plain fields.
        change = data["code_change"]
        assert Path(change["path"]) == models_py
        lines = models_py.read_text().splitlines(keepends=True)
        assert "".join(lines[change["first_line"] - 1 : change["last_line"]]) == change["before"]
        lines[change["first_line"] - 1 : change["last_line"]] = [change["after"]]
        # The printed diff says the same: applied as a patch, it gives that file.
        subprocess.run(
            ["git", "apply", "-"], input=change["diff"], text=True, cwd=e2e.directory, check=True
        )
        assert models_py.read_text() == "".join(lines)
        # The release: the migration applies, and nothing is left for makemigrations.
        e2e.manage("migrate", "--verbosity", "0")
        check = e2e.manage("makemigrations", "contract", "--check", "--dry-run", check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "No changes detected" in check.stdout

    # flagschema lint lets the contract migrations drop their columns, and reports why.
    lint = json.loads(e2e.manage("flagschema", "lint", "contract", "--json").stdout)
    assert lint["problems"] == []
    assert sorted({(a["migration"], a["operation"]) for a in lint["accepted"]}) == [
        ("0003_contract_customer_full_name", "RemoveField"),
        ("0004_contract_product_price", "RemoveField"),
        ("0005_contract_person_name_split", "RemoveField"),
    ]

    source = models_py.read_text()
    assert "flagschema." not in source  # every transition is gone
    assert "    full_name = models.CharField(max_length=200, db_index=True)\n" in source
    assert (
        "    price = models.DecimalField(\n"
        "        max_digits=10,\n"
        "        decimal_places=2,\n"
        '        default=Decimal("0.00"),\n'
        "    )\n"
    ) in source  # re-indented as written

    seen = e2e.step("check")
    assert seen["columns"] == {
        "contract_customer": ["full_name", "id"],
        "contract_person": ["customer_id", "first_name", "id", "last_name"],
        "contract_product": ["id", "price", "sku"],
    }
    assert seen["flagschema_fields"] == []
    # The rows written while the transitions ran kept their new shape.
    assert seen["customers"] == ["Ada Lovelace", "Grace Hopper", "Alan Turing"]
    assert seen["prices"] == {"mug": "12.50", "tea": "3.99", "pen": "0.00"}
    assert seen["people"] == [["Ada", "Lovelace"], ["Mary", "Ann Evans"], ["Alan", "Turing"]]
    assert seen["orders_of_alan_for_a_free_pen"] == 1
    assert seen["doubled_mug"] == "25.00"
    assert seen["not_null"] == {"full_name": True, "first_name": True, "price": True}
