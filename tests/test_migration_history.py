"""Migration history replays (docs/migration-history.md): the sync-trigger operations of an
expand migrate a new database from zero after the transition is contracted and gone from the
code, after the next release, and after the app is squashed; and ``migrate`` does not warn
(W012) about the columns the migrations it applies add.

End to end, in subprocesses, on a copy of tests/apps/contract (see tests/test_contract.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration

import flagschema
from flagschema.operations import InstallSyncTriggers
from flagschema.triggers import triggers_installed
from tests.apps.rename.models import Customer
from tests.helpers import columns, quote
from tests.test_contract import E2E, E2E_LABELS

CONTRACTED_COLUMNS = {
    "contract_customer": ["full_name", "id"],
    "contract_order": ["customer_id", "id", "note", "product_id", "quantity"],
    "contract_person": ["customer_id", "first_name", "id", "last_name"],
    "contract_product": ["id", "price", "sku"],
}

NEXT_RELEASE = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("contract", "{parent}")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="note",
            field=models.CharField(default="", max_length=20),
        ),
    ]
"""


@pytest.fixture
def project(tmp_path: Path):
    e2e = E2E(tmp_path)
    e2e.step("setup")
    yield e2e
    e2e.step("teardown")


def fresh(e2e: E2E) -> Any:
    """`migrate` from zero on a new database (beside the project's own)."""
    env = {**e2e.env, "FLAGSCHEMA_CONTRACT_E2E_FRESH": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.contract_e2e", "fresh"],
        cwd=e2e.directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_whole_life_of_a_transition_then_migrate_from_zero(project: E2E) -> None:
    migrations = project.directory / "contract" / "migrations"
    models_py = project.directory / "contract" / "models.py"
    # Expand with triggers: a write around the ORM gets its new shape from the triggers.
    assert project.step("raw") == {"full_name": "Raw", "price": "2.50"}
    for label in E2E_LABELS:
        project.manage("flagschema", "flip", label, "--to", "old", "--reason", "rehearsal")
        project.manage("flagschema", "backfill", label)
        project.manage("flagschema", "verify", label)
        project.manage("flagschema", "flip", label, "--to", "new", "--reason", "soaked")
    for label in E2E_LABELS:
        data = json.loads(project.manage("flagschema", "contract", label, "--json").stdout)
        change = data["code_change"]
        subprocess.run(
            ["git", "apply", "-"],
            input=change["diff"],
            text=True,
            cwd=project.directory,
            check=True,
        )
        project.manage("migrate", "--verbosity", "0")
    # The rename's contract carries what it removes (it is installed again if migrated back).
    customer = (migrations / "0003_contract_customer_full_name.py").read_text()
    assert "RemoveSyncTriggers(\n" in customer and "old=['name']," in customer
    product = (migrations / "0004_contract_product_price.py").read_text()
    assert "forward_sql={'price':" in product
    assert "flagschema." not in models_py.read_text()

    # The next release adds a field.
    source = models_py.read_text()
    models_py.write_text(
        source.replace(
            "    quantity = models.IntegerField(default=1)\n",
            "    quantity = models.IntegerField(default=1)\n"
            '    note = models.CharField(max_length=20, default="")\n',
        )
    )
    (migrations / "0006_order_note.py").write_text(
        NEXT_RELEASE.format(parent="0005_contract_person_name_split")
    )
    project.manage("migrate", "--verbosity", "0")
    check = project.manage("makemigrations", "contract", "--check", "--dry-run", check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    # Every new database replays the history, with no transition declared any more.
    assert fresh(project) == {"columns": CONTRACTED_COLUMNS, "triggers": []}

    # Squashed: the squashed migration replays beside the ones it replaces...
    project.manage("squashmigrations", "contract", "0006", "--noinput", "--verbosity", "0")
    (squashed,) = [p for p in migrations.glob("0001_squashed_*.py")]
    assert "InstallSyncTriggers(" in squashed.read_text()
    assert fresh(project) == {"columns": CONTRACTED_COLUMNS, "triggers": []}
    project.manage("migrate", "--verbosity", "0")  # the project's own database takes it too
    # ... and alone, once they are deleted and `replaces` is gone.
    for path in migrations.glob("000*.py"):
        if path != squashed:
            path.unlink()
    text = squashed.read_text()
    squashed.write_text(re.sub(r"\n    replaces = \[.*?\]\n", "\n", text, flags=re.S))
    assert "replaces" not in squashed.read_text()
    assert fresh(project) == {"columns": CONTRACTED_COLUMNS, "triggers": []}


# --- the operations, in process --------------------------------------------------------------

LABEL = "rename.Customer.full_name"


def apply(*operations: Any, backwards: bool = False) -> None:
    """Apply a migration holding *operations* after the rename app's last one."""
    executor = MigrationExecutor(connection)
    (leaf,) = executor.loader.graph.leaf_nodes("rename")
    state = executor.loader.project_state(leaf)
    migration = Migration("9999_history", "rename")
    migration.operations = list(operations)
    with connection.schema_editor(atomic=migration.atomic) as editor:
        if backwards:
            migration.unapply(state, editor)
        else:
            migration.apply(state, editor)


@pytest.fixture
def undeclared():
    """The rename's declaration gone from the code, as after its contract."""
    transition = flagschema.registry[LABEL]
    flagschema.registry.unregister(LABEL)
    yield transition
    flagschema.registry.register(transition)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("side", ["old", "new"])
def test_the_self_contained_form_installs_without_the_declaration(
    undeclared: Any, side: str
) -> None:
    carried = InstallSyncTriggers.for_transition(undeclared)
    _, args, kwargs = carried.deconstruct()
    assert kwargs == {
        "model_name": "customer",
        "name": "full_name",
        "old": ["name"],
        "new": ["full_name"],
    }
    operation = InstallSyncTriggers(*args, **kwargs)
    apply(operation)
    try:
        assert triggers_installed(undeclared) is True
        pk = Customer.objects.create(full_name="Ada").pk
        # A write around the ORM of one side; the triggers write the other.
        column = "name" if side == "old" else "full_name"
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {quote('rename_customer')} SET {quote(column)} = %s "
                f"WHERE {quote('id')} = %s",
                ["Grace", pk],
            )
        assert columns(Customer, pk, "name", "full_name") == ("Grace", "Grace")
    finally:
        apply(operation, backwards=True)
        Customer.objects.all().delete()
    assert triggers_installed(undeclared) is False


@pytest.mark.django_db(transaction=True)
def test_the_two_argument_form_of_a_gone_transition(undeclared: Any) -> None:
    # Nothing in the history removes the triggers again: one line, saying what to do.
    with pytest.raises(flagschema.TransitionError) as info:
        apply(InstallSyncTriggers("customer", "full_name"))
    message = str(info.value)
    assert "\n" not in message
    assert "no transition rename.Customer.full_name is declared" in message
    assert "self-contained form" in message
    # (A later RemoveSyncTriggers of the same transition makes it replay as nothing: the
    # history of tests/apps/contract, replayed above, holds one.)


# --- W012 and migrate ------------------------------------------------------------------------

DROP_LAST_NAME = """
import django
django.setup()
from django.db import connection
q = connection.ops.quote_name
with connection.cursor() as cursor:
    cursor.execute(f"ALTER TABLE {q('contract_person')} DROP COLUMN {q('last_name')}")
"""


def test_migrate_does_not_warn_about_the_columns_it_adds(project: E2E) -> None:
    project.manage("migrate", "contract", "0001", "--verbosity", "0")
    done = project.manage("migrate")
    assert "Applying contract.0002_expand... OK" in done.stdout
    assert "W012" not in done.stdout + done.stderr
    # Nor does `check --database` while a migration that adds them is unapplied.
    project.manage("migrate", "contract", "0001", "--verbosity", "0")
    pending = project.manage("check", "--database", "default")
    assert "W012" not in pending.stdout + pending.stderr
    project.manage("migrate", "--verbosity", "0")
    # A column that no unapplied migration adds is still warned about, by name.
    project.run("-c", DROP_LAST_NAME)
    gone = project.manage("check", "--database", "default")
    assert "flagschema.W012" in gone.stderr
    assert "contract.Person.name_split" in gone.stderr and "'last_name'" in gone.stderr
    assert "'first_name'" not in gone.stderr


def test_a_transition_without_sql_keeps_the_two_argument_form() -> None:
    # Carried without expressions it would read as a rename (a copy): it carries nothing.
    stock = InstallSyncTriggers.for_transition(flagschema.registry["convert.Product.stock"])
    assert stock.deconstruct()[2] == {"model_name": "product", "name": "stock"}
    price = InstallSyncTriggers.for_transition(flagschema.registry["convert.Product.price"])
    assert sorted(price.deconstruct()[2]) == [
        "backward_sql",
        "forward_sql",
        "model_name",
        "name",
        "new",
        "old",
    ]
