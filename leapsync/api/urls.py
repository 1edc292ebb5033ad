"""/api/v1/: the API's endpoints, its schema and its docs page."""

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import path, re_path

from leapsync.api import docs, views

app_name = "api"

# Tokens authenticate these, not the session: the site's sign-in redirect must not apply.
urlpatterns = [
    path("meters/", login_not_required(views.MeterList.as_view()), name="meter_list"),
    path(
        "meters/<uuid:meter_id>/",
        login_not_required(views.MeterDetail.as_view()),
        name="meter_detail",
    ),
    path(
        "meters/<uuid:meter_id>/partner_reference/",
        login_not_required(views.MeterReference.as_view()),
        name="meter_reference",
    ),
    path("sites/", login_not_required(views.SiteList.as_view()), name="site_list"),
    path("actions/", login_not_required(views.ActionList.as_view()), name="action_list"),
    path("roster/", login_not_required(views.Roster.as_view()), name="roster"),
    path("deadlines/", login_not_required(views.Deadlines.as_view()), name="deadlines"),
    path("sync/", login_not_required(views.SyncStatus.as_view()), name="sync_status"),
    path("changes/", login_not_required(views.ChangeFeed.as_view()), name="change_feed"),
    path(
        "changes/head/",
        login_not_required(views.ChangeFeedHead.as_view()),
        name="change_feed_head",
    ),
    path("schema/", login_not_required(docs.Schema.as_view()), name="schema"),
    # A page for people: the site's sign-in applies (DRF marks its views exempt from the
    # LoginRequiredMiddleware, so it is asked for here).
    path("docs/", login_required(docs.Docs.as_view()), name="docs"),
    # Any other path under /api/v1/: a problem document, not the site's HTML 404 page.
    re_path(r"^.*$", login_not_required(views.not_found)),
]
