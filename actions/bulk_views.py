"""Bulk work from the actions inbox: a preview of one operation on the selection (checked rows,
or every action the filter matches), then its confirm."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from actions import bulk
from actions.filters import ActionFilterSet
from actions.forms import BulkForm, NotifyForm
from actions.inbox import inbox_queryset
from actions.models import ActionOwner, RequiredAction
from actions.notify.customer import partner_contact_problem
from meters.models import EventKind

CHANGE = "actions.change_requiredaction"
# How long a preview can be confirmed: its snapshot waits in the cache until then.
PREVIEW_SECONDS = 30 * 60
# Query-string keys that are no part of the filter.
NOT_FILTERS = ("page", "sort", "side")


def _filter_query(query: str) -> str:
    params = QueryDict(query, mutable=True)
    for key in NOT_FILTERS:
        params.pop(key, None)
    return params.urlencode()


def _selection(request: HttpRequest, stored: dict) -> QuerySet | None:
    """The selection re-read now: the filter re-applied, or the checked rows (open or not).

    None when the filter has a value it refuses (an assignee no longer listed, say): django-
    filter would drop that filter, and the selection would silently grow.
    """
    if stored["all"]:
        params = QueryDict(stored["query"])
        queryset = inbox_queryset(ActionOwner.PARTNER)
        filterset = ActionFilterSet(params, queryset=queryset, request=request)
        return filterset.qs if filterset.is_valid() else None
    rows = RequiredAction.objects.for_inbox().filter(owner=ActionOwner.PARTNER)
    return rows.filter(pk__in=stored["pks"]).order_by("enrollment_deadline_date_time", "pk")


def _inbox_url(query: str) -> str:
    return reverse("actions:action_list") + (f"?{query}" if query else "")


@require_POST
@permission_required(CHANGE, raise_exception=True)
def action_bulk_preview(request: HttpRequest) -> HttpResponse:
    """What the operation would do to each selected action; nothing changes yet."""
    form = BulkForm(request.POST, prefix="bulk")
    query = _filter_query(request.POST.get("bulk-query", ""))
    pks = [int(pk) for pk in request.POST.getlist("pk") if pk.isdigit()][: bulk.MAX_ROWS]
    if not form.is_valid():
        errors = "; ".join(e for errors in form.errors.values() for e in errors)
        messages.error(request, f"Bulk change not previewed: {errors}")
        return redirect(_inbox_url(query))
    stored = {"all": form.cleaned_data["all"], "query": query, "pks": pks}
    if not stored["all"] and not pks:
        messages.warning(request, "Select at least one action first.")
        return redirect(_inbox_url(query))
    selection = _selection(request, stored)
    if selection is None:
        messages.error(request, "The filter has a value it cannot use: correct it first.")
        return redirect(_inbox_url(query))
    operation = form.operation()
    summary = bulk.preview(operation, selection.iterator(chunk_size=2000))
    token = uuid.uuid4().hex
    if not summary.too_many:
        stored.update(user=request.user.pk, operation=operation.to_data())
        cache.set(_cache_key(token), {**stored, "snapshot": summary.snapshot}, PREVIEW_SECONDS)
    return render(request, "actions/action_bulk.html", _context(summary, stored, token=token))


def _cache_key(token: str) -> str:
    return f"actions-bulk-preview:{token}"


def _context(summary: bulk.Summary, stored: dict, **extra) -> dict:
    notify = summary.operation.kind == bulk.NOTIFY
    return {
        "summary": summary,
        "selection_all": stored["all"],
        "back_url": _inbox_url(stored["query"]),
        "max_rows": bulk.MAX_ROWS,
        "shown": bulk.SHOWN,
        "contact_problem": partner_contact_problem() if notify else "",
        **extra,
    }


@require_POST
@permission_required(CHANGE, raise_exception=True)
def action_bulk_apply(request: HttpRequest) -> HttpResponse:
    """Apply a preview once: the selection is re-read, and rows changed since are left alone."""
    form = NotifyForm(request.POST)
    token = form.cleaned_data["token"] if form.is_valid() else ""
    stored = cache.get(_cache_key(token)) if token else None
    if not stored or stored["user"] != request.user.pk:
        messages.error(request, "This preview expired or was already confirmed: preview again.")
        return redirect(_inbox_url(stored["query"] if stored else ""))
    cache.delete(_cache_key(token))
    try:
        operation = bulk.Operation.from_data(stored["operation"])
    except ObjectDoesNotExist:  # the assignee left, or was deactivated, since the preview
        messages.error(request, "The chosen assignee can no longer be assigned: preview again.")
        return redirect(_inbox_url(stored["query"]))
    selection = _selection(request, stored)
    if selection is None:
        messages.error(request, "The filter no longer applies as it did: nothing was changed.")
        return redirect(_inbox_url(stored["query"]))
    summary = bulk.Summary(operation)
    pks = bulk.reselect(selection, stored["snapshot"], summary)
    queued = len(pks) > bulk.inline_limit(operation)
    if queued:
        bulk.queue_apply(operation, pks, stored["snapshot"], actor=request.user, token=token)
    else:
        bulk.apply(operation, pks, stored["snapshot"], summary, actor=request.user, token=token)
    context = _context(summary, stored, done=True, queued=len(pks) if queued else 0)
    mine = {"kind": EventKind.ACTION_WORKFLOW, "user": request.user.get_username()}
    context["change_log_url"] = reverse("meters:change_log") + "?" + urlencode(mine)
    return render(request, "actions/action_bulk.html", context)
