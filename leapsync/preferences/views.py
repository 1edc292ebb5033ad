"""Saving and choosing views and columns, and the profile page that gathers them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from enrollments.models import DigestSubscription
from leapsync.preferences.forms import ColumnsForm, SaveViewForm
from leapsync.preferences.models import ListPage, ListPreference, SavedView
from leapsync.preferences.services import (
    LIST_URLS,
    save_view,
    set_default,
    set_hidden_columns,
)


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if target and safe else fallback


@require_POST
@login_required
def view_save(request: HttpRequest) -> HttpResponse:
    form = SaveViewForm(request.POST, user=request.user)
    if not form.is_valid():
        problems = "; ".join(e for errors in form.errors.values() for e in errors)
        messages.error(request, f"The view was not saved: {problems}")
        page = request.POST.get("page")
        return redirect(reverse(LIST_URLS.get(page, "meters:meter_list")) + "?reset=1")
    data = form.cleaned_data
    view = save_view(
        request.user,
        data["page"],
        data["name"],
        data["query"],
        default=data["default"],
        shared_with=data["shared_with"],
    )
    shared = f", shared with {view.shared_with}" if view.shared_with else ""
    messages.success(request, f"View “{view.name}” saved{shared}.")
    return redirect(f"{reverse(LIST_URLS[view.page])}?view={view.pk}")


@require_POST
@login_required
def view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)
    view.delete()
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect(_back(request, reverse("preferences:profile")))


@require_POST
@login_required
def view_default(request: HttpRequest, pk: int) -> HttpResponse:
    """Make a view one's default for its list, or (`clear`) open that list bare again."""
    view = get_object_or_404(SavedView.objects.visible_to(request.user), pk=pk)
    if request.POST.get("clear"):
        set_default(request.user, view.page, None)
        messages.success(request, f"{view.get_page_display()} opens with no saved view now.")
    else:
        set_default(request.user, view.page, view)
        messages.success(request, f"{view.get_page_display()} opens with “{view.name}” now.")
    return redirect(_back(request, reverse("preferences:profile")))


@require_POST
@login_required
def columns_save(request: HttpRequest) -> HttpResponse:
    form = ColumnsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The columns were not saved.")
        return redirect(_back(request, reverse("preferences:profile")))
    page = form.cleaned_data["page"]
    if request.POST.get("reset"):
        hidden: set[str] = set()
    else:
        hidden = set(form.cleaned_data["offered"]) - set(form.cleaned_data["shown"])
    set_hidden_columns(request.user, page, hidden)
    messages.success(
        request, "Columns saved." if hidden or not request.POST.get("reset") else "Columns reset."
    )
    return redirect(_back(request, reverse(LIST_URLS[page])))


@require_GET
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    views = SavedView.objects.visible_to(user).select_related("owner", "shared_with")
    defaults = {p.page: p.default_view_id for p in ListPreference.objects.filter(user=user)}
    hidden = {p.page: p.hidden_columns for p in ListPreference.objects.filter(user=user)}
    lists = [
        {
            "page": page,
            "label": page.label,
            "url": reverse(LIST_URLS[page]),
            "mine": [v for v in views if v.page == page and v.owner_id == user.pk],
            "shared": [v for v in views if v.page == page and v.owner_id != user.pk],
            "default_id": defaults.get(page.value),
            "hidden": hidden.get(page.value, []),
        }
        for page in ListPage
    ]
    digest = DigestSubscription.objects.filter(user=user).first()
    context = {"lists": lists, "groups": list(user.groups.all()), "digest": digest}
    return render(request, "preferences/profile.html", context)
