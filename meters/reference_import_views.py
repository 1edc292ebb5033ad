"""partner_reference in bulk from a CSV file: upload, preview, confirm, and the pushes' progress."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from leapsync.leap.references import RULE
from leapsync.ui.htmx import wants_partial
from meters.forms import ReferenceImportForm
from meters.imports import ImportFileError
from meters.models import PushStatus, ReferenceImport
from meters.reference_imports import (
    SHOWN,
    Section,
    apply_references,
    claim_import,
    preview_references,
)
from meters.reference_views import EDIT_PERMISSIONS
from meters.uploads import (
    REFERENCES,
    PendingUploads,
    file_digest,
    load_sidecar,
    save_sidecar,
    upload_path,
)

SESSION_KEY = "reference_imports"
GONE = (
    "This upload is no longer waiting to be confirmed (it was applied or discarded, or is more "
    "than a day old): nothing was sent. Upload the file again if needed."
)
NOT_PREVIEWED = "That is not the file that was previewed: nothing was sent."
# Push states still moving: the progress panel polls while any change is in one.
MOVING = (PushStatus.PENDING, PushStatus.ACCEPTED)


def _uploads(request: HttpRequest) -> PendingUploads:
    return PendingUploads(request.session, SESSION_KEY, REFERENCES)


def _preview_url(token: str) -> str:
    return f"{reverse('meters:reference_import')}?{urlencode({'upload': token})}"


@require_http_methods(["GET", "POST"])
@permission_required(EDIT_PERMISSIONS, raise_exception=True)
def reference_import(request: HttpRequest) -> HttpResponse:
    """GET: the upload form, with the preview of `?upload=`. POST: store the file, preview it."""
    if request.method == "POST":
        form = ReferenceImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, "meters/reference_import.html", {"form": form})
        _uploads(request).discard(request.POST.get("replaces", ""))
        upload = form.cleaned_data["file"]
        token = _uploads(request).add(upload.chunks(), upload.name or "references.csv")
        _preview(request, token, keep=True)  # what the preview shows, kept for the confirmation
        return redirect(_preview_url(token))
    context: dict = {"form": ReferenceImportForm()}
    if "upload" in request.GET:
        context.update(_preview(request, request.GET["upload"]))
    return render(request, "meters/reference_import.html", context)


def _preview(request: HttpRequest, token: str, *, keep: bool = False) -> dict:
    stored = _uploads(request).get(token)
    if stored is None:
        return {"gone": GONE}
    context: dict = {"upload": token, **stored}
    try:
        with upload_path(token, REFERENCES).open("rb") as stream:
            preview = preview_references(stream)
    except ImportFileError as error:
        return {**context, "file_error": str(error)}
    moved: list = []
    if keep:
        save_sidecar(token, preview.seen(), REFERENCES)
    else:  # shown again later: a meter may have moved on since the upload bound the rows
        seen = load_sidecar(token, REFERENCES)
        moved = preview.moved_since(seen) if isinstance(seen, dict) else preview.to_send
    return {
        **context,
        "preview": preview,
        "to_send": len(preview.to_send) - len(moved),
        "moved": Section("moved", "Changed since the upload", len(moved), moved[:SHOWN]),
        "rule": RULE,
    }


@require_POST
@permission_required(EDIT_PERMISSIONS, raise_exception=True)
def reference_import_confirm(request: HttpRequest) -> HttpResponse:
    """Send exactly the previewed file's new and changed rows (token and digest are posted)."""
    uploads, token = _uploads(request), request.POST.get("upload", "")
    stored = uploads.get(token)
    seen = load_sidecar(token, REFERENCES) if stored else None
    if request.POST.get("cancel") or stored is None or not isinstance(seen, dict):
        uploads.discard(token)
        if not request.POST.get("cancel"):
            messages.error(request, GONE)
        return redirect("meters:reference_import")
    if request.POST.get("sha256") != stored["sha256"]:
        messages.error(request, NOT_PREVIEWED)
        return redirect(_preview_url(token))
    try:
        record = _apply_upload(token, stored, seen, request.user)
    except ImportFileError as error:
        messages.error(request, str(error))
        return redirect("meters:reference_import")
    finally:
        uploads.discard(token)
    return redirect("meters:reference_import_detail", pk=record.pk)


def _apply_upload(token: str, stored: dict[str, str], seen: dict, actor) -> ReferenceImport:
    """Claim the upload (once only), then apply the stored file if it is the previewed one."""
    record = claim_import(token, name=stored["name"], sha256=stored["sha256"], actor=actor)
    if record is None:
        raise ImportFileError(GONE)
    try:
        with upload_path(token, REFERENCES).open("rb") as stream:
            # Checked on the open file about to be applied, so nothing can swap it in between.
            if file_digest(stream) != stored["sha256"]:
                raise ImportFileError(f"{NOT_PREVIEWED} The stored file changed after its preview.")
            return apply_references(stream, seen, record=record, actor=actor)
    except ImportFileError:
        record.delete()  # nothing was sent: the file is read whole before any row is
        raise


@require_GET
@permission_required("meters.view_partnerreferencechange", raise_exception=True)
@vary_on_headers("HX-Request")
def reference_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One applied file: what was sent and skipped, and its pushes by state (polled)."""
    record = get_object_or_404(ReferenceImport.objects.select_related("by"), pk=pk)
    by_status = dict(record.changes.order_by().values_list("push_status").annotate(n=Count("id")))
    states = [(status, by_status.get(status.value, 0)) for status in PushStatus]
    moving = sum(by_status.get(status, 0) for status in MOVING)
    context = {"record": record, "states": states, "moving": moving}
    template = (
        "meters/partials/reference_import_progress.html"
        if wants_partial(request)
        else "meters/reference_import_detail.html"
    )
    return render(request, template, context)
