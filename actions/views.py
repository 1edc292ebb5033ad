"""The actions workbench: the inbox (and its CSV export), the action page, its HTMX edits,
and one action's customer notification (bulk work: actions.bulk_views)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from actions.catalogue import load_catalogue
from actions.exports import csv_lines
from actions.filters import ActionFilterSet
from actions.forms import BulkForm, NoteForm, NotifyForm, WorkflowForm
from actions.inbox import (
    action_context,
    inbox_queryset,
    last_enrollment_sync,
    side_of,
    type_counts,
)
from actions.models import ActionOwner, RequiredAction
from actions.notify import customer
from actions.notify.common import Outcome
from actions.services import add_note, assign, set_due_date, set_status
from actions.tables import ActionTable
from leapsync.preferences.models import ListPage
from leapsync.preferences.services import list_state, opening_url
from leapsync.replica import replica_reads
from leapsync.ui.csv_download import csv_download
from leapsync.ui.htmx import wants_partial
from leapsync.ui.security import email_preview_response
from leapsync.ui.tables import configure_table

CHANGE = "actions.change_requiredaction"
# Parts of the action page that refresh themselves after an "action-changed" event. The
# history refreshes its list only: the note form beside it may hold a note being typed.
FRAGMENTS = {
    "action-history-list": "actions/partials/action_history_list.html",
    "action-workflow": "actions/partials/action_workflow.html",
    "action-emails": "actions/partials/action_emails.html",
}


@require_GET
@replica_reads
@permission_required("actions.view_requiredaction", raise_exception=True)
@vary_on_headers("HX-Request")
def action_list(request: HttpRequest) -> HttpResponse:
    known = [*ActionFilterSet.base_filters, "side", "sort"]
    if (opening := opening_url(request, ListPage.ACTIONS, known)) is not None:
        return HttpResponseClientRedirect(opening) if request.htmx else redirect(opening)
    prefs = list_state(
        request, ListPage.ACTIONS, known, columns=ActionTable.choosable(), required=("title",)
    )
    side = side_of(request)
    filterset = ActionFilterSet(request.GET, queryset=inbox_queryset(side), request=request)
    selectable = side == ActionOwner.PARTNER and request.user.has_perm(CHANGE)
    table = ActionTable(
        filterset.qs,
        catalogue=load_catalogue(),
        last_sync=last_enrollment_sync(),
        selectable=selectable,
        hidden=prefs.hidden,
    )
    configure_table(request, table)
    context = {
        "filterset": filterset,
        "table": table,
        "side": side,
        "selectable": selectable,
        "type_counts": type_counts(filterset.qs),
        "prefs": prefs,
    }
    if selectable:
        context["bulk_form"] = BulkForm(prefix="bulk")
        context["bulk_query"] = request.GET.urlencode()
        context["bulk_matching"] = sum(row["n"] for row in context["type_counts"])
    partial = wants_partial(request)
    page = "actions/partials/action_table.html" if partial else "actions/action_list.html"
    return render(request, page, context)


@require_GET
@permission_required("actions.view_requiredaction", raise_exception=True)
def action_export(request: HttpRequest) -> StreamingHttpResponse:
    """Exactly the filtered inbox as CSV, streamed; cells are safe to open in a spreadsheet."""
    side = side_of(request)
    filterset = ActionFilterSet(request.GET, queryset=inbox_queryset(side), request=request)
    rows = filterset.qs.order_by("pk").iterator(chunk_size=2000)
    return csv_download(csv_lines(rows, load_catalogue()), f"actions-{side}")


def _get_action(pk: int) -> RequiredAction:
    return get_object_or_404(RequiredAction.objects.for_inbox(), pk=pk)


@require_GET
@permission_required("actions.view_requiredaction", raise_exception=True)
@vary_on_headers("HX-Request", "HX-Target")
def action_detail(request: HttpRequest, pk: int) -> HttpResponse:
    action = _get_action(pk)
    context = {**action_context(action), "note_form": NoteForm()}
    context["workflow_form"] = _workflow_form(action)
    if wants_partial(request) and request.htmx.target in FRAGMENTS:
        return render(request, FRAGMENTS[request.htmx.target], context)
    return render(request, "actions/action_detail.html", context)


def _workflow_form(action: RequiredAction, data=None) -> WorkflowForm:
    initial = {
        "status": action.status,
        "assignee": action.assignee.get_username() if action.assignee else None,
        "due_date": action.due_date,
    }
    return WorkflowForm(data, initial=initial)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def action_workflow(request: HttpRequest, pk: int) -> HttpResponse:
    """Status, assignee and due date; "assign to me" posts only `assign_to_me`."""
    action = _get_action(pk)
    if request.POST.get("assign_to_me"):
        changed = assign(action, request.user, actor=request.user)
        form = _workflow_form(action)
    else:
        form = _workflow_form(action, request.POST)
        changed = form.is_valid() and _apply_workflow(action, form, request)
    if not request.htmx:
        return redirect("actions:action_detail", pk=action.pk)
    context = {
        **action_context(action),
        "workflow_form": form if form.errors else _workflow_form(action),
    }
    response = render(request, "actions/partials/action_workflow.html", context)
    if changed:
        response["HX-Trigger"] = "action-changed"
    return response


def _apply_workflow(action: RequiredAction, form: WorkflowForm, request: HttpRequest) -> bool:
    data, actor = form.cleaned_data, request.user
    changed = set_status(action, data["status"], actor=actor)
    changed = assign(action, data["assignee"], actor=actor) or changed
    return set_due_date(action, data["due_date"], actor=actor) or changed


@require_POST
@permission_required("actions.add_actionnote", raise_exception=True)
def action_note_add(request: HttpRequest, pk: int) -> HttpResponse:
    action = _get_action(pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        add_note(action, form.cleaned_data["text"], actor=request.user)
        form = NoteForm()
    if not request.htmx:
        return redirect("actions:action_detail", pk=action.pk)
    context = {**action_context(action), "note_form": form}
    return render(request, "actions/partials/action_history.html", context)


@require_http_methods(["GET", "POST"])
@permission_required(CHANGE, raise_exception=True)
@vary_on_headers("HX-Request")
def action_notify(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the email as it would be sent, with a fresh click token (a page of its own when
    the link is followed without HTMX). POST: send it once."""
    action = _get_action(pk)
    catalogue = load_catalogue()
    context = action_context(action, catalogue)
    if request.method == "GET":
        email, problem = customer.preview_customer_email(action, catalogue)
        context.update(email=email, problem=problem, token=uuid.uuid4().hex)
        page = "partials/action_notify" if wants_partial(request) else "action_notify"
        return render(request, f"actions/{page}.html", context)
    form = NotifyForm(request.POST)
    if not form.is_valid():
        context["outcome"] = Outcome(action, "refused", "This form expired; preview again.")
    else:
        token = form.cleaned_data["token"]
        context["outcome"] = customer.notify_customer(
            action, catalogue, token=token, actor=request.user
        )
    if not request.htmx:
        level = messages.SUCCESS if context["outcome"].result == "sent" else messages.ERROR
        messages.add_message(request, level, context["outcome"].message)
        return redirect("actions:action_detail", pk=action.pk)
    response = render(request, "actions/partials/action_notify.html", context)
    response["HX-Trigger"] = "action-changed"
    return response


@require_GET
@permission_required(CHANGE, raise_exception=True)
def action_notify_html(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer email's HTML part as sent, for the sandboxed frame in the notify preview."""
    html = customer.preview_customer_html(_get_action(pk), load_catalogue())
    if html is None:
        raise Http404("This action's customer cannot be emailed.")
    return email_preview_response(html)
