"""Site lists uploaded for import, kept under DATA_DIR/site-imports until confirmed or discarded.

Each file is named by a random token and known by its SHA-256 digest, so a confirmation can name
exactly the file that was previewed. Files never confirmed are removed after a day by a schedule.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import IO

from django.conf import settings

# A preview left open longer than this is stale anyway; each file may be 200 MB.
MAX_AGE = timedelta(days=1)


def upload_dir() -> Path:
    path = Path(settings.DATA_DIR) / "site-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_path(token: str) -> Path:
    """Where the upload `token` is stored. Callers pass only tokens `save_upload` returned."""
    return upload_dir() / f"{token}.csv"


def save_upload(chunks: Iterable[bytes]) -> tuple[str, str]:
    """Store an uploaded file; return its token and the SHA-256 hex digest of its bytes."""
    token = secrets.token_hex(16)
    digest = hashlib.sha256()
    with upload_path(token).open("wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    return token, digest.hexdigest()


def file_digest(stream: IO[bytes]) -> str:
    """SHA-256 hex digest of an open file, read from the start; the stream is left at the start."""
    stream.seek(0)
    digest = hashlib.file_digest(stream, "sha256").hexdigest()
    stream.seek(0)
    return digest


def remove_upload(token: str) -> None:
    upload_path(token).unlink(missing_ok=True)


def remove_stale_uploads() -> int:
    """Remove uploads older than MAX_AGE (never confirmed nor discarded); return how many.

    Idempotent, so django-q2 may replay it. A confirmation already reading a file it removes
    goes on: the open file stays readable until closed.
    """
    cutoff = time.time() - MAX_AGE.total_seconds()
    removed = 0
    for path in upload_dir().glob("*.csv"):
        try:
            stale = path.stat().st_mtime < cutoff
        except FileNotFoundError:  # confirmed or discarded meanwhile
            continue
        if stale:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
