"""Opening a list as a person left it: their default view, a saved view, their columns.

This app knows no list's filters. A list view passes the parameters it understands (its
FilterSet's filters and `sort`); a saved view's query is cleaned against them when it is opened,
so a view saved before a filter was renamed or removed still opens, without that filter and
with a note saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import Group
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, QueryDict

from leapsync.preferences.models import ListPage, ListPreference, SavedView

# Never part of a view: the page number and page links, and this app's own switches.
NOT_SAVED = frozenset({"page", "before", "after", "view", "reset"})
# The list each page key names (URL names; this app imports no app).
LIST_URLS = {ListPage.METERS: "meters:meter_list", ListPage.ACTIONS: "actions:action_list"}


def clean_query(query: str, known: Iterable[str]) -> tuple[str, list[str]]:
    """(`query` without what the list no longer understands, the names left out)."""
    params = QueryDict(query, mutable=True)
    known = set(known)
    ignored = sorted(name for name in params if name not in known and name not in NOT_SAVED)
    for name in list(params):
        if name not in known or name in NOT_SAVED:
            del params[name]
    return params.urlencode(), ignored


def _note_ignored(request: HttpRequest, view: SavedView, ignored: list[str]) -> None:
    if ignored:
        names = ", ".join(f"“{name}”" for name in ignored)
        messages.info(
            request,
            f"The view “{view.name}” was saved with {names}, which this list no longer has: "
            "left out. Save the view again to keep it this way.",
        )


def opening_url(request: HttpRequest, page: str, known: Iterable[str]) -> str | None:
    """Where to send a request (this path and a query) that opens a saved view (`?view=`), or
    that opens the list bare while its user has a default view; None to show the list as asked."""
    user = request.user
    if "view" in request.GET:
        view = _visible(user, page, request.GET.get("view", ""))
        if view is None:
            messages.error(request, "That saved view does not exist, or is not shared with you.")
            return f"{request.path}?reset=1"
        return _view_url(request, view, known)
    if request.GET or request.htmx:
        return None
    preference = _preference(request, page)
    if preference is None or preference.default_view_id is None:
        return None
    view = _visible(user, page, str(preference.default_view_id))
    return _view_url(request, view, known) if view is not None else None


def _view_url(request: HttpRequest, view: SavedView, known: Iterable[str]) -> str:
    query, ignored = clean_query(view.query, known)
    _note_ignored(request, view, ignored)
    # "reset" keeps an empty view from opening the default view again.
    return f"{request.path}?{query or 'reset=1'}"


def _preference(request: HttpRequest, page: str) -> ListPreference | None:
    """The person's preference on this list, read once per request."""
    cache = request.__dict__.setdefault("_list_preferences", {})
    if page not in cache:
        cache[page] = ListPreference.objects.filter(user=request.user, page=page).first()
    return cache[page]


def _visible(user, page: str, pk: str) -> SavedView | None:
    if not pk.isdigit():
        return None
    return SavedView.objects.visible_to(user).filter(page=page, pk=int(pk)).first()


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    shown: bool
    required: bool


@dataclass
class ListState:
    """What the views bar and the column chooser of one list show."""

    page: str
    query: str  # the list's current filters and sort, as a view would save them
    mine: list[SavedView] = field(default_factory=list)
    shared: list[SavedView] = field(default_factory=list)
    default_id: int | None = None
    current_id: int | None = None
    groups: list[Group] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)

    @property
    def hidden(self) -> list[str]:
        return [c.name for c in self.columns if not c.shown]


def _groups(user: Any) -> list[Group]:
    """The person's groups, read once per request: the page's user menu shows them too, and
    reads them from the same prefetch."""
    prefetch_related_objects([user], "groups")
    return list(user.groups.all())


def list_state(
    request: HttpRequest,
    page: str,
    known: Iterable[str],
    columns: Sequence[tuple[str, str]],
    required: Iterable[str] = (),
) -> ListState:
    """The person's views and columns on this list (two queries)."""
    user = request.user
    known = set(known)
    query, _ignored = clean_query(request.GET.urlencode(), known)
    views = list(SavedView.objects.visible_to(user).filter(page=page).select_related("owner"))
    preference = _preference(request, page)
    hidden = set(preference.hidden_columns if preference else ()) - set(required)
    current = next((v.pk for v in views if clean_query(v.query, known)[0] == query), None)
    return ListState(
        page=page,
        query=query,
        mine=[v for v in views if v.owner_id == user.pk],
        shared=[v for v in views if v.owner_id != user.pk],
        default_id=preference.default_view_id if preference else None,
        current_id=current,
        groups=_groups(user),
        columns=[
            Column(name, label, name not in hidden, name in set(required))
            for name, label in columns
        ],
    )


def save_view(
    user, page: str, name: str, query: str, *, default: bool, shared_with: Group | None
) -> SavedView:
    """Save (or overwrite, by name) one of `user`'s views; optionally make it their default."""
    view, _created = SavedView.objects.update_or_create(
        owner=user, page=page, name=name, defaults={"query": query, "shared_with": shared_with}
    )
    if default:
        set_default(user, page, view)
    return view


def set_default(user, page: str, view: SavedView | None) -> None:
    ListPreference.objects.update_or_create(user=user, page=page, defaults={"default_view": view})


def set_hidden_columns(user, page: str, hidden: Iterable[str]) -> None:
    ListPreference.objects.update_or_create(
        user=user, page=page, defaults={"hidden_columns": sorted(set(hidden))}
    )
