"""Sign-in protection: the client's address, the failed-sign-in budgets (django-axes), the
lockout page, and the limits on password-reset requests."""

from __future__ import annotations

import hashlib
import ipaddress
import time

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

RESET_WINDOW_SECONDS = 3600


def client_address(request: HttpRequest) -> str | None:
    """The address a request came from, as far as the deployment lets us know it.

    Each of TRUSTED_PROXY_COUNT proxies appends the address it received the request from to
    X-Forwarded-For, so the entry that many places from the right is the one the outermost
    trusted proxy saw. Entries further left were written by the client and are never believed;
    a header with fewer entries, or one that is not an address, did not come through every
    proxy, so the connection's own address stands.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if not count:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < count:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote


class LoginAttemptHandler(AxesDatabaseHandler):
    """axes' database handler with a second budget: besides AXES_FAILURE_LIMIT failures per
    (account, address), LOGIN_ADDRESS_FAILURE_LIMIT failures from one address across accounts,
    so one address cannot try a few passwords on every account."""

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        per_account = super().get_failures(request, credentials)
        if self._address_failures(request) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            # axes compares one number with one limit: report the address's lock as that limit.
            return max(per_account, get_failure_limit(request, credentials))
        return per_account

    @staticmethod
    def _address_failures(request: HttpRequest) -> int:
        attempts = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,
            attempt_time__gte=get_cool_off_threshold(request),
        )
        return attempts.aggregate(failures=Sum("failures_since_start"))["failures"] or 0


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The answer to a refused sign-in (AXES_LOCKOUT_CALLABLE): how long, and whom to ask.

    One HTML page for every caller: axes' own answer to XMLHttpRequest is JSON with a
    permissive CORS header, which this site has no use for.
    """
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    context = {"minutes": minutes, "username": get_client_username(request, credentials) or ""}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


def _over_limit(kind: str, value: str, limit: int) -> bool:
    """Whether `limit` requests of this kind for `value` were taken in the last hour; if not,
    this one is recorded. A list of times, not a counter: the file cache's `incr` would reset
    the expiry. Two workers reading at the same instant can each let one more through."""
    key = f"password-reset:{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
    now = time.time()
    recent = [t for t in cache.get(key, []) if t > now - RESET_WINDOW_SECONDS]
    if len(recent) >= limit:
        return True
    cache.set(key, [*recent, now], timeout=RESET_WINDOW_SECONDS)
    return False


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request, limited per client address (so it cannot be used to send mail
    in bulk) and per email address (so no one's inbox can be flooded)."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        limit = settings.PASSWORD_RESET_LIMIT_PER_ADDRESS
        if _over_limit("client", client_address(self.request) or "", limit):
            context = {"limit": limit}
            return render(
                self.request, "registration/password_reset_limited.html", context, status=429
            )
        email = form.cleaned_data["email"].strip().casefold()
        if _over_limit("email", email, settings.PASSWORD_RESET_LIMIT_PER_EMAIL):
            # The usual answer, without the email: a different one would tell whether the
            # address has an account, or that someone else asked for it this hour.
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    """Django's "check your inbox" page, which also states the per-email limit."""

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        return {**context, "emails_per_hour": settings.PASSWORD_RESET_LIMIT_PER_EMAIL}
