from django.contrib import admin
from django.urls import path

from tests.apps.rename import views
from tests.apps.rollout import views as rollout_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("customers/", views.customer_names, name="customer-names"),
    path("articles/", rollout_views.article_bodies, name="article-bodies"),
]
