"""partner_reference: the inline edit, "set from the site", unconfirmed pushes and their retry."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.ui.filters import parse_uuid
from leapsync.ui.htmx import wants_partial
from meters.forms import PartnerReferenceForm, SeenForm
from meters.models import (
    Meter,
    PartnerReferenceChange,
    PushStatus,
    ReferenceImport,
    open_changes,
)
from meters.services import (
    ReferenceRefused,
    retry_push,
    set_partner_reference,
    set_reference_from_site,
)
from meters.services import set_references_from_sites as from_sites

EDIT_PERMISSIONS = ["meters.change_meter", "meters.add_partnerreferencechange"]
BULK_MAX = 1000


def _meter(meter_id: UUID) -> Meter:
    queryset = Meter.objects.select_related("site").prefetch_related(open_changes())
    return get_object_or_404(queryset, meter_id=meter_id)


def _cell(request: HttpRequest, meter: Meter, **extra) -> HttpResponse:
    meter = _meter(meter.meter_id)  # re-read: the change and its pending push just happened
    return render(request, "meters/partials/reference_cell.html", {"meter": meter, **extra})


def _seen(meter: Meter) -> dict[str, object]:
    """The hidden fields binding an edit to the meter as this page shows it."""
    change = meter.open_changes[0] if meter.open_changes else None
    return {"loaded": meter.partner_reference, "open_change": change.pk if change else None}


@require_http_methods(["GET", "POST"])
@permission_required(EDIT_PERMISSIONS, raise_exception=True)
@vary_on_headers("HX-Request")
def meter_reference_edit(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    """GET: the inline edit form (or the cell again on cancel). POST: validate, record, push."""
    meter = _meter(meter_id)
    if request.method == "GET":
        if request.GET.get("cancel"):
            return _cell(request, meter)
        form = PartnerReferenceForm(
            initial={"partner_reference": meter.partner_reference, **_seen(meter)}
        )
        return render(
            request, "meters/partials/reference_form.html", {"meter": meter, "form": form}
        )
    form = PartnerReferenceForm(request.POST)
    refused = None
    if form.is_valid():
        value = form.cleaned_data["partner_reference"]
        try:
            set_partner_reference(meter, value, actor=request.user, seen=form.seen())
        except ReferenceRefused as error:
            refused = str(error)
    if not request.htmx:
        _flash(request, form, refused)
        return redirect("meters:meter_detail", meter_id=meter.meter_id)
    if refused:  # bind to the meter as it is now: submitting again is then a conscious choice
        meter = _meter(meter_id)
        data = {"partner_reference": request.POST.get("partner_reference", "")}
        form = PartnerReferenceForm({**data, **_seen(meter)})
    if not form.is_valid() or refused:
        context = {"meter": meter, "form": form, "refused": refused}
        return render(request, "meters/partials/reference_form.html", context)
    return _cell(request, meter, note="Saved; sending to Leap.")


def _flash(request: HttpRequest, form: PartnerReferenceForm, refused: str | None) -> None:
    if refused or not form.is_valid():
        errors = refused or "; ".join(e for errs in form.errors.values() for e in errs)
        messages.error(request, f"partner_reference not changed: {errors}")
    else:
        messages.success(request, "partner_reference saved; sending to Leap.")


@require_POST
@permission_required(EDIT_PERMISSIONS, raise_exception=True)
def meter_reference_from_site(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    """Set partner_reference to the mapped site's external_id, in one click."""
    meter = _meter(meter_id)
    form = SeenForm(request.POST)
    try:
        if not form.is_valid():
            raise ReferenceRefused("the page sent a malformed form; reload it")
        set_reference_from_site(meter, actor=request.user, seen=form.seen())
        note, refused = "Set from the site; sending to Leap.", None
    except ReferenceRefused as error:
        note = refused = f"Not changed: {error}"
    if not request.htmx:
        (messages.error if refused else messages.success)(request, note)
        return redirect("meters:meter_detail", meter_id=meter.meter_id)
    return _cell(request, meter, note=note, refused=refused)


@require_POST
@permission_required(EDIT_PERMISSIONS, raise_exception=True)
def reference_bulk_from_site(request: HttpRequest) -> HttpResponse:
    """Set partner_reference from the site's external_id for the selected meters."""
    ids = [i for i in (parse_uuid(v) for v in request.POST.getlist("meter")) if i][:BULK_MAX]
    meters = Meter.objects.select_related("site").filter(meter_id__in=ids).order_by("meter_id")
    changes, skipped = from_sites(list(meters), actor=request.user)
    count = len(changes)
    messages.success(
        request, f"{count} partner_reference change{pluralize(count)} queued for Leap."
    )
    if skipped:
        reasons = sorted({reason for _, reason in skipped})
        messages.warning(request, f"{len(skipped)} skipped: {'; '.join(reasons)[:300]}")
    return redirect(_next(request, "meters:mapping_queue"))


def _next(request: HttpRequest, default: str) -> str:
    """The page to return to, only if it is on this site."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if target and safe else default


@require_GET
@permission_required("meters.view_partnerreferencechange", raise_exception=True)
@vary_on_headers("HX-Request")
def reference_change_list(request: HttpRequest) -> HttpResponse:
    """Every partner_reference change, unconfirmed ones (pending, failed) first."""
    show = request.GET.get("show", "open")
    changes = PartnerReferenceChange.objects.select_related("meter", "by")
    if show == "open":
        changes = changes.filter(push_status__in=PartnerReferenceChange.OPEN_STATUSES)
    batch = _batch(request)  # the changes of one CSV file (?batch=)
    if batch is not None:
        changes = changes.filter(batch=batch)
    page = Paginator(changes.order_by("-at", "-id"), 50).get_page(request.GET.get("page"))
    context = {"page": page, "show": show, "statuses": PushStatus, "batch": batch}
    template = (
        "meters/partials/reference_change_table.html"
        if wants_partial(request)
        else "meters/reference_changes.html"
    )
    return render(request, template, context)


def _batch(request: HttpRequest) -> ReferenceImport | None:
    value = request.GET.get("batch", "")
    return ReferenceImport.objects.filter(pk=value).first() if value.isdigit() else None


@require_POST
@permission_required(EDIT_PERMISSIONS, raise_exception=True)
def reference_retry(request: HttpRequest, pk: int) -> HttpResponse:
    change = get_object_or_404(PartnerReferenceChange.objects.select_related("meter"), pk=pk)
    queued = retry_push(change, actor=request.user)
    note = "Sending to Leap again." if queued else "This change is no longer waiting for Leap."
    if not request.htmx:
        messages.success(request, note)
        return redirect(_next(request, "meters:reference_change_list"))
    target = request.htmx.target or ""
    if target.startswith("reference-") and not target.startswith("reference-change-"):
        return _cell(request, change.meter, note=note)
    change.refresh_from_db()
    return render(
        request, "meters/partials/reference_change_row.html", {"change": change, "note": note}
    )
