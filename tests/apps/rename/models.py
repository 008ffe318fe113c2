"""Scenario: ``Customer.name`` is being renamed to ``full_name``."""

from django.db import models

import flagschema


class CustomerQuerySet(models.QuerySet):
    def named(self, value):
        return self.filter(full_name=value)


class VipManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(vip=True)


class Customer(models.Model):
    # was: name = models.CharField(max_length=200)
    full_name = flagschema.RenamedField(
        models.CharField(max_length=200),
        old_name="name",
        flag="customers.full_name",
    )
    email = models.CharField(max_length=200, default="")
    vip = models.BooleanField(default=False)

    objects = CustomerQuerySet.as_manager()
    vips = VipManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.full_name or ""


class Order(models.Model):
    customer = models.ForeignKey(Customer, related_name="orders", on_delete=models.CASCADE)
    number = models.IntegerField()
    # was: ref = models.CharField(max_length=50, default="")
    # The new column gets an index the old one never had, so the old field is given as it was.
    reference = flagschema.RenamedField(
        models.CharField(max_length=50, default="", db_index=True),
        old_name="ref",
        flag="orders.reference",
        old=models.CharField(max_length=50, default=""),
    )

    class Meta:
        ordering = ["id"]


class Tag(models.Model):
    """A model whose renamed field is unique and indexed, and reached by a many-to-many."""

    # was: code = models.CharField(max_length=40, unique=True)
    slug = flagschema.RenamedField(
        models.CharField(max_length=40, unique=True),
        old_name="code",
        flag="tags.slug",
    )
    customers = models.ManyToManyField(Customer, related_name="tags")
