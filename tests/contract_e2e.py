"""The steps of the end-to-end test of ``flagschema contract`` (tests/test_contract.py), each
run in a subprocess with tests/contract_e2e_settings.py and printing one JSON document:

``setup``     creates the database, migrates the copy of tests/apps/contract to its expand,
              writes rows through its transitions and turns their switches on;
``check``     uses the app once its transitions are contracted (plain fields only): what the
              rows hold, writes, reads across relations, the columns left;
``raw``       writes a customer and a product around the ORM (their old columns only) and
              returns what the sync triggers made of their new columns;
``fresh``     creates the database, which migrates the app from zero as every new database
              does, returns its columns and the sync triggers left, and drops it again (run
              with ``FLAGSCHEMA_CONTRACT_E2E_FRESH`` set, beside the first database);
``teardown``  drops the database.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import django

SWITCHES = ("contract.customer_full_name", "contract.product_price", "contract.person_name_split")


def setup() -> Any:
    from django.db import connection
    from waffle.models import Switch

    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    from contract.models import Customer, Order, Person, Product

    ada = Customer.objects.create(full_name="Ada Lovelace")
    Customer.objects.create(name="Grace Hopper")  # the old name, while it still exists
    mug = Product.objects.create(sku="mug", price=Decimal("12.50"))
    Product.objects.create(sku="tea", price_cents=399)
    Person.objects.create(first_name="Ada", last_name="Lovelace", customer=ada)
    Person.objects.create(name="Mary Ann Evans")
    Order.objects.create(customer=ada, product=mug)
    for name in SWITCHES:
        Switch.objects.create(name=name, active=True)
    return {"database": connection.settings_dict["NAME"]}


def check() -> Any:
    from contract.models import Customer, Order, Person, Product
    from django.db import IntegrityError, connection, transaction
    from django.db.models import F

    alan = Customer.objects.create(full_name="Alan Turing")
    pen = Product.objects.create(sku="pen")
    Person.objects.create(first_name="Alan", last_name="Turing", customer=alan)
    Order.objects.create(customer=alan, product=pen)
    prices = {p.sku: f"{p.price:.2f}" for p in Product.objects.all()}
    Product.objects.filter(sku="mug").update(price=F("price") * 2)
    not_null = {}
    for model, field in ((Customer, "full_name"), (Person, "first_name"), (Product, "price")):
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(field)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"UPDATE {table} SET {column} = NULL")
            not_null[field] = False
        except IntegrityError:
            not_null[field] = True
    with connection.cursor() as cursor:
        columns = {
            model._meta.db_table: sorted(
                c.name
                for c in connection.introspection.get_table_description(
                    cursor, model._meta.db_table
                )
            )
            for model in (Customer, Product, Person)
        }
    return {
        "columns": columns,
        "flagschema_fields": [
            f"{model.__name__}.{f.name}"
            for model in (Customer, Product, Person, Order)
            for f in model._meta.concrete_fields
            if type(f).__module__.startswith("flagschema")
        ],
        "customers": list(Customer.objects.values_list("full_name", flat=True)),
        "prices": prices,
        "doubled_mug": f"{Product.objects.get(sku='mug').price:.2f}",
        "people": [list(p) for p in Person.objects.values_list("first_name", "last_name")],
        "orders_of_alan_for_a_free_pen": Order.objects.filter(
            customer__full_name="Alan Turing", product__price=Decimal("0")
        ).count(),
        "not_null": not_null,
    }


def raw() -> Any:
    from django.db import connection

    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {q('contract_customer')} ({q('name')}) VALUES (%s)", ["Raw"])
        cursor.execute(
            f"INSERT INTO {q('contract_product')} ({q('sku')}, {q('price_cents')}) "
            "VALUES (%s, %s)",
            ["raw", 250],
        )
        cursor.execute(
            f"SELECT {q('full_name')} FROM {q('contract_customer')} WHERE {q('name')} = 'Raw'"
        )
        (full_name,) = cursor.fetchone()
        cursor.execute(
            f"SELECT {q('price')} FROM {q('contract_product')} WHERE {q('sku')} = 'raw'"
        )
        (price,) = cursor.fetchone()
    return {"full_name": full_name, "price": f"{Decimal(price):.2f}"}


def fresh() -> Any:
    from django.db import connection

    from flagschema.triggers import installed_names

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with connection.cursor() as cursor:
            tables = sorted(
                t
                for t in connection.introspection.table_names(cursor)
                if t.startswith("contract_")
            )
            columns = {
                table: sorted(
                    c.name for c in connection.introspection.get_table_description(cursor, table)
                )
                for table in tables
            }
        triggers = sorted(
            n for table in tables for n in installed_names(connection, table) if "fs_sync" in n
        )
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
    return {"columns": columns, "triggers": triggers}


def teardown() -> Any:
    from django.db import connection

    name = connection.settings_dict["NAME"]
    connection.creation.destroy_test_db(name, verbosity=0)
    return {"dropped": name}


if __name__ == "__main__":
    django.setup()
    steps = {"setup": setup, "check": check, "raw": raw, "fresh": fresh, "teardown": teardown}
    step = steps[sys.argv[1]]
    print(json.dumps(step()))
