from django.http import HttpRequest, JsonResponse

from tests.apps.rollout.models import Article


def article_bodies(request: HttpRequest) -> JsonResponse:
    """Three statements in one request (two reads around a write): with PinReadSideMiddleware
    they all see the side waffle chose for this request."""
    first = list(Article.objects.values_list("body", flat=True))
    Article.objects.create(title=f"written in request {request.GET.get('n', '')}", body="written")
    second = [a.body for a in Article.objects.filter(pk__in=[a.pk for a in Article.objects.all()])]
    return JsonResponse({"first": first, "second": second[: len(first)]})
