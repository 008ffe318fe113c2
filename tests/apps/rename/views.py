from django.http import HttpRequest, JsonResponse

from tests.apps.rename.models import Customer


def customer_names(request: HttpRequest) -> JsonResponse:
    """Two queries in one request: with the middleware they always read the same side."""
    first = list(Customer.objects.values_list("full_name", flat=True))
    second = [c.full_name for c in Customer.objects.all()]
    return JsonResponse({"first": first, "second": second})
