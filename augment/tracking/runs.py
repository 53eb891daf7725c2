"""MLflow as a side channel: runs, params, per-epoch losses and grids, metrics, artifacts.

Nothing in the library needs MLflow to run. A stage opens a :class:`Tracker` (a no-op when
``tracking.enabled`` is false), which checks at the start that the tracking store is reachable
and writable, so a bad URI fails before any training, not after it.

MLflow itself is imported inside the methods that call it: tracking is optional
(``tracking.enabled: false``), and importing MLflow costs each of a repro's 24 stage processes
about a second (1.1-1.2 s measured on this 2-core machine).

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
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import torch

from augment.core.distributed import is_main_process
from augment.core.pixels import quantize
from augment.params.config import Params, flatten, one_line
from augment.sampling.grids import sample_grid, to_grid_image
from augment.settings.paths import splits_file
from augment.tracking.mlflow_model import log_model, registered_name
from augment.tracking.store import TrackingError, check_reachable, configure_mlflow_client, project_root, tracking_uri
from augment.training.callbacks import GRID_COLUMNS, grid_due

TAG_STAGE = "augment.stage"
TAG_METHOD = "augment.method"
TAG_EXECUTION = "augment.execution"
PIPELINE_STAGE = "pipeline"  # augment.stage of the parent run of one execution
# MLflow 3's experiment kind: a model-training experiment, not a GenAI one (the UI's workflow
# switch still decides what `mlflow ui` shows first: see `augment ui`).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
EXECUTION_ENV = "AUGMENT_EXECUTION_ID"


def execution_id() -> str:
    """One id for all stages of one ``dvc repro``.

    ``AUGMENT_EXECUTION_ID`` when set; else the start time and pid of the ``dvc`` process this
    stage runs under (every stage of one repro has the same ancestor); else a fresh id, for a
    stage run on its own.
    """
    if os.environ.get(EXECUTION_ENV):
        return os.environ[EXECUTION_ENV]
    try:
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


def experiment_for(params: Params, uri: str) -> str:
    """The id of the experiment ``tracking.experiment`` in the store ``uri``, created when
    missing, and tagged as a model-training experiment (:data:`EXPERIMENT_TAGS`)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(params.tracking.experiment)
    if experiment is None:
        # sqlite store: artifacts next to the database, in the project, not in the working
        # directory, which for a queued DVC experiment is a temporary copy. A server keeps its
        # own artifact store.
        location = (project_root() / "mlruns").resolve().as_uri() if uri.startswith("sqlite:") else None
        return client.create_experiment(params.tracking.experiment, artifact_location=location, tags=EXPERIMENT_TAGS)
    for key, value in EXPERIMENT_TAGS.items():
        if experiment.tags.get(key) != value:  # an experiment made by an earlier version
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def runs_page_url(params: Params, uri: str, server: str | None = None) -> str:
    """The address of the experiment's runs in MLflow's UI, in its model-training view
    (MLflow 3 shows its GenAI pages unless the address asks for ``machine_learning``)."""
    base = (server or uri).rstrip("/")
    return f"{base}/#/experiments/{experiment_for(params, uri)}/runs?workflowType=machine_learning"


class Tracker:
    """One MLflow run of one stage; every method is a no-op when tracking is disabled.

    Use as a context manager: the run ends FAILED if the stage raises, FINISHED otherwise.
    """

    def __init__(
        self, params: Params, stage: str, method: str, run_name: str | None = None, root: str | Path | None = None
    ) -> None:
        # Under torchrun only rank 0 logs (augment/core/distributed.py): one run per stage, not per rank.
        self.enabled = params.tracking.enabled and is_main_process()
        self.params = params
        self.stage, self.method = stage, method
        self.run_name = run_name or f"{stage}:{method}"
        self.uri: str = tracking_uri(params, root) if self.enabled else ""  # "" when disabled
        self.run: Any = None  # the active mlflow run inside the block
        self.parent = ""  # the execution's parent run id, set on entry (see _parent_run)
        if self.enabled:
            check_reachable(self.uri)

    def __enter__(self) -> Tracker:
        if not self.enabled:
            return self
        import mlflow

        configure_mlflow_client()
        mlflow.set_tracking_uri(self.uri)
        try:
            experiment_id = experiment_for(self.params, self.uri)
            execution = execution_id()
            self.parent = self._parent_run(experiment_id, execution)
            self.run = mlflow.start_run(
                experiment_id=experiment_id,
                run_name=self.run_name,
                parent_run_id=self.parent,
                tags={TAG_STAGE: self.stage, TAG_METHOD: self.method, TAG_EXECUTION: execution},
            )
        except Exception as err:  # noqa: BLE001 - any store failure here is a set-up error
            raise TrackingError(f"MLflow tracking store {self.uri}: {err}".splitlines()[0]) from None
        return self

    def _parent_run(self, experiment_id: str, execution: str) -> str:
        """The id of this execution's parent run, created by its first stage.

        The stages of one ``dvc repro`` (or one queued experiment) run one after another in
        separate processes; each finds the parent by its ``augment.execution`` tag, marks it
        RUNNING while it works, and FINISHED or FAILED when it ends (:meth:`__exit__`).
        """
        import mlflow
        from mlflow.entities import Param

        client = mlflow.MlflowClient()
        found = client.search_runs(
            [experiment_id],
            max_results=1,
            filter_string=f"tags.`{TAG_STAGE}` = '{PIPELINE_STAGE}' and tags.`{TAG_EXECUTION}` = '{execution}'",
        )
        if found:
            client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
        parent = client.create_run(
            experiment_id,
            run_name=execution,
            tags={
                TAG_STAGE: PIPELINE_STAGE,
                TAG_METHOD: "all",
                TAG_EXECUTION: execution,
                "mlflow.note.content": "One pipeline execution: each stage's run is nested under this one.",
            },
        )
        # The whole params.yaml on the parent, so that executions (queued experiments with
        # different --set-param values) compare side by side in the UI.
        client.log_batch(
            parent.info.run_id, params=[Param(key, str(value)) for key, value in flatten(self.params.to_dict()).items()]
        )
        return parent.info.run_id

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.run is not None:
            import mlflow

            self.run = None
            status = "FINISHED" if exc_type is None else "FAILED"
            if exc_type is None:
                self._store("the end of the run", lambda: mlflow.end_run(status=status))
                self._store("the parent run", lambda: mlflow.MlflowClient().set_terminated(self.parent, status))
            else:  # the stage failed (perhaps because the store did): do not hide why
                try:
                    mlflow.end_run(status=status)
                    mlflow.MlflowClient().set_terminated(self.parent, status)
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

    def log_dataset(
        self, images: torch.Tensor, labels: torch.Tensor, name: str, source: str | Path, context: str
    ) -> None:
        """A dataset this run used, as an MLflow run input (the runs page's Dataset column).

        images [N, C, H, W] (uint8 or float), labels [N]; ``name`` says what it is
        (``mnist:train``, ``synthetic:cvae``), ``source`` the file it was read from or written
        to, ``context`` its role (``training``, ``validation``, ``evaluation``, ``generated``).
        The digest is :func:`dataset_digest` (every pixel and label); the size is in the profile.
        """
        if self.run is not None:
            import mlflow

            with warnings.catch_warnings():  # MLflow registers its local-file source twice and
                warnings.simplefilter("ignore", UserWarning)  # warns about it for every local path
                dataset = mlflow.data.from_numpy(  # type: ignore[attr-defined]
                    images.numpy(),
                    targets=labels.numpy(),
                    source=str(source),
                    name=name,
                    digest=dataset_digest(images, labels),
                )
            self._store(f"dataset {name}", lambda: mlflow.log_input(dataset, context=context))

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
        model ``augment-<method>``. Returns the model's URI (``models:/augment-cvae/3``)."""
        if self.run is None:
            return None
        registered = registered_name(self.method) if self.params.tracking.register else None
        info = self._store("the generator model", lambda: log_model(checkpoint, registered))
        if registered:
            return f"models:/{registered}/{info.registered_model_version}"
        return info.model_uri

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
        if self.tracker.run is not None and grid_due(epoch, self.grid_every, self.last_epoch):
            image = to_grid_image(sample_grid(model, GRID_COLUMNS, self.seed), GRID_COLUMNS)
            self.tracker.log_image(image, key="progress", step=epoch)
