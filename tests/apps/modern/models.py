"""Scenario: transitions on the model features of newer Djangos.

* ``Enrollment`` (Django 5.2+): a composite primary key, ``(course, student)``, and no ``id``;
  ``mark`` is being renamed to ``grade`` (filled in SQL) and ``credits_text`` converted to the
  integer ``credits`` (filled in Python: no ``forward_sql``).
* ``Ticket`` (Django 5.0+): fields with a database default (``db_default``), renamed
  (``state`` to ``status``) and converted (``priority_text`` to ``priority``).
* ``Author`` (Django 5.0+): a stored ``GeneratedField`` whose expression names the field being
  renamed (``name`` to ``full_name``).

On older Djangos the features do not exist and the app has no models.
"""

import django
from django.db import models
from django.db.models import F
from django.db.models.functions import Cast, Upper

import flagschema

if django.VERSION >= (5, 0):

    class Ticket(models.Model):
        # was: state = models.CharField(max_length=20, db_default="open")
        status = flagschema.RenamedField(
            models.CharField(max_length=20, db_default="open"),
            old_name="state",
            flag="tickets.status",
        )
        # was: priority_text = models.CharField(max_length=10, db_default="3")
        priority = flagschema.ConvertedField(
            models.IntegerField(db_default=3),
            old=models.CharField(max_length=10, db_default="3", db_column="priority_text"),
            forward=int,
            backward=str,
            forward_sql=Cast(F("priority_text"), models.IntegerField()),
            flag="tickets.priority",
            samples=["3", "1", "10"],
        )
        title = models.CharField(max_length=100, default="")

        class Meta:
            ordering = ["id"]

    class Author(models.Model):
        # was: name = models.CharField(max_length=100)
        full_name = flagschema.RenamedField(
            models.CharField(max_length=100), old_name="name", flag="authors.full_name"
        )
        # was: expression=Upper("name")
        shout = models.GeneratedField(
            expression=Upper("full_name"),
            output_field=models.CharField(max_length=100),
            db_persist=True,
        )

        class Meta:
            ordering = ["id"]


if django.VERSION >= (5, 2):

    class Enrollment(models.Model):
        pk = models.CompositePrimaryKey("course", "student")
        course = models.CharField(max_length=20)
        student = models.IntegerField()
        # was: mark = models.CharField(max_length=20)
        grade = flagschema.RenamedField(
            models.CharField(max_length=20), old_name="mark", flag="enrollments.grade"
        )
        # was: credits_text = models.CharField(max_length=10)
        credits = flagschema.ConvertedField(
            models.IntegerField(),
            old=models.CharField(max_length=10, db_column="credits_text"),
            forward=int,
            backward=str,
            flag="enrollments.credits",
            samples=["1", "4", "30"],
        )

        class Meta:
            ordering = ["course", "student"]

        def __str__(self) -> str:
            return f"{self.course}/{self.student}"
