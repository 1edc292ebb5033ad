"""CSV files uploaded for import, kept under DATA_DIR until confirmed or discarded: site lists
(site-imports/) and partner_reference lists (reference-imports/).

Each file is named by a random token and known by its SHA-256 digest, so a confirmation can name
exactly the file that was previewed. A file may have a JSON sidecar of the same token (what its
preview showed). Files never confirmed are removed after a day by a schedule.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings

# A preview left open longer than this is stale anyway; each file may be 200 MB.
MAX_AGE = timedelta(days=1)
SITES = "site-imports"
REFERENCES = "reference-imports"
FOLDERS = (SITES, REFERENCES)


def upload_dir(folder: str = SITES) -> Path:
    path = Path(settings.DATA_DIR) / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_path(token: str, folder: str = SITES) -> Path:
    """Where the upload `token` is stored. Callers pass only tokens `save_upload` returned."""
    return upload_dir(folder) / f"{token}.csv"


def sidecar_path(token: str, folder: str = SITES) -> Path:
    """Where what the upload's preview showed is kept (JSON), beside the file."""
    return upload_dir(folder) / f"{token}.json"


def save_sidecar(token: str, data: object, folder: str = SITES) -> None:
    sidecar_path(token, folder).write_text(json.dumps(data, separators=(",", ":")))


def load_sidecar(token: str, folder: str = SITES) -> object | None:
    try:
        return json.loads(sidecar_path(token, folder).read_text())
    except (FileNotFoundError, ValueError):
        return None


def save_upload(chunks: Iterable[bytes], folder: str = SITES) -> tuple[str, str]:
    """Store an uploaded file; return its token and the SHA-256 hex digest of its bytes."""
    token = secrets.token_hex(16)
    digest = hashlib.sha256()
    with upload_path(token, folder).open("wb") as out:
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


def remove_upload(token: str, folder: str = SITES) -> None:
    upload_path(token, folder).unlink(missing_ok=True)
    sidecar_path(token, folder).unlink(missing_ok=True)


def remove_stale_uploads() -> int:
    """Remove uploads older than MAX_AGE (never confirmed nor discarded); return how many.

    Idempotent, so django-q2 may replay it. A confirmation already reading a file it removes
    goes on: the open file stays readable until closed.
    """
    cutoff = time.time() - MAX_AGE.total_seconds()
    removed = 0
    paths = [path for folder in FOLDERS for path in upload_dir(folder).glob("*.*")]
    for path in paths:
        try:
            stale = path.stat().st_mtime < cutoff
        except FileNotFoundError:  # confirmed or discarded meanwhile
            continue
        if stale:
            path.unlink(missing_ok=True)
            removed += path.suffix == ".csv"  # a sidecar goes with its file
    return removed


class PendingUploads:
    """One session's uploads awaiting confirmation, in one folder: token -> {"name", "sha256"}.

    Several may wait at once (a preview in each tab); a confirmation names its token and
    digest, never "the latest". Only a token this session stored ever names a file: a posted
    value never becomes a path.
    """

    def __init__(self, session: MutableMapping[str, Any], key: str, folder: str) -> None:
        self.session, self.key, self.folder = session, key, folder

    def get(self, token: str) -> dict[str, str] | None:
        """The upload `token`, if this session stored it and its file is still there."""
        stored = self.session.get(self.key, {}).get(token)
        if stored is None or not upload_path(token, self.folder).exists():
            return None
        return stored

    def add(self, chunks: Iterable[bytes], name: str) -> str:
        """Store a file for this session; return its token."""
        token, sha256 = save_upload(chunks, self.folder)
        # Forget uploads whose file is gone (removed after a day), so the session does not grow.
        uploads = {
            t: v
            for t, v in self.session.get(self.key, {}).items()
            if upload_path(t, self.folder).exists()
        }
        uploads[token] = {"name": name, "sha256": sha256}
        self.session[self.key] = uploads
        return token

    def discard(self, token: str) -> None:
        uploads = self.session.get(self.key, {})
        if token in uploads:
            del uploads[token]
            self.session[self.key] = uploads
            remove_upload(token, self.folder)
