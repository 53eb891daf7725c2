"""MLflow as a side channel: runs, params, per-epoch losses and grids, metrics, artifacts.

Nothing in the library needs MLflow to run. A stage opens a :class:`Tracker` (a no-op when
``tracking.enabled`` is false), which checks at the start that the tracking store is reachable
and writable, so a bad URI fails before any training, not after it.

Every run carries the tags docs/design.md promises:
    augment.stage      train_generator | sample | train_classifier | compare
    augment.method     the generator (train_generator, sample) or the source (train_classifier:
                       real, classic, cvae, classic+cvae, cvae-filtered, ...); compare: all
    augment.execution  shared by the runs of one pipeline execution (see :func:`execution_id`)
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from augment.config import Params, one_line
from augment.distributed import is_main_process

TAG_STAGE = "augment.stage"
TAG_METHOD = "augment.method"
TAG_EXECUTION = "augment.execution"
EXECUTION_ENV = "AUGMENT_EXECUTION_ID"


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
        uri = prefix + str((base / uri[len(prefix):]).resolve())
    return uri


def execution_id() -> str:
    """One id for all stages of one ``dvc repro``.

    ``AUGMENT_EXECUTION_ID`` when set; else the start time and pid of the ``dvc`` process this
    stage runs under (every stage of one repro has the same ancestor); else a fresh id, for a
    stage run on its own.
    """
    if os.environ.get(EXECUTION_ENV):
        return os.environ[EXECUTION_ENV]
    try:
        import psutil

        proc = psutil.Process().parent()
        while proc is not None:
            cmd = " ".join(proc.cmdline()[:3])
            if Path(proc.name()).name == "dvc" or "dvc " in cmd or cmd.endswith("dvc"):
                started = time.strftime("%Y%m%d-%H%M%S", time.localtime(proc.create_time()))
                # A queue worker runs several experiments: each is its own execution.
                experiment = os.environ.get("DVC_EXP_NAME")
                return f"dvc-{started}-{proc.pid}" + (f"-{experiment}" if experiment else "")
            proc = proc.parent()
    except Exception:  # noqa: BLE001 - any psutil failure just means "not under dvc"
        pass
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _probe_write(folder: Path, uri: str, what: str) -> None:
    """Create and delete a file in ``folder``: the real test of writability (``os.access``
    says yes to root on a read-only mount, for instance)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise TrackingError(
            f"MLflow tracking {what} is not writable: {folder} ({err.strerror or err}; uri {uri}); "
            "fix MLFLOW_TRACKING_URI / tracking.uri, or set tracking.enabled: false"
        ) from None


def check_reachable(uri: str) -> None:
    """Fail fast, with a one-line message naming the URI, when the tracking store is unusable:
    a missing or unwritable sqlite folder, a file that is not an sqlite database, an unwritable
    MLflow folder, an HTTP server that does not answer within a few seconds."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        folder = db.parent
        if not folder.is_dir():
            raise TrackingError(f"MLflow tracking database folder does not exist: {folder} (uri {uri})")
        _probe_write(folder, uri, "database folder")
        if db.exists():
            if not db.is_file():
                raise TrackingError(f"MLflow tracking database {db} is not a file (uri {uri})")
            import sqlite3

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
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5).read()
        except (urllib.error.URLError, OSError) as err:
            raise TrackingError(
                f"MLflow tracking server unreachable at {uri}: {getattr(err, 'reason', err)}; "
                "start it, fix MLFLOW_TRACKING_URI / tracking.uri, or set tracking.enabled: false"
            ) from None
    elif uri.startswith("file:") or "://" not in uri:
        folder = Path(uri[len("file://"):] if uri.startswith("file://") else uri[len("file:"):] if uri.startswith("file:") else uri)
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # MLflow creates the missing part
        if not folder.is_dir():
            raise TrackingError(f"MLflow tracking folder {folder} is not a folder (uri {uri})")
        _probe_write(folder, uri, "folder")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted keys, for ``log_params``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def metric_name(key: str) -> str:
    """``key`` as an MLflow metric name. MLflow allows letters, digits, ``_ - . / :`` and spaces;
    a combined source's ``+`` (``classic+cvae``) becomes ``_plus_``, the one character this project's
    names use outside that set."""
    return key.replace("+", "_plus_")


class Tracker:
    """One MLflow run of one stage; every method is a no-op when tracking is disabled.

    Use as a context manager: the run ends FAILED if the stage raises, FINISHED otherwise.
    """

    def __init__(self, params: Params, stage: str, method: str, run_name: str | None = None,
                 root: str | Path | None = None) -> None:
        # Under torchrun only rank 0 logs (augment/distributed.py): one run per stage, not per rank.
        self.enabled = params.tracking.enabled and is_main_process()
        self.params = params
        self.stage, self.method = stage, method
        self.run_name = run_name or f"{stage}:{method}"
        self.uri = tracking_uri(params, root) if self.enabled else None
        self.run = None
        if self.enabled:
            check_reachable(self.uri)

    def __enter__(self) -> "Tracker":
        if not self.enabled:
            return self
        import mlflow

        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        mlflow.set_tracking_uri(self.uri)
        try:
            name = self.params.tracking.experiment
            if self.uri.startswith("sqlite:") and mlflow.get_experiment_by_name(name) is None:
                # Artifacts next to the database, in the project: not in the working directory,
                # which for a queued DVC experiment is a temporary copy.
                mlflow.create_experiment(name, artifact_location=(project_root() / "mlruns").resolve().as_uri())
            mlflow.set_experiment(name)
            self.run = mlflow.start_run(
                run_name=self.run_name,
                tags={TAG_STAGE: self.stage, TAG_METHOD: self.method, TAG_EXECUTION: execution_id()},
            )
        except Exception as err:  # noqa: BLE001 - any store failure here is a set-up error
            raise TrackingError(f"MLflow tracking store {self.uri}: {err}".splitlines()[0]) from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.run is not None:
            import mlflow

            self.run = None
            if exc_type is None:
                self._store("the end of the run", lambda: mlflow.end_run(status="FINISHED"))
            else:  # the stage failed (perhaps because the store did): do not hide why
                try:
                    mlflow.end_run(status="FAILED")
                except Exception:  # noqa: BLE001 - the stage's own error is the one to report
                    pass

    def _store(self, what: str, call: Callable[[], Any]) -> Any:
        """One call to the tracking store. A store that fails mid-stage (a server that died, a
        full disk) stops the stage with one TrackingError line (exit 2), not a traceback; DVC
        then records nothing for the stage, and the next ``dvc repro`` runs it again."""
        try:
            return call()
        except Exception as err:  # noqa: BLE001 - requests, MlflowException, OSError, ...
            detail = one_line(err)
            raise TrackingError(
                f"MLflow tracking store {self.uri} failed while logging {what}: {type(err).__name__}: "
                f"{detail[:300]}{'...' if len(detail) > 300 else ''}; "
                "this stage stops: bring the store back and run it again (dvc repro)"
            ) from None

    # -- logging --------------------------------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        if self.run is not None:
            import mlflow

            self._store("params", lambda: mlflow.log_params({k: str(v) for k, v in flatten(params).items()}))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Metric names go through :func:`metric_name` (``classic+cvae.accuracy`` is logged as
        ``classic_plus_cvae.accuracy``)."""
        if self.run is not None:
            import mlflow

            values = {metric_name(k): float(v) for k, v in metrics.items()}
            self._store("metrics", lambda: mlflow.log_metrics(values, step=step))

    def log_image(self, image, key: str, step: int | None = None, artifact_file: str | None = None) -> None:
        """A PIL image: a series (``key``, ``step``) or one file (``artifact_file``)."""
        if self.run is not None:
            import mlflow

            if artifact_file is not None:
                self._store(artifact_file, lambda: mlflow.log_image(image, artifact_file=artifact_file))
            else:
                self._store(f"image {key}", lambda: mlflow.log_image(image, key=key, step=step, synchronous=True))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.run is not None and Path(path).exists():
            import mlflow

            log = mlflow.log_artifacts if Path(path).is_dir() else mlflow.log_artifact
            self._store(f"artifact {Path(path).name}", lambda: log(str(path), artifact_path))

    def log_dict(self, data: dict, artifact_file: str) -> None:
        if self.run is not None:
            import mlflow

            self._store(artifact_file, lambda: mlflow.log_dict(data, artifact_file))

    def log_table(self, data: dict[str, list], artifact_file: str) -> None:
        if self.run is not None:
            import mlflow

            self._store(artifact_file, lambda: mlflow.log_table(data, artifact_file))


class TrackingCallback:
    """Training-loop callback: per-epoch mean losses (step = epoch) and the progress grid from
    the fixed noise batch as an image series (key ``progress``, step = epoch)."""

    def __init__(self, tracker: Tracker, grid_every: int = 1, seed: int = 0, last_epoch: int | None = None):
        self.tracker = tracker
        self.grid_every = grid_every
        self.seed = seed
        self.last_epoch = last_epoch

    def on_epoch_end(self, model, epoch: int, losses: dict[str, float]) -> None:
        self.tracker.log_metrics(losses, step=epoch)
        if self.tracker.run is not None and (epoch % self.grid_every == 0 or epoch == self.last_epoch):
            from augment.callbacks import GRID_COLUMNS
            from augment.grids import sample_grid, to_grid_image

            image = to_grid_image(sample_grid(model, GRID_COLUMNS, self.seed), GRID_COLUMNS)
            self.tracker.log_image(image, key="progress", step=epoch)
