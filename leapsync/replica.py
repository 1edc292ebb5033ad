"""The read replica: the list pages read from it; everything else stays on the primary.

With `DATABASE_REPLICA_URL` set, the settings add the `replica` alias and `ReplicaRouter`. A
list view marked with `replica_reads` (`ReplicaReads` for a class-based view) opens a window
for a GET or HEAD request; inside it, the router sends reads of the listed apps' rows to the
replica unless the request has written, a transaction is open or the replica is unreachable.
Outside a window (every other page, every POST, the sync, django-q2, sessions, sign-in and the
admin) every read and every write goes to the primary. After a POST (or any other write
method), `PinAfterWriteMiddleware` keeps that browser's lists on the primary for a few seconds,
so the list a form leads back to shows the change. Without a replica neither the router nor the
middleware is installed and no window is opened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

if TYPE_CHECKING:  # the settings import this module: it loads no more of Django than it needs
    from django.db.models import Model
    from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
# The apps whose rows the lists show. Sessions, users and permissions, API tokens, people's
# saved views and preferences, django-q2's queue and the admin log are read where they are
# written: on the primary.
REPLICA_APPS = frozenset({"meters", "enrollments", "actions", "leapsync", "dashboard"})
SAFE_METHODS = frozenset({"GET", "HEAD"})
# After a failed connection the replica is left alone this long before it is tried again, so
# an outage costs one connection attempt per process per interval, not one per request.
RETRY_AFTER_SECONDS = 30.0
# After a write method, that browser's lists read the primary this long: a replica further
# behind than this is unwell (docs/deploy.md, "A read replica").
PIN_COOKIE = "leapsync_read_primary"
PIN_SECONDS = 15

logger = logging.getLogger(__name__)


@dataclass
class _Window:
    """One request's leave to read from the replica, closed for good by its first write."""

    wrote: bool = False
    replica_ok: bool | None = None  # checked at the request's first replica read


_window: ContextVar[_Window | None] = ContextVar("replica_window", default=None)


class _Health:
    """Whether this process may use the replica; an outage is logged once, on its first sign."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.retry_at = 0.0

    def reachable(self) -> bool:
        now = time.monotonic()
        if self.down_since is not None and now < self.retry_at:
            return False
        connection = connections[REPLICA]
        try:
            # A kept-alive connection the replica dropped is replaced (CONN_HEALTH_CHECKS).
            connection.close_if_health_check_failed()
            connection.ensure_connection()
        except DatabaseError as error:
            self.failed(error)
            return False
        if self.down_since is not None:
            logger.warning(
                "The read replica is reachable again after %d s; lists read from it.",
                now - self.down_since,
            )
            self.down_since = None
        return True

    def failed(self, error: DatabaseError) -> None:
        now = time.monotonic()
        if self.down_since is None:
            self.down_since = now
            logger.warning(
                "The read replica failed (%s); lists read from the primary, and the replica "
                "is tried again every %d s.",
                str(error).strip(),
                RETRY_AFTER_SECONDS,
            )
        self.retry_at = now + RETRY_AFTER_SECONDS


health = _Health()


class ReplicaRouter:
    """Reads in a replica window go to the replica; every other read, every write and every
    migration goes to the primary (the replica is a copy the primary's replication fills)."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        window = _window.get()
        if (
            window is None
            or window.wrote
            or model._meta.app_label not in REPLICA_APPS
            # A transaction reads what it is about to write: from the primary.
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        if window.replica_ok is None:
            window.replica_ok = health.reachable()
        return REPLICA if window.replica_ok else DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        window = _window.get()
        if window is not None:
            # Whatever the request reads next must see this write: the replica may lag.
            window.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True  # both aliases hold the same rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db != REPLICA


@contextmanager
def replica_window(method: str | None) -> Iterator[_Window | None]:
    """Inside: a safe-method request's reads may go to the replica (None without one)."""
    if method not in SAFE_METHODS or REPLICA not in settings.DATABASES:
        yield None
        return
    window = _Window()
    token = _window.set(window)
    try:
        yield window
    finally:
        _window.reset(token)


def _respond(request: HttpRequest, respond: Callable[[], HttpResponse]) -> HttpResponse:
    """`respond()` in a window (unless this browser has just written); when the replica fails
    under it before the request wrote anything, once more with every read on the primary."""
    method = None if PIN_COOKIE in request.COOKIES else request.method
    with replica_window(method) as window:
        if window is None:
            return respond()
        try:
            return respond()
        except DatabaseError as error:
            # Django flags the connection an error came through: only the replica's counts.
            if window.wrote or not window.replica_ok or not connections[REPLICA].errors_occurred:
                raise
            health.failed(error)
            window.replica_ok = False
            return respond()


def replica_reads(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A list view whose GET requests may read from the replica."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _respond(request, lambda: view(request, *args, **kwargs))

    return wrapped


class ReplicaReads:
    """`replica_reads` for a class-based view (the API's lists); put it first in the bases."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        parent = super().dispatch  # type: ignore[misc]
        return _respond(request, lambda: parent(request, *args, **kwargs))


class PinAfterWriteMiddleware:
    """After a request with a write method, this browser's lists read the primary for
    PIN_SECONDS: the list a form redirects to, or that its person opens next, shows the change
    even while the replica lags. Installed by the settings only with a replica."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A signed-in browser: the API's clients send a token and keep no cookies.
        if request.method not in SAFE_METHODS and settings.SESSION_COOKIE_NAME in request.COOKIES:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=PIN_SECONDS,
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response
