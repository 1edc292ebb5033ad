"""The mapping review queue and its one-click HTMX actions, bulk accept, and shared references."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.ui.filters import parse_uuid
from leapsync.ui.htmx import wants_partial
from meters.filters import MeterFilterSet, ReviewQueueFilterSet
from meters.forms import BulkAcceptForm
from meters.matching import search_sites, suggest
from meters.models import MappingSource, Meter, Site
from meters.services import (
    PlannedMapping,
    accept_suggestions,
    map_meter,
    mark_no_site,
    unmap_meter,
)

PER_PAGE = 25
BULK_MAX = 2000  # meters scored per bulk-accept preview
# Pairs one confirm posts: each is a form field, and a request over
# DATA_UPLOAD_MAX_NUMBER_FIELDS (1000) is refused whole. Preview again for the rest.
ACCEPT_MAX = 500
SCORING_CHUNK = 500


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
@vary_on_headers("HX-Request")
def mapping_queue(request: HttpRequest) -> HttpResponse:
    filterset = ReviewQueueFilterSet(request.GET, queryset=Meter.objects.review_queue())
    page = Paginator(filterset.qs, PER_PAGE).get_page(request.GET.get("page"))
    meters = list(page.object_list)
    suggestions = suggest([m for m in meters if m.site_id is None])
    rows = [(meter, suggestions.get(meter.pk, [])) for meter in meters]
    context = {"filterset": filterset, "page": page, "rows": rows, "bulk_form": BulkAcceptForm()}
    template = (
        "meters/partials/review_table.html"
        if wants_partial(request)
        else "meters/review_queue.html"
    )
    return render(request, template, context)


def _meter(meter_id: UUID) -> Meter:
    queryset = Meter.objects.review_queue().order_by()
    return get_object_or_404(queryset, meter_id=meter_id)


def _mapping_response(request: HttpRequest, meter_id: UUID, note: str) -> HttpResponse:
    """After a mapping action: the queue row, or the meter page's mapping panel, or a redirect."""
    meter = _meter(meter_id)
    if not request.htmx:
        messages.success(request, note)
        return redirect("meters:meter_detail", meter_id=meter.meter_id)
    suggestions = suggest([meter]).get(meter.pk, []) if meter.site_id is None else []
    context = {"meter": meter, "suggestions": suggestions, "note": note}
    if request.htmx.target == "meter-mapping":
        return render(request, "meters/partials/meter_mapping.html", context)
    return render(request, "meters/partials/queue_row.html", context)


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def meter_map(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    """Map to the posted site: an accepted suggestion (`source=suggestion`) or picked by hand."""
    meter = get_object_or_404(Meter.objects.select_related("site"), meter_id=meter_id)
    site = get_object_or_404(Site, pk=request.POST.get("site") or 0)
    source = MappingSource.SUGGESTION
    if request.POST.get("source") != MappingSource.SUGGESTION:
        source = MappingSource.MANUAL
    map_meter(meter, site, actor=request.user, source=source)
    return _mapping_response(request, meter_id, f"Mapped to {site}.")


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def meter_unmap(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    meter = get_object_or_404(Meter.objects.select_related("site"), meter_id=meter_id)
    unmap_meter(meter, actor=request.user)
    return _mapping_response(request, meter_id, "Back in the review queue.")


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def meter_no_site(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    meter = get_object_or_404(Meter.objects.select_related("site"), meter_id=meter_id)
    mark_no_site(meter, actor=request.user)
    return _mapping_response(request, meter_id, "Marked “no site yet”.")


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
@vary_on_headers("HX-Request")
def meter_mapping(request: HttpRequest, meter_id: UUID) -> HttpResponse:
    """The meter's mapping panel: its site, or ranked suggestions with the score's parts."""
    meter = _meter(meter_id)
    suggestions = suggest([meter]).get(meter.pk, []) if meter.site_id is None else []
    context = {"meter": meter, "suggestions": suggestions}
    if wants_partial(request):
        return render(request, "meters/partials/meter_mapping.html", context)
    return redirect("meters:meter_detail", meter_id=meter.meter_id)


@require_GET
@permission_required("meters.view_site", raise_exception=True)
def site_search(request: HttpRequest) -> HttpResponse:
    """The site picker's results for one meter (an HTMX fragment)."""
    meter_id = parse_uuid(request.GET.get("meter", ""))
    if meter_id is None:  # a missing or malformed id is a 404, not a server error
        raise Http404("No such meter.")
    meter = get_object_or_404(Meter, meter_id=meter_id)
    sites = search_sites(request.GET.get("site_q", ""))
    context = {"meter": meter, "sites": sites, "query": request.GET.get("site_q", "")}
    return render(request, "meters/partials/site_picker.html", context)


def _plan(threshold: int) -> tuple[list[PlannedMapping], int]:
    """Unmapped meters whose best suggestion scores at least `threshold`, and how many scored."""
    meters = list(
        Meter.objects.review_queue().filter(site__isnull=True, no_site_yet=False)[:BULK_MAX]
    )
    plan = []
    for start in range(0, len(meters), SCORING_CHUNK):
        chunk = meters[start : start + SCORING_CHUNK]
        for meter, ranked in zip(chunk, suggest(chunk, limit=1).values(), strict=True):
            if ranked and ranked[0].score >= threshold:
                plan.append(PlannedMapping(meter, ranked[0]))
    return plan, len(meters)


@require_GET
@permission_required("meters.change_meter", raise_exception=True)
def mapping_bulk_preview(request: HttpRequest) -> HttpResponse:
    """What bulk accept would do at the chosen confidence: nothing is written."""
    form = BulkAcceptForm(request.GET)
    context: dict = {"bulk_form": form}
    if form.is_valid():
        context["plan"], context["scored"] = _plan(form.cleaned_data["threshold"])
        context["threshold"] = form.cleaned_data["threshold"]
        context["limit"] = BULK_MAX
        context["accept"] = context["plan"][:ACCEPT_MAX]
    template = (
        "meters/partials/bulk_accept.html" if wants_partial(request) else "meters/bulk_accept.html"
    )
    return render(request, template, context)


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def mapping_bulk_accept(request: HttpRequest) -> HttpResponse:
    """Apply exactly the previewed pairs (meter_id:site pk) that are still unmapped."""
    pairs = dict(item.split(":", 1) for item in request.POST.getlist("pair") if ":" in item)
    wanted = {parse_uuid(m): p for m, p in pairs.items() if parse_uuid(m) and p.isdigit()}
    meters = Meter.objects.select_related("site").filter(
        meter_id__in=list(wanted), site__isnull=True, no_site_yet=False
    )
    sites = Site.objects.in_bulk([int(p) for p in wanted.values()])
    accepted = [
        (meter, sites[int(wanted[meter.meter_id])])
        for meter in meters
        if int(wanted[meter.meter_id]) in sites
    ]
    changed = accept_suggestions(accepted, actor=request.user)
    messages.success(
        request, f"{changed} meter{pluralize(changed)} mapped to their suggested site."
    )
    return redirect("meters:mapping_queue")


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
def shared_reference_list(request: HttpRequest) -> HttpResponse:
    """Meters that share a partner_reference, grouped, so staff can tell which belongs where."""
    shared = MeterFilterSet({"reference": "shared"}, queryset=Meter.objects.review_queue()).qs
    page = Paginator(shared.order_by("partner_reference", "meter_id"), 60).get_page(
        request.GET.get("page")
    )
    meters = list(page.object_list)
    suggestions = suggest([m for m in meters if m.site_id is None])
    for meter in meters:
        meter.suggestions = suggestions.get(meter.pk, [])
    return render(request, "meters/shared_references.html", {"page": page, "meters": meters})
