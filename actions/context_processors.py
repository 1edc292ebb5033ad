"""The navigation's "My actions" count, on every full page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from actions.models import RequiredAction


def my_open_actions(user) -> int:
    """Open partner actions assigned to `user` and not done: the inbox's "assigned to me"
    view (`?assignee=me`), counted the same way."""
    return RequiredAction.objects.open_for_partner().not_done().filter(assignee=user).count()


def my_actions(request: HttpRequest) -> dict[str, object]:
    """Counted only when a page shows it (fragments never do), and only for staff who see
    actions."""
    user = getattr(request, "user", None)
    if (
        user is None
        or not user.is_authenticated
        or not user.has_perm("actions.view_requiredaction")
    ):
        return {"my_actions_count": None}
    return {"my_actions_count": SimpleLazyObject(lambda: my_open_actions(user))}
