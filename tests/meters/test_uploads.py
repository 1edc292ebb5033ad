"""Stored site-import uploads: the scheduled task that removes the ones never confirmed."""

from __future__ import annotations

import os
import time

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from leapsync.tasks import remove_stale_site_uploads
from meters.uploads import (
    REFERENCES,
    save_sidecar,
    save_upload,
    sidecar_path,
    upload_dir,
    upload_path,
)

HOUR = 3600


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def _aged(hours: float) -> str:
    token, _ = save_upload([b"external_id\nS-1\n"])
    then = time.time() - hours * HOUR
    os.utime(upload_path(token), (then, then))
    return token


def test_remove_stale_site_uploads_removes_only_uploads_older_than_a_day():
    stale, fresh = _aged(25), _aged(23)
    assert remove_stale_site_uploads() == "1 unconfirmed upload removed"
    assert not upload_path(stale).exists()
    assert upload_path(fresh).exists()
    assert remove_stale_site_uploads() == "0 unconfirmed uploads removed"  # replay-safe


def test_stale_partner_reference_uploads_and_their_previews_are_removed_too():
    token, _ = save_upload([b"meter_id,partner_reference\n"], REFERENCES)
    save_sidecar(token, {}, REFERENCES)
    then = time.time() - 25 * HOUR
    for path in (upload_path(token, REFERENCES), sidecar_path(token, REFERENCES)):
        os.utime(path, (then, then))
    assert remove_stale_site_uploads() == "1 unconfirmed upload removed"  # one file
    assert not list(upload_dir(REFERENCES).iterdir())


@pytest.mark.django_db
def test_setup_schedules_the_upload_sweep_hourly():
    stale = _aged(25)
    call_command("setup_leapsync", verbosity=0)
    schedule = Schedule.objects.get(name="meters: remove unconfirmed site imports")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 60)
    import_string(schedule.func)()  # what the cluster does with the dotted path
    assert not upload_path(stale).exists()
