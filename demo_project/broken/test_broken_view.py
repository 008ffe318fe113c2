"""A view broken on purpose, to show what the rollback rehearsal catches. Not part of the demo's
test run (pytest.ini's testpaths); run it by name, from the repository root:

    .venv/bin/python -m pytest --flagschema-read=both demo_project/broken

``greeting`` was written for the previous release: it reads the old ``name`` column by raw SQL
and takes its first word, as that release did. It passes while reads come from the old side,
and fails on the new side: a customer entered as first name "Mary Ann", last name "Evans" is
greeted as "Mary". ``greeting_fixed`` asks the model and passes on both sides.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from shop.models import Customer
from shop.transforms import split_name


def greeting(request: HttpRequest, pk: int) -> HttpResponse:
    """Broken: the old column, by raw SQL, split as the previous release split it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM shop_customer WHERE id = %s", [pk])
        (name,) = cursor.fetchone()
    first_name, _ = split_name(name)
    return HttpResponse(f"Hello, {first_name}!")


def greeting_fixed(request: HttpRequest, pk: int) -> HttpResponse:
    """The fix: the model's first_name, read from whichever side the flag names."""
    return HttpResponse(f"Hello, {Customer.objects.get(pk=pk).first_name}!")


urlpatterns = [
    path("greeting/<int:pk>/", greeting),
    path("greeting-fixed/<int:pk>/", greeting_fixed),
]


@pytest.fixture
def mary_ann(db: None) -> Customer:
    """A customer entered after the release, in the form's two fields."""
    created = Customer.objects.create(first_name="Mary Ann", last_name="Evans")
    # As the application reads her now: on the old side, first_name comes from `name`.
    return Customer.objects.get(pk=created.pk)


@pytest.mark.urls(__name__)
def test_greeting(client: Client, mary_ann: Customer) -> None:
    response = client.get(f"/greeting/{mary_ann.pk}/")
    assert response.content.decode() == f"Hello, {mary_ann.first_name}!"


@pytest.mark.urls(__name__)
def test_greeting_fixed(client: Client, mary_ann: Customer) -> None:
    response = client.get(f"/greeting-fixed/{mary_ann.pk}/")
    assert response.content.decode() == f"Hello, {mary_ann.first_name}!"
