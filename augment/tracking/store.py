"""Where MLflow runs go: the tracking store's URI, and a check that it can be used.

The URI is ``MLFLOW_TRACKING_URI`` when set, else ``tracking.uri`` of params.yaml, with a
relative sqlite path resolved against the project (:func:`project_root`), so that every stage,
every queued DVC experiment and ``augment sample models:/...`` use the same store.
:func:`check_reachable` fails fast, in one line naming the URI, before any training.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from augment.params.config import Params


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or written."""


def project_root() -> Path:
    """The project's folder: ``DVC_ROOT`` under DVC, else the working directory.

    DVC runs a queued experiment (``dvc exp run --queue``) in a temporary copy of the project,
    deleted afterwards, and sets ``DVC_ROOT`` to the real project for it; relative paths of the
    tracking store must resolve there, or the experiment's runs would vanish with the copy.
    """
    return Path(os.environ.get("DVC_ROOT") or ".")


def tracking_uri(params: Params, root: str | Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``tracking.uri``; a relative sqlite path is made
    absolute against the project root (:func:`project_root`), so every stage and every queued
    experiment writes the same database."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or params.tracking.uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        base = Path(root) if root is not None else project_root()
        uri = prefix + str((base / uri[len(prefix) :]).resolve())
    return uri


def _probe_write(folder: Path, uri: str, what: str) -> None:
    """Create and delete a file in ``folder``: the real test of writability (``os.access``
    says yes to root on a read-only mount, for instance)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise TrackingError(
            f"MLflow tracking {what} is not writable: {folder} ({err.strerror or err}; uri {uri}); "
            "fix MLFLOW_TRACKING_URI / tracking.uri, or set tracking.enabled: false"
        ) from None


def local_store(uri: str) -> Path | None:
    """The path a local tracking URI names: the database of ``sqlite:///...``, the folder of
    ``file:...`` or a plain path; None for a server (``http://``, ...)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    if uri.startswith("file:") or "://" not in uri:
        return Path(uri.removeprefix("file://").removeprefix("file:"))
    return None


def check_reachable(uri: str) -> None:
    """Fail fast, with a one-line message naming the URI, when the tracking store is unusable:
    a missing or unwritable sqlite folder, a file that is not an sqlite database, an unwritable
    MLflow folder, an HTTP server that does not answer within a few seconds."""
    store = local_store(uri)
    if uri.startswith("sqlite:///") and store is not None:
        db = store
        folder = db.parent
        if not folder.is_dir():
            raise TrackingError(f"MLflow tracking database folder does not exist: {folder} (uri {uri})")
        _probe_write(folder, uri, "database folder")
        if db.exists():
            if not db.is_file():
                raise TrackingError(f"MLflow tracking database {db} is not a file (uri {uri})")
            try:
                with open(db, "r+b"):
                    pass
                connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
                try:
                    connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
                finally:
                    connection.close()
            except OSError as err:
                raise TrackingError(
                    f"MLflow tracking store is not writable: {db} ({err.strerror or err}; uri {uri})"
                ) from None
            except sqlite3.DatabaseError as err:
                raise TrackingError(
                    f"MLflow tracking database {db} is unreadable ({err}); move it away or fix "
                    f"MLFLOW_TRACKING_URI / tracking.uri (uri {uri})"
                ) from None
    elif uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
        except (urllib.error.URLError, OSError) as err:
            raise TrackingError(
                f"MLflow tracking server unreachable at {uri}: {getattr(err, 'reason', err)}; "
                "start it, fix MLFLOW_TRACKING_URI / tracking.uri, or set tracking.enabled: false"
            ) from None
    elif store is not None:
        folder = store
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # MLflow creates the missing part
        if not folder.is_dir():
            raise TrackingError(f"MLflow tracking folder {folder} is not a folder (uri {uri})")
        _probe_write(folder, uri, "folder")


def configure_mlflow_client() -> None:
    """Process-wide MLflow client settings, before any call to a store: two HTTP retries, not
    MLflow's default of several minutes of them, and no artifact progress bars when stderr is not
    a terminal (their carriage returns would fill a log file; see augment/core/progress.py)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    if not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
