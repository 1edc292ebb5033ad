"""Persona fixtures shared by every app's tests: who is signed in, and in which group."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache: rolled-back rows reuse ids, so cached figures
    keyed by ids could otherwise outlive the test that made them."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Passwords hashed with MD5: the real hasher costs about half a second of CPU per user
    made or signed in, which the personas of hundreds of tests added up to minutes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _figures_in_the_request(monkeypatch):
    """Out-of-date figures are recomputed in the view, not queued: the cluster's task would
    have a connection of its own and could not see the rows a test made in its transaction."""
    monkeypatch.setattr("leapsync.dashboard.store.REFRESH_INLINE", True)


@pytest.fixture(autouse=True)
def _candidates_scored_in_the_caller(monkeypatch):
    """The review queue's candidates are scored where they are asked for, not queued, for the
    same reason: a worker could not see the test's rows."""
    monkeypatch.setattr("meters.candidates.SCORE_INLINE", True)


@pytest.fixture(autouse=True)
def _partner_contact(settings):
    """The partner's contact configured, as in production: customer emails are refused
    without it (tests of that refusal clear it)."""
    settings.PARTNER_SUPPORT_EMAIL = "help@partner.example"


@pytest.fixture
def groups(db) -> None:
    """The real groups and permissions, made by the command deploys run."""
    call_command("setup_leapsync", verbosity=0)


def _client_for(username: str, group: str | None = None, **flags) -> Client:
    user = get_user_model().objects.create_user(username, password="unused-pass-1", **flags)
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ops_client(groups) -> Client:
    return _client_for("olivia", "Operations")


@pytest.fixture
def manager_client(groups) -> Client:
    return _client_for("max", "Managers")


@pytest.fixture
def admin_client(groups) -> Client:
    return _client_for("ada", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider_client(groups) -> Client:
    """Signed in, but in no group: may see nothing."""
    return _client_for("oscar")
