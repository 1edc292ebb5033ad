"""Meter pages, and the site and mapping pages (under sites/, so the navigation tells them apart)."""

from django.urls import path

from meters import (
    changes,
    mapping_views,
    reference_import_views,
    reference_views,
    site_views,
    views,
)

app_name = "meters"
urlpatterns = [
    path("meters/", views.meter_list, name="meter_list"),
    path("meters/export.csv", views.meter_export, name="meter_export"),
    path("meters/search/", views.meter_search, name="meter_search"),
    path("meters/<uuid:meter_id>/", views.meter_detail, name="meter_detail"),
    path("meters/<uuid:meter_id>/sync/", views.meter_sync, name="meter_sync"),
    path(
        "meters/<uuid:meter_id>/sync/<str:token>/",
        views.meter_sync_status,
        name="meter_sync_status",
    ),
    path("meters/<uuid:meter_id>/mapping/", mapping_views.meter_mapping, name="meter_mapping"),
    path("meters/<uuid:meter_id>/map/", mapping_views.meter_map, name="meter_map"),
    path("meters/<uuid:meter_id>/unmap/", mapping_views.meter_unmap, name="meter_unmap"),
    path("meters/<uuid:meter_id>/no-site/", mapping_views.meter_no_site, name="meter_no_site"),
    path(
        "meters/<uuid:meter_id>/reference/",
        reference_views.meter_reference_edit,
        name="meter_reference_edit",
    ),
    path(
        "meters/<uuid:meter_id>/reference/from-site/",
        reference_views.meter_reference_from_site,
        name="meter_reference_from_site",
    ),
    path("changes/", changes.change_log, name="change_log"),
    path("changes/export.csv", changes.change_log_export, name="change_log_export"),
    path("sites/", site_views.site_list, name="site_list"),
    path("sites/<int:pk>/", site_views.site_detail, name="site_detail"),
    path("sites/import/", site_views.site_import, name="site_import"),
    path("sites/import/confirm/", site_views.site_import_confirm, name="site_import_confirm"),
    path("sites/match/", site_views.site_match_references, name="site_match_references"),
    path("sites/search/", mapping_views.site_search, name="site_search"),
    path("sites/review/", mapping_views.mapping_queue, name="mapping_queue"),
    path("sites/review/bulk/", mapping_views.mapping_bulk_preview, name="mapping_bulk_preview"),
    path(
        "sites/review/bulk/accept/", mapping_views.mapping_bulk_accept, name="mapping_bulk_accept"
    ),
    path("sites/shared/", mapping_views.shared_reference_list, name="shared_reference_list"),
    path("sites/references/", reference_views.reference_change_list, name="reference_change_list"),
    path(
        "sites/references/from-site/",
        reference_views.reference_bulk_from_site,
        name="reference_bulk_from_site",
    ),
    path(
        "sites/references/<int:pk>/retry/",
        reference_views.reference_retry,
        name="reference_retry",
    ),
    # partner_reference in bulk from a CSV file: upload and preview, confirm, progress.
    path(
        "sites/references/import/",
        reference_import_views.reference_import,
        name="reference_import",
    ),
    path(
        "sites/references/import/confirm/",
        reference_import_views.reference_import_confirm,
        name="reference_import_confirm",
    ),
    path(
        "sites/references/import/<int:pk>/",
        reference_import_views.reference_import_detail,
        name="reference_import_detail",
    ),
]
