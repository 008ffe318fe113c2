"""Rehearsed TestCases for Django's test runner, run by tests/test_testing.py in a subprocess
(``django-admin test tests.rehearse_cases``); pytest does not collect this module.

The old and new columns of a customer are made to differ on purpose (by raw SQL), so what the
ORM reads shows which side it reads from.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.test import TestCase, override_settings
from django.urls import path

from flagschema.testing import rehearse
from tests.apps.rename.models import Customer
from tests.helpers import put


def raw_sql_names(request: HttpRequest) -> JsonResponse:
    """Broken on purpose: reads the old column by raw SQL, whatever the read side."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM rename_customer ORDER BY id")
        return JsonResponse({"names": [name for (name,) in cursor.fetchall()]})


urlpatterns = [path("raw-names/", raw_sql_names)]


class DriftedColumns(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.ada = Customer.objects.create(full_name="Ada")

    def setUp(self) -> None:
        put(Customer, self.ada.pk, name="Ada (old column)")
        self.side = self._testMethodName.rsplit("_", 1)[1]
        self.expected = "Ada" if self.side == "new" else "Ada (old column)"


@rehearse
class RenameTests(DriftedColumns):
    def test_reads_follow_the_side(self) -> None:
        self.assertEqual(Customer.objects.get(pk=self.ada.pk).full_name, self.expected)
        self.assertEqual(Customer.objects.filter(full_name=self.expected).count(), 1)

    def test_the_view(self) -> None:
        # The test client runs the view in this thread: PinReadSideMiddleware keeps the pin.
        response = self.client.get("/customers/")
        self.assertEqual(response.json(), {"first": [self.expected], "second": [self.expected]})


@override_settings(ROOT_URLCONF=__name__)
class RawSqlViewTests(DriftedColumns):
    @rehearse
    def test_raw_sql_view(self) -> None:
        names = self.client.get("/raw-names/").json()["names"]
        self.assertEqual(names, [c.full_name for c in Customer.objects.all()])
