"""Site pages: the list, one site with its meters, and the CSV import (upload, preview, confirm)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.replica import replica_reads
from leapsync.ui.htmx import wants_partial
from leapsync.ui.tables import configure_table
from meters.candidates import SCORE_ALL_TASK, queue_scoring
from meters.filters import SiteFilterSet
from meters.forms import SiteImportForm
from meters.imports import ImportFileError, ImportReport, import_sites
from meters.models import Meter, Site
from meters.services import map_unmapped_by_reference
from meters.tables import SiteTable
from meters.uploads import SITES, PendingUploads, file_digest, upload_path


@require_GET
@replica_reads
@permission_required("meters.view_site", raise_exception=True)
@vary_on_headers("HX-Request")
def site_list(request: HttpRequest) -> HttpResponse:
    filterset = SiteFilterSet(request.GET, queryset=Site.objects.for_list())
    table = configure_table(request, SiteTable(filterset.qs))
    page = "meters/partials/site_table.html" if wants_partial(request) else "meters/site_list.html"
    return render(request, page, {"filterset": filterset, "table": table})


@require_GET
@permission_required("meters.view_site", raise_exception=True)
def site_detail(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=pk)
    meters = list(
        Meter.objects.filter(site=site)
        .select_related("enrollment", "mapped_by")
        .defer("details_raw", "enrollment__enrollment_raw")
        .order_by("meter_id")
    )
    return render(request, "meters/site_detail.html", {"site": site, "meters": meters})


# This session's uploads awaiting confirmation: token -> {"name", "sha256"}. Several may wait at
# once (a preview in each tab); a confirmation names its token and digest, never "the latest".
SESSION_KEY = "site_imports"
GONE = (
    "This upload is no longer waiting to be imported (it was imported or discarded, or is "
    "more than a day old): upload the file again."
)
NOT_PREVIEWED = "That is not the file that was previewed: nothing was imported."


def _uploads(request: HttpRequest) -> PendingUploads:
    return PendingUploads(request.session, SESSION_KEY, SITES)


def _pending_upload(request: HttpRequest, token: str) -> dict[str, str] | None:
    """This session's upload `token`, awaiting confirmation, if its file is still stored."""
    return _uploads(request).get(token)


@require_http_methods(["GET", "POST"])
@permission_required(["meters.add_site", "meters.change_site"], raise_exception=True)
def site_import(request: HttpRequest) -> HttpResponse:
    """GET: the upload form, with the preview of `?upload=`. POST: store the file, preview it."""
    if request.method == "POST":
        form = SiteImportForm(request.POST, request.FILES)
        if form.is_valid():
            # Uploading another file from a preview replaces that upload, in that tab only.
            _discard_upload(request, request.POST.get("replaces", ""))
            token = _store_upload(request, form.cleaned_data["file"])
            return redirect(_preview_url(token))
        return render(request, "meters/site_import.html", {"form": form})
    context: dict = {"form": SiteImportForm()}
    if "upload" in request.GET:
        context.update(_preview(request, request.GET["upload"]))
    return render(request, "meters/site_import.html", context)


def _preview_url(token: str) -> str:
    return f"{reverse('meters:site_import')}?{urlencode({'upload': token})}"


def _preview(request: HttpRequest, token: str) -> dict:
    stored = _pending_upload(request, token)
    if stored is None:
        return {"gone": GONE}
    context = {"upload": token, "name": stored["name"], "sha256": stored["sha256"]}
    try:
        with upload_path(token).open("rb") as stream:
            context["report"] = import_sites(stream, dry_run=True)
    except ImportFileError as error:
        context["file_error"] = str(error)
    return context


def _store_upload(request: HttpRequest, upload: UploadedFile) -> str:
    return _uploads(request).add(upload.chunks(), upload.name or "upload.csv")


def _discard_upload(request: HttpRequest, token: str) -> None:
    _uploads(request).discard(token)


@require_POST
@permission_required(["meters.add_site", "meters.change_site"], raise_exception=True)
def site_import_confirm(request: HttpRequest) -> HttpResponse:
    """Import exactly the previewed file (its upload token and digest are posted), then map
    meters whose reference now matches a site."""
    token = request.POST.get("upload", "")
    stored = _pending_upload(request, token)
    if request.POST.get("cancel") or stored is None:
        _discard_upload(request, token)
        if stored is None:
            messages.error(request, GONE)
        return redirect("meters:site_import")
    if request.POST.get("sha256") != stored["sha256"]:
        messages.error(request, NOT_PREVIEWED)
        return redirect(_preview_url(token))
    try:
        report = _import_upload(token, stored["sha256"])
    except ImportFileError as error:
        messages.error(request, str(error))
        return redirect("meters:site_import")
    finally:
        _discard_upload(request, token)
    mapped = map_unmapped_by_reference()  # import_sites returned: its transaction committed
    queue_scoring(SCORE_ALL_TASK)
    messages.success(request, _imported_message(stored["name"], report, mapped))
    return redirect("meters:site_list")


def _import_upload(token: str, sha256: str) -> ImportReport:
    with upload_path(token).open("rb") as stream:
        # Checked on the open file about to be imported, so nothing can swap it in between.
        if file_digest(stream) != sha256:
            raise ImportFileError(f"{NOT_PREVIEWED} The stored file changed after its preview.")
        return import_sites(stream)


def _imported_message(name: str, report: ImportReport, mapped: int) -> str:
    bad = report.error_count
    skipped = f" {bad} bad row{pluralize(bad)} skipped." if bad else ""
    return (
        f"Imported {name}: {report.created} new, {report.updated} changed, "
        f"{report.unchanged} unchanged.{skipped} {mapped} meter{pluralize(mapped)} mapped by "
        "reference; the review queue's candidate sites are being scored again."
    )


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def site_match_references(request: HttpRequest) -> HttpResponse:
    """Map every unmapped meter whose partner_reference equals a site's external_id, now."""
    mapped = map_unmapped_by_reference()
    messages.success(request, f"{mapped} meter{pluralize(mapped)} mapped by reference.")
    return redirect("meters:mapping_queue")
