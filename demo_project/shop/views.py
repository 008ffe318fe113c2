from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

import flagschema
from shop.models import Customer

LABEL = "shop.Customer.full_name"


def customer_list(request: HttpRequest) -> HttpResponse:
    """Every customer's full_name, read from the column the switch names for this request."""
    transition = flagschema.registry[LABEL]
    side = transition.read_side()
    return render(
        request,
        "shop/customer_list.html",
        {
            "customers": Customer.objects.all(),
            "transition": transition,
            "side": side,
            "column": transition.column_for(side),
        },
    )
