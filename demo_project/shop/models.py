from django.db import models

import flagschema


class Customer(models.Model):
    # was: name = models.CharField(max_length=200)
    # Reads follow the waffle switch "shop.customer_full_name"; writes store both columns.
    full_name = flagschema.RenamedField(
        models.CharField(max_length=200),
        old_name="name",
        flag="shop.customer_full_name",
    )
    email = models.EmailField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.full_name


class Order(models.Model):
    customer = models.ForeignKey(Customer, related_name="orders", on_delete=models.CASCADE)
    number = models.PositiveIntegerField(unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Order {self.number}"
