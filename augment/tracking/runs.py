"""MLflow as a side channel: runs, params, per-epoch losses and grids, metrics, artifacts.

Nothing in the library needs MLflow to run. A stage opens a :class:`Tracker` (a no-op when
``tracking.enabled`` is false), which checks at the start that the tracking store is reachable
and writable, so a bad URI fails before any training, not after it.

The stage itself never imports MLflow: the tracker hands its calls to a logging process
(augment/tracking/worker.py, augment/tracking/session.py) that imports MLflow, opens the run and
logs while the stage works; a tracked stage waits only for the model it logs and for the end of
the run (docs/cost.md measures what that saves).

Every run carries the tags docs/design.md promises:
    augment.stage      train_generator | sample | train_classifier | compare
    augment.method     the generator (train_generator, sample) or the source (train_classifier:
                       real, classic, cvae, classic+cvae, cvae-filtered, ...); compare: all
    augment.execution  shared by the runs of one pipeline execution (see :func:`execution_id`)
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import torch

from augment.core.distributed import is_main_process
from augment.core.pixels import quantize
from augment.params.config import Params, flatten
from augment.sampling.grids import sample_grid, to_grid_image
from augment.settings.paths import splits_file
from augment.tracking.mlflow_model import registered_name
from augment.tracking.session import (  # noqa: F401 - the tags and experiment_for are this module's public names too
    EXPERIMENT_TAGS,
    PIPELINE_STAGE,
    TAG_EXECUTION,
    TAG_METHOD,
    TAG_STAGE,
    experiment_for,
)
from augment.tracking.store import check_reachable, tracking_uri
from augment.tracking.worker import LoggingProcess
from augment.training.callbacks import GRID_COLUMNS, grid_due

EXECUTION_ENV = "AUGMENT_EXECUTION_ID"


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux: field 22 of
    /proc/<pid>/stat), or None where there is no such file. Unlike psutil's ``create_time`` (the
    boot time, derived from the wall clock, plus these ticks) it cannot change while the process
    lives: on this project's VM the wall clock was stepped during a repro and the same dvc process
    had three create times 27 s apart, which split one execution into three."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def execution_id() -> str:
    """One id for all stages of one ``dvc repro``.

    ``AUGMENT_EXECUTION_ID`` when set; else the ``dvc`` process this stage runs under (every
    stage of one repro has the same ancestor), named by its start (in clock ticks since boot
    where Linux gives them, which no clock change moves; else its date and time) and its pid;
    else a fresh id, for a stage run on its own.
    """
    if os.environ.get(EXECUTION_ENV):
        return os.environ[EXECUTION_ENV]
    try:
        proc = psutil.Process().parent()
        while proc is not None:
            cmd = " ".join(proc.cmdline()[:3])
            if Path(proc.name()).name == "dvc" or "dvc " in cmd or cmd.endswith("dvc"):
                ticks = _start_ticks(proc.pid)
                if ticks is not None:
                    started = f"t{ticks}"
                else:
                    started = time.strftime("%Y%m%d-%H%M%S", time.localtime(proc.create_time()))
                # A queue worker runs several experiments: each is its own execution.
                experiment = os.environ.get("DVC_EXP_NAME")
                return f"dvc-{started}-{proc.pid}" + (f"-{experiment}" if experiment else "")
            proc = proc.parent()
    except Exception:  # noqa: BLE001 - any psutil failure just means "not under dvc"
        pass
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def dataset_digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """12 hex digits of the SHA-256 of a dataset's shape, pixels and labels: every pixel counts
    (MLflow's own numpy digest reads only the first 10,000 values, about a dozen 28x28 images).

    The pixels are hashed as the uint8 levels they are stored as (augment/core/pixels.py), so the same
    images have the same digest whether a stage holds them as uint8 (a filtered set as sampled)
    or as float32 in [0, 1] (the same set read back by train_classifier)."""
    pixels = quantize(images)  # [N, C, H, W] uint8
    h = hashlib.sha256(repr(tuple(pixels.shape)).encode())
    h.update(pixels.contiguous().numpy().tobytes())
    h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def metric_name(key: str) -> str:
    """``key`` as an MLflow metric name. MLflow allows letters, digits, ``_ - . / :`` and spaces;
    a combined source's ``+`` (``classic+cvae``) becomes ``_plus_``, the one character this project's
    names use outside that set."""
    return key.replace("+", "_plus_")


def runs_page_url(params: Params, uri: str, server: str | None = None) -> str:
    """The address of the experiment's runs in MLflow's UI, in its model-training view
    (MLflow 3 shows its GenAI pages unless the address asks for ``machine_learning``)."""
    base = (server or uri).rstrip("/")
    return f"{base}/#/experiments/{experiment_for(params.tracking.experiment, uri)}/runs?workflowType=machine_learning"


class Tracker:
    """One MLflow run of one stage; every method is a no-op when tracking is disabled.

    Use as a context manager: the run ends FAILED if the stage raises, FINISHED otherwise. The
    MLflow calls run in a logging process beside the stage (augment/tracking/worker.py): the
    ``log_*`` methods return at once, :meth:`log_generator` and the end of the block wait. A
    store that fails mid-stage raises one TrackingError line at the stage's next tracker call or
    at the end of the block.
    """

    def __init__(
        self,
        params: Params,
        stage: str,
        method: str,
        run_name: str | None = None,
        root: str | Path | None = None,
        logs_model: bool = False,
    ) -> None:
        """``logs_model``: the stage will call :meth:`log_generator`; the logging process
        prepares for it while the stage works."""
        # Under torchrun only rank 0 logs (augment/core/distributed.py): one run per stage, not per rank.
        self.enabled = params.tracking.enabled and is_main_process()
        self.params = params
        self.stage, self.method = stage, method
        self.run_name = run_name or f"{stage}:{method}"
        self.logs_model = logs_model
        self.uri: str = tracking_uri(params, root) if self.enabled else ""  # "" when disabled
        self.process: LoggingProcess | None = None  # the logging process inside the block
        if self.enabled:
            check_reachable(self.uri)  # here, in the stage: a bad URI fails before any work

    @property
    def active(self) -> bool:
        """True inside the block of an enabled tracker: calls are logged."""
        return self.process is not None

    def __enter__(self) -> Tracker:
        if not self.enabled:
            return self
        self.process = LoggingProcess()
        self.process.send(
            "start",
            self.uri,
            self.params.tracking.experiment,
            flatten(self.params.to_dict()),
            self.stage,
            self.method,
            self.run_name,
            execution_id(),  # here: the stage's own ancestry finds the dvc process
            self.logs_model,
        )
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if exc_type is None:
            process.close("FINISHED")
        else:  # the stage failed (perhaps because the store did): do not hide why
            process.abandon()

    def _send(self, method: str, *args: Any) -> None:
        if self.process is not None:
            self.process.send(method, *args)

    @property
    def run_id(self) -> str:
        """The MLflow run's id ("" outside the block); waits for the logging process."""
        return self.process.call("run_id") if self.process is not None else ""

    # -- logging --------------------------------------------------------------------------------
    def log_params(self, params: dict[str, Any]) -> None:
        self._send("log_params", {k: str(v) for k, v in flatten(params).items()})

    def describe_execution(self, text: str) -> None:
        """``text`` (markdown) becomes the description of the execution's parent run and of this
        run (the compare stage's summary)."""
        self._send("describe_execution", text)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Metric names go through :func:`metric_name` (``classic+cvae.accuracy`` is logged as
        ``classic_plus_cvae.accuracy``)."""
        self._send("log_metrics", {metric_name(k): float(v) for k, v in metrics.items()}, step)

    def log_image(self, image, key: str, step: int | None = None, artifact_file: str | None = None) -> None:
        """A PIL image: a series (``key``, ``step``) or one file (``artifact_file``)."""
        self._send("log_image", image, key, step, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """A file or a folder (its files, by relative path), as it is now: its bytes are read
        here, so a file moved or rewritten after the call is logged as it was."""
        path = Path(path)
        if self.process is None or not path.exists():
            return
        if path.is_dir():
            files = [(str(f.relative_to(path)), f.read_bytes()) for f in sorted(path.rglob("*")) if f.is_file()]
        else:
            files = [(path.name, path.read_bytes())]
        self._send("log_files", path.name, files, artifact_path, path.is_dir())

    def log_dict(self, data: dict, artifact_file: str) -> None:
        self._send("log_dict", data, artifact_file)

    def log_dataset(
        self, images: torch.Tensor, labels: torch.Tensor, name: str, source: str | Path, context: str
    ) -> None:
        """A dataset this run used, as an MLflow run input (the runs page's Dataset column).

        images [N, C, H, W] (uint8 or float), labels [N]; ``name`` says what it is
        (``mnist:train``, ``synthetic:cvae``), ``source`` the file it was read from or written
        to, ``context`` its role (``training``, ``validation``, ``evaluation``, ``generated``).
        The digest is :func:`dataset_digest` (every pixel and label); the size is in the profile.
        """
        if self.process is not None:
            digest = dataset_digest(images, labels)
            self._send("log_dataset", images.numpy(), labels.numpy(), name, str(source), context, digest)

    def log_real_data(self, splits, contexts: dict[str, str]) -> None:
        """The real splits this run used, e.g. ``{"train": "training", "test": "evaluation"}``:
        each named ``<data.dataset>:<split>``, with the prepared splits file as its source."""
        for split, context in contexts.items():
            part = getattr(splits, split)  # LabeledImages
            self.log_dataset(
                part.images, part.labels, f"{self.params.data.dataset}:{split}", splits_file(self.params), context
            )

    def log_generator(self, checkpoint: str | Path) -> str | None:
        """The trained generator as this run's MLflow model ``generator`` (flavour ``augment``,
        augment/tracking/mlflow_model.py); with ``tracking.register`` a new version of the registered
        model ``augment-<method>``. Returns the model's URI (``models:/augment-cvae/3``); waits
        for the logging process."""
        if self.process is None:
            return None
        registered = registered_name(self.method) if self.params.tracking.register else None
        return self.process.call("log_generator", Path(checkpoint).read_bytes(), Path(checkpoint).name, registered)

    def log_table(self, data: dict[str, list], artifact_file: str) -> None:
        self._send("log_table", data, artifact_file)


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
        if self.tracker.active and grid_due(epoch, self.grid_every, self.last_epoch):
            image = to_grid_image(sample_grid(model, GRID_COLUMNS, self.seed), GRID_COLUMNS)
            self.tracker.log_image(image, key="progress", step=epoch)
