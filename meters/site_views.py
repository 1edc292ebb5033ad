"""Site pages: the list, one site with its meters, and the CSV import (upload, preview, confirm)."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.htmx import wants_partial
from leapsync.tables import configure_table
from meters.filters import SiteFilterSet
from meters.forms import SiteImportForm
from meters.imports import ImportFileError, ImportReport, import_sites
from meters.models import Meter, Site
from meters.services import map_unmapped_by_reference
from meters.tables import SiteTable

SESSION_KEY = "site_import"


@require_GET
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


def _upload_dir() -> Path:
    path = Path(settings.DATA_DIR) / "site-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pending_upload(request: HttpRequest) -> tuple[Path, str] | None:
    """The uploaded file waiting for confirmation in this session, if it is still there."""
    stored = request.session.get(SESSION_KEY)
    if not stored:
        return None
    path = _upload_dir() / f"{stored['token']}.csv"
    return (path, stored["name"]) if path.exists() else None


@require_http_methods(["GET", "POST"])
@permission_required(["meters.add_site", "meters.change_site"], raise_exception=True)
def site_import(request: HttpRequest) -> HttpResponse:
    """GET: the upload form, or the preview of the uploaded file. POST: upload, then preview."""
    if request.method == "POST":
        form = SiteImportForm(request.POST, request.FILES)
        if form.is_valid():
            _store_upload(request, form.cleaned_data["file"])
            return redirect("meters:site_import")
        return render(request, "meters/site_import.html", {"form": form})
    pending = _pending_upload(request)
    context: dict = {"form": SiteImportForm()}
    if pending:
        path, name = pending
        context["name"] = name
        try:
            with path.open("rb") as stream:
                context["report"] = import_sites(stream, dry_run=True)
        except ImportFileError as error:
            context["file_error"] = str(error)
    return render(request, "meters/site_import.html", context)


def _store_upload(request: HttpRequest, upload) -> None:
    _discard_upload(request)
    token = secrets.token_hex(16)
    with (_upload_dir() / f"{token}.csv").open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    request.session[SESSION_KEY] = {"token": token, "name": upload.name}


def _discard_upload(request: HttpRequest) -> None:
    pending = _pending_upload(request)
    if pending:
        pending[0].unlink(missing_ok=True)
    request.session.pop(SESSION_KEY, None)


@require_POST
@permission_required(["meters.add_site", "meters.change_site"], raise_exception=True)
def site_import_confirm(request: HttpRequest) -> HttpResponse:
    """Import the previewed file, then map meters whose reference now matches a site."""
    pending = _pending_upload(request)
    if request.POST.get("cancel") or not pending:
        _discard_upload(request)
        if not pending:
            messages.error(request, "Nothing to import: upload the file again.")
        return redirect("meters:site_import")
    try:
        with pending[0].open("rb") as stream:
            report = import_sites(stream)
    except ImportFileError as error:
        messages.error(request, str(error))
        return redirect("meters:site_import")
    finally:
        _discard_upload(request)
    mapped = map_unmapped_by_reference()
    messages.success(request, _imported_message(pending[1], report, mapped))
    return redirect("meters:site_list")


def _imported_message(name: str, report: ImportReport, mapped: int) -> str:
    bad = report.error_count
    skipped = f" {bad} bad row{pluralize(bad)} skipped." if bad else ""
    return (
        f"Imported {name}: {report.created} new, {report.updated} changed, "
        f"{report.unchanged} unchanged.{skipped} {mapped} meter{pluralize(mapped)} mapped by "
        "reference."
    )


@require_POST
@permission_required("meters.change_meter", raise_exception=True)
def site_match_references(request: HttpRequest) -> HttpResponse:
    """Map every unmapped meter whose partner_reference equals a site's external_id, now."""
    mapped = map_unmapped_by_reference()
    messages.success(request, f"{mapped} meter{pluralize(mapped)} mapped by reference.")
    return redirect("meters:mapping_queue")
