"""Production settings: refuse to start without their variables, pass `check --deploy` with them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "x" * 20 + "production-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "leapsync.example.com",
    "LEAP_BASE_URL": "staging",
    "LEAP_API_KEY": "a-key",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", *PRODUCTION}}
    clean["DATABASE_URL"] = "sqlite:///:memory:"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False,
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    env = {k: v for k, v in PRODUCTION.items() if k != "ALLOWED_HOSTS"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_malformed_boolean_names_the_variable():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_production_web_workers_share_one_cache_by_default(tmp_path):
    """gunicorn's workers are processes: with a per-process cache, sign-in throttling would
    count each worker's failures apart, and each would queue its own figures recompute."""
    show = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    result = _manage("shell", "-c", show, DATA_DIR=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("filebased.FileBasedCache")
    result = _manage("shell", "-c", show, CACHE_URL="locmemcache://", **PRODUCTION)
    assert result.stdout.strip().endswith("locmem.LocMemCache")


def test_task_broker_is_the_database_unless_redis_is_named():
    show = "from django_q.brokers import get_broker; print(type(get_broker()).__name__)"
    result = _manage("shell", "-c", show, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "ORM"
    result = _manage("shell", "-c", show, Q_REDIS_URL="redis://127.0.0.1:6379/0", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "Redis"


def test_redis_broker_carries_a_task_when_redis_runs():
    """The broker of worker clusters on several machines (docs/deploy.md), end to end."""
    import socket
    import uuid

    import pytest

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    queue = f"leapsync-test-{uuid.uuid4().hex}"
    roundtrip = (
        "from django_q.brokers import get_broker; "
        f"b = get_broker({queue!r}); b.enqueue('hello'); task = b.dequeue(); "
        "print(b.ping(), task[0][1].decode()); b.acknowledge(task[0][0]); b.delete_queue()"
    )
    result = _manage(
        "shell", "-c", roundtrip, Q_REDIS_URL="redis://127.0.0.1:6379/15", **PRODUCTION
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "hello"]


def test_sign_in_limits_come_from_the_environment():
    show = (
        "from django.conf import settings as s; print(s.TRUSTED_PROXY_COUNT, s.AXES_FAILURE_LIMIT,"
        " s.LOGIN_ADDRESS_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(),"
        " s.PASSWORD_RESET_LIMIT_PER_EMAIL, s.PASSWORD_RESET_LIMIT_PER_ADDRESS)"
    )
    result = _manage("shell", "-c", show, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-6:] == ["0", "5", "30", "900.0", "3", "10"]
    limits = {
        "TRUSTED_PROXY_COUNT": "1",
        "LOGIN_FAILURE_LIMIT": "4",
        "LOGIN_ADDRESS_FAILURE_LIMIT": "40",
        "LOGIN_LOCKOUT_MINUTES": "30",
        "PASSWORD_RESET_LIMIT_PER_EMAIL": "2",
        "PASSWORD_RESET_LIMIT_PER_ADDRESS": "20",
    }
    result = _manage("shell", "-c", show, **limits, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-6:] == ["1", "4", "40", "1800.0", "2", "20"]


def test_a_sign_in_limit_of_zero_is_refused():
    result = _manage("check", LOGIN_FAILURE_LIMIT="0", **PRODUCTION)
    assert result.returncode != 0
    assert "LOGIN_FAILURE_LIMIT must be at least 1" in result.stderr


def test_the_simulator_runs_in_a_fresh_shell_with_development_defaults():
    """The README's `manage.py leap_simulator ...` needs no variable: it serves no page of ours."""
    result = _manage("leap_simulator", "--help")
    assert result.returncode == 0, result.stderr
    assert "--meters" in result.stdout


def test_the_simulator_gets_no_development_default_once_a_production_setting_is_in_play():
    result = _manage("leap_simulator", "--help", ALLOWED_HOSTS="leapsync.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    result = _manage("leap_simulator", "--help", LEAP_BASE_URL="production")
    assert "SECRET_KEY is not set" in result.stderr


def test_other_commands_get_no_development_default():
    result = _manage("setup_leapsync", "--help")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
