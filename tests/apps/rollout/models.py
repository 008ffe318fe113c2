"""Scenario: a rename rolled out per request. ``Article.text`` is renamed ``body`` behind a
waffle *Flag* (percent, users, groups, staff), not a Switch."""

from django.db import models

import flagschema


class Article(models.Model):
    title = models.CharField(max_length=100, default="")
    # was: text = models.CharField(max_length=200, default="")
    body = flagschema.RenamedField(
        models.CharField(max_length=200, default=""),
        old_name="text",
        flag="articles.body",
        flag_type="flag",
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title
