"""Two tables with the same data: one as plain Django, one in the middle of a rename."""

from django.db import models

import flagschema


class PlainCustomer(models.Model):
    name = models.CharField(max_length=200, db_index=True)
    email = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class FlagCustomer(models.Model):
    full_name = flagschema.RenamedField(
        models.CharField(max_length=200, db_index=True), old_name="name", flag="bench.full_name"
    )
    email = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)


class HandWrittenCustomer(models.Model):
    """The same expand done by hand: both columns as plain fields, the code writing both."""

    name = models.CharField(max_length=200, db_index=True)
    # Nullable like the column a RenamedField adds: rows written before it have no value.
    full_name = models.CharField(max_length=200, db_index=True, null=True)  # noqa: DJ001
    email = models.CharField(max_length=200, default="")

    class Meta:
        app_label = "benchmarks"

    def __str__(self) -> str:
        return str(self.pk)
