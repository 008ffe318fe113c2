"""The "Schema transitions" admin: every transition's state, its flip history, and the flips.

Transitions are declared in code, not stored as rows, so the pages hang off the admin of
:class:`~flagschema.models.FlipEvent` (the flip history, read-only for everyone) as views of
their own, and the admin's index lists them under the app next to the history:

* ``<admin>/flagschema/flipevent/transitions/``: one row per transition;
* ``.../transitions/LABEL/``: its state and its flip history;
* ``.../transitions/LABEL/flip/new/`` (or ``old``): the confirmation, with the verify state
  and the reason; ``.../transitions/LABEL/verify/``: "verify now".

Every active staff user sees the pages; the flips and "verify now" need the permission
``flagschema.flip_transition``. A flip goes through :func:`flagschema.runbook.flip.flip`, with
the rules of ``manage.py flagschema flip``, and is recorded as a ``FlipEvent`` and an admin
``LogEntry``.

Registered on ``admin.site`` when the admin is autodiscovered, unless
``FLAGSCHEMA_ADMIN = False``; a project's own admin site can call :func:`register`::

    from flagschema.admin import register

    register(my_admin_site)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.sites import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode

from flagschema.conf import get_setting
from flagschema.models import FlipEvent
from flagschema.runbook.flip import (
    FlipRefused,
    FlipResult,
    flip,
    propagation,
    propagation_warnings,
)
from flagschema.runbook.status import TransitionStatus, transition_status
from flagschema.runbook.verify import VerifyReport, verify
from flagschema.transitions import SIDES, Transition, registry

#: The permission that shows the flip actions and allows them.
FLIP_PERMISSION = "flagschema.flip_transition"

# How many flips the page of one transition lists (the history page has them all).
HISTORY_ROWS = 50

# The session key naming the transitions whose flip to new was refused in this session: only
# then does the confirmation offer, and the flip honour, "flip anyway".
_REFUSED_KEY = "flagschema_refused_flips"


def can_view(request: HttpRequest) -> bool:
    """Staff see the transitions and their history, read-only without the flip permission."""
    user = request.user
    return bool(user.is_active and user.is_staff)


def can_flip(request: HttpRequest) -> bool:
    return can_view(request) and request.user.has_perm(FLIP_PERMISSION)


class FlipForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why, for the audit record that the next person on call reads (an incident "
        "id helps).",
    )
    force = forms.BooleanField(
        required=False,
        label="Flip anyway",
        help_text="Read the new shape although verify or the samples found a problem; the "
        "record says the flip was forced.",
    )


class FlipEventAdmin(admin.ModelAdmin):
    """The flip history (nobody adds, changes or deletes it), and the transitions pages."""

    list_display = ("created", "label", "sides", "forced", "actor", "source", "reason", "host")
    list_display_links = ("created",)
    list_filter = ("source", "forced", "to_side", "label")
    search_fields = ("label", "flag", "actor", "reason")

    @admin.display(description="flip", ordering="to_side")
    def sides(self, event: FlipEvent) -> str:
        return f"{event.from_side} → {event.to_side}"

    # --- permissions: a record is never edited -----------------------------------------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_view(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"title": "Flip history", "subtitle": None, **(extra_context or {})}
        return super().changelist_view(request, context)

    # --- the transitions pages ---------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            # Login, staff, CSRF and never_cache, as every admin view.
            return self.admin_site.admin_view(view)

        return [
            path("transitions/", wrap(self.transitions_view), name="flagschema_transitions"),
            path(
                "transitions/<str:label>/",
                wrap(self.transition_view),
                name="flagschema_transition",
            ),
            path(
                "transitions/<str:label>/flip/<str:to>/",
                wrap(self.flip_view),
                name="flagschema_transition_flip",
            ),
            path(
                "transitions/<str:label>/verify/",
                wrap(self.verify_view),
                name="flagschema_transition_verify",
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args: str) -> str:
        return reverse(f"admin:{name}", args=args, current_app=self.admin_site.name)

    def _transition(self, label: str) -> Transition:
        transition = registry.get(label)
        if transition is None:
            raise Http404(f"No transition is labelled {label!r}.")
        return transition

    def _render(
        self, request: HttpRequest, template: str, title: str, **context: Any
    ) -> TemplateResponse:
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            f"admin/flagschema/{template}",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "subtitle": None,
                "opts": self.opts,
                "app_label": self.opts.app_label,
                "can_flip": can_flip(request),
                "transitions_url": self._url("flagschema_transitions"),
                "history_url": self._url("flagschema_flipevent_changelist"),
                **context,
            },
        )

    def _row(self, status: TransitionStatus) -> dict[str, Any]:
        # The flips that change something: to the other side, or to either while a waffle
        # Flag decides per request.
        flips = [
            {"to": side, "url": self._url("flagschema_transition_flip", status.label, side)}
            for side in SIDES
            if side != status.read_side
        ]
        return {
            "status": status,
            "url": self._url("flagschema_transition", status.label),
            "flips": flips,
        }

    def transitions_view(self, request: HttpRequest) -> HttpResponse:
        # No row counts here: on a large table they are a scan per transition per page view.
        rows = [self._row(transition_status(t, count_rows=False)) for t in registry]
        rows.sort(key=lambda row: row["status"].label)
        return self._render(request, "transitions.html", "Schema transitions", rows=rows)

    def transition_view(self, request: HttpRequest, label: str) -> HttpResponse:
        transition = self._transition(label)
        counted = bool(request.GET.get("count"))
        status = transition_status(transition, count_rows=counted)
        events = FlipEvent.objects.filter(label=label)
        return self._render(
            request,
            "transition.html",
            label,
            transition=transition,
            row=self._row(status),
            status=status,
            counted=counted,
            events=events[:HISTORY_ROWS],
            events_total=events.count(),
            label_history_url=(
                f"{self._url('flagschema_flipevent_changelist')}?{urlencode({'label': label})}"
            ),
        )

    def flip_view(self, request: HttpRequest, label: str, to: str) -> HttpResponse:
        transition = self._transition(label)
        if to not in SIDES:
            raise Http404("A transition is flipped to 'old' or 'new'.")
        if not can_flip(request):
            raise PermissionDenied
        refusal = ""
        if request.method == "POST":
            form = FlipForm(request.POST)
            if form.is_valid():
                force = bool(form.cleaned_data["force"]) and _was_refused(request, label)
                try:
                    result = flip(
                        transition,
                        to,
                        reason=form.cleaned_data["reason"],
                        actor=request.user.get_username(),
                        force=force,
                        source="admin",
                    )
                except FlipRefused as exc:
                    if exc.forceable:
                        refusal = (
                            f"{label} was not flipped to new: {'; '.join(exc.problems)}. Fill "
                            "the rows (backfill), fix them or the transforms and verify again; "
                            "or flip anyway."
                        )
                        _remember_refusal(request, label)
                    else:
                        refusal = str(exc)
                else:
                    _forget_refusal(request, label)
                    self._report_flip(request, result)
                    return redirect(self._url("flagschema_transition", label))
        else:
            form = FlipForm()
        status = transition_status(transition, count_rows=False)
        return self._render(
            request,
            "flip.html",
            f"Flip {label} to {to}",
            transition=transition,
            row=self._row(status),
            status=status,
            to=to,
            form=form,
            refusal=refusal,
            # "Flip anyway" only after a refusal of this flip to new, in this session.
            offer_force=to == "new" and bool(refusal) and _was_refused(request, label),
            propagation=propagation(),
            propagation_warnings=propagation_warnings(),
            verify_url=self._url("flagschema_transition_verify", label),
            cancel_url=self._url("flagschema_transition", label),
        )

    def _report_flip(self, request: HttpRequest, result: FlipResult) -> None:
        if not result.changed:
            messages.info(
                request,
                f"Nothing was changed: {result.label} already reads {result.to_side.upper()}.",
            )
            return
        forced = " (forced)" if result.forced else ""
        if result.event_id is not None:
            self.log_addition(
                request,
                FlipEvent.objects.get(pk=result.event_id),
                f"Flipped {result.label} from {result.from_side} to {result.to_side}{forced}: "
                f"{result.reason}",
            )
        messages.success(
            request,
            f"Flipped: {result.label} now reads {result.to_side.upper()} (was "
            f"{result.from_side.upper()}){forced}; recorded as flip #{result.event_id}. "
            f"{result.propagation[:1].upper()}{result.propagation[1:]}.",
        )
        for warning in result.warnings:
            messages.warning(request, warning)

    def verify_view(self, request: HttpRequest, label: str) -> HttpResponse:
        """Run verify over every row of the table (as a flip to new does) and record it."""
        transition = self._transition(label)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not can_flip(request):
            raise PermissionDenied
        report = verify(transition)
        _report_verify(request, report)
        to = request.POST.get("to")
        if to in SIDES:
            return redirect(self._url("flagschema_transition_flip", label, str(to)))
        return redirect(self._url("flagschema_transition", label))


def _report_verify(request: HttpRequest, report: VerifyReport) -> None:
    if report.clean:
        messages.success(
            request, f"verify {report.label}: clean, {report.checked:,} rows compared."
        )
        return
    keys = ", ".join(repr(pk) for pk in report.sample_pks[:5])
    messages.error(
        request,
        f"verify {report.label}: {report.mismatched:,} mismatching and {report.unfilled:,} "
        f"unfilled row(s) of {report.checked:,}" + (f" (pk {keys})." if keys else "."),
    )


def _refused(request: HttpRequest) -> list[str]:
    return list(request.session.get(_REFUSED_KEY, []))


def _was_refused(request: HttpRequest, label: str) -> bool:
    return label in _refused(request)


def _remember_refusal(request: HttpRequest, label: str) -> None:
    labels = _refused(request)
    if label not in labels:
        request.session[_REFUSED_KEY] = [*labels, label]


def _forget_refusal(request: HttpRequest, label: str) -> None:
    labels = _refused(request)
    if label in labels:
        request.session[_REFUSED_KEY] = [x for x in labels if x != label]


# --- the index --------------------------------------------------------------------------------


def _list_transitions_in_index(site: AdminSite) -> None:
    """Make the site's app list (index, app index, navigation sidebar) show "Transitions" and
    "Flip history" under "Schema transitions".

    The admin builds that list from registered models only, and transitions are not one; the
    site's ``get_app_list`` is wrapped on this instance (not on its class, so that other admin
    sites are left alone)."""
    if getattr(site, "_flagschema_lists_transitions", False):
        return
    original = site.get_app_list

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[Any]:
        app_list = original(request) if app_label is None else original(request, app_label)
        for app in app_list:
            if app.get("app_label") != FlipEvent._meta.app_label:
                continue
            for model in app["models"]:
                if model.get("model") is FlipEvent:
                    model["name"] = "Flip history"
            if can_view(request):
                app["models"].insert(
                    0,
                    {
                        "model": None,
                        "name": "Transitions",
                        "object_name": "Transition",
                        "perms": {"view": True, "add": False, "change": False, "delete": False},
                        "admin_url": reverse(
                            "admin:flagschema_transitions", current_app=site.name
                        ),
                        "add_url": None,
                        "view_only": True,
                    },
                )
        return app_list

    site.get_app_list = get_app_list  # type: ignore[method-assign]
    site._flagschema_lists_transitions = True  # type: ignore[attr-defined]


def register(site: AdminSite) -> None:
    """Add the Schema transitions pages and the flip history to *site*."""
    site.register(FlipEvent, FlipEventAdmin)
    _list_transitions_in_index(site)


def autoregister(site: AdminSite = admin.site) -> bool:
    """Register on *site* unless ``FLAGSCHEMA_ADMIN`` is false or it is registered already."""
    if not get_setting("ADMIN") or site.is_registered(FlipEvent):
        return False
    register(site)
    return True


autoregister()
