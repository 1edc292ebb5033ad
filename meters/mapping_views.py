"""The mapping review queue and its one-click HTMX actions, bulk accept, and shared references."""

from __future__ import annotations

from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.ui.filters import parse_uuid
from leapsync.ui.htmx import wants_partial
from meters.filters import MeterFilterSet, ReviewQueueFilterSet
from meters.forms import BulkAcceptForm
from meters.matching import search_sites, suggest
from meters.models import MappingSource, Meter, QueueOrder, Site
from meters.services import (
    BulkAcceptReport,
    accept_candidates,
    map_meter,
    mark_no_site,
    unmap_meter,
)

PER_PAGE = 25
PREVIEW_ROWS = 500  # rows a bulk-accept preview lists; the confirm maps every match


@require_GET
@permission_required("meters.view_meter", raise_exception=True)
@vary_on_headers("HX-Request")
def mapping_queue(request: HttpRequest) -> HttpResponse:
    """Meters to map, each with its stored best candidate site; strongest first by default."""
    filterset = ReviewQueueFilterSet(request.GET, queryset=Meter.objects.review_queue())
    page = Paginator(filterset.qs, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "meters": list(page.object_list),
        "bulk_form": BulkAcceptForm(),
        "carried": _row_filters(filterset.data),
    }
    template = (
        "meters/partials/review_table.html"
        if wants_partial(request)
        else "meters/review_queue.html"
    )
    return render(request, template, context)


def _row_filters(data: QueryDict) -> list[tuple[str, str]]:
    """The queue's row-choosing filters as (name, value) pairs, for hidden inputs."""
    return [
        (name, value)
        for name in ReviewQueueFilterSet.ROW_FILTERS
        for value in data.getlist(name)
        if value
    ]


def _queue_url(data: QueryDict) -> str:
    """The review queue with the row filters of `data`: where a bulk accept came from."""
    query = urlencode(_row_filters(data))
    return reverse("meters:mapping_queue") + (f"?{query}" if query else "")


def _meter(meter_id: UUID) -> Meter:
    queryset = Meter.objects.review_queue().order_by()
    return get_object_or_404(queryset, meter_id=meter_id)


def _mapping_response(request: HttpRequest, meter_id: UUID, note: str) -> HttpResponse:
    """After a mapping action: the queue row, or the meter page's mapping panel, or a redirect."""
    meter = _meter(meter_id)
    if not request.htmx:
        messages.success(request, note)
        return redirect("meters:meter_detail", meter_id=meter.meter_id)
    if request.htmx.target == "meter-mapping":
        suggestions = suggest([meter]).get(meter.pk, []) if meter.site_id is None else []
        context = {"meter": meter, "suggestions": suggestions, "note": note}
        return render(request, "meters/partials/meter_mapping.html", context)
    return render(request, "meters/partials/queue_row.html", {"meter": meter, "note": note})


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


def _bulk_candidates(data: QueryDict, threshold: int) -> QuerySet[Meter] | None:
    """The meters a bulk accept maps: the queue's filter, waiting meters only, candidate
    scoring at least `threshold`; strongest first. The preview and the confirm both use it.

    None when the filter is not valid: django-filter would drop the invalid part and map more
    than was asked for.
    """
    data = data.copy()
    data["show"] = "unmapped"
    data["sort"] = QueueOrder.STRONGEST
    base = Meter.objects.select_related("match_candidate__site").defer("details_raw")
    filterset = ReviewQueueFilterSet(data, queryset=base)
    if not filterset.is_valid():
        return None
    return filterset.qs.filter(
        match_candidate__site__isnull=False, match_candidate__score__gte=threshold
    )


@require_GET
@permission_required("meters.change_meter", raise_exception=True)
def mapping_bulk_preview(request: HttpRequest) -> HttpResponse:
    """What bulk accept would map, over every meter of the queue's filter: nothing is written."""
    form = BulkAcceptForm(request.GET)
    context: dict = {
        "bulk_form": form,
        "carried": _row_filters(request.GET),
        "queue_url": _queue_url(request.GET),
    }
    if form.is_valid():
        threshold = form.cleaned_data["threshold"]
        as_of = timezone.now()  # before reading: a candidate changed after it is skipped
        matches = _bulk_candidates(request.GET, threshold)
        if matches is None:
            context["bad_filter"] = True
        else:
            total = matches.count()
            context |= {
                "threshold": threshold,
                "total": total,
                "meters": list(matches[:PREVIEW_ROWS]),
                "unlisted": max(total - PREVIEW_ROWS, 0),
                "as_of": as_of.isoformat(),
            }
    template = (
        "meters/partials/bulk_accept.html" if wants_partial(request) else "meters/bulk_accept.html"
    )
    return render(request, template, context)


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def mapping_bulk_accept(request: HttpRequest) -> HttpResponse:
    """Map every meter of the previewed filter to its candidate, less the opted-out ones.

    The filter is applied again here, so the post carries the filter and the opt-outs, never
    the pairs; candidates that changed after the preview are skipped and counted.
    """
    form = BulkAcceptForm(request.POST)
    valid = form.is_valid() and form.cleaned_data["as_of"] is not None
    matches = _bulk_candidates(request.POST, form.cleaned_data["threshold"]) if valid else None
    if matches is None:
        messages.error(request, "Preview the bulk accept again: the confirmation was incomplete.")
        return redirect(_queue_url(request.POST))
    excluded = [i for i in (parse_uuid(v) for v in request.POST.getlist("exclude")) if i]
    if excluded:
        matches = matches.exclude(meter_id__any=excluded)
    report = accept_candidates(
        matches,
        threshold=form.cleaned_data["threshold"],
        as_of=form.cleaned_data["as_of"],
        actor=request.user,
    )
    messages.success(request, _accepted_message(report, len(excluded)))
    return redirect(_queue_url(request.POST))


def _accepted_message(report: BulkAcceptReport, excluded: int) -> str:
    their = pluralize(report.mapped, "its,their")
    text = f"{report.mapped} meter{pluralize(report.mapped)} mapped to {their} candidate site."
    if excluded:
        text += f" {excluded} left out as you chose."
    if report.changed:
        text += (
            f" {report.changed} skipped: {pluralize(report.changed, 'its,their')} candidate "
            "changed after the preview (another site or score, or newly scored); preview "
            "again to review "
            f"{pluralize(report.changed, 'it,them')}."
        )
    return text


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
