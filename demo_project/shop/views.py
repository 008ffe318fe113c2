from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, ExpressionWrapper, F, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

import flagschema
from shop.models import Customer, Order, Product


def read_side(label: str) -> dict[str, Any]:
    """Which columns the fields of a transition are read from in this request."""
    transition = flagschema.registry[label]
    side = transition.read_side()
    columns = transition.new_columns if side == "new" else transition.old_columns
    return {
        "fields": ", ".join(f.name for f in transition.new_fields),
        "side": side,
        "columns": f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)}",
        "flag": transition.flag,
    }


def shop(request: HttpRequest) -> HttpResponse:
    """Customers, products and orders in their new shape, read from the columns each switch
    names for this request (PinReadSideMiddleware keeps one side per request)."""
    line_total = ExpressionWrapper(
        F("quantity") * F("product__price"),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    total = Order.objects.aggregate(total=Sum(line_total))["total"] or Decimal(0)
    return render(
        request,
        "shop/shop.html",
        {
            "customers": Customer.objects.annotate(order_count=Count("orders")),
            "products": Product.objects.all(),
            "orders": Order.objects.select_related("customer", "product").annotate(
                line_total=line_total
            ),
            "total": total.quantize(Decimal("0.01")),
            "customer_side": read_side("shop.Customer.name_split"),
            "product_side": read_side("shop.Product.price"),
            "order_side": read_side("shop.Order.reference"),
        },
    )
