"""One stage's MLflow run, driven in the process that imports MLflow: the logging process.

A stage does not call MLflow itself: its :class:`augment.tracking.runs.Tracker` hands each call
to a separate logging process (:mod:`augment.tracking.worker`), which holds one
:class:`RunSession` and calls MLflow from there, so that importing MLflow, opening the store and
writing to it run beside the stage's work instead of before and inside it. Everything a session
receives is plain data — dicts, numbers, PIL images, numpy arrays, file contents as bytes — taken
at the moment the stage made the call, so a file rewritten or moved afterwards (the all-or-nothing
writer's staged files) is logged as it was.

This module imports neither torch nor the stages' code: the logging process starts in the time
MLflow's own import takes.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment.params.config import one_line
from augment.tracking.store import TrackingError, configure_mlflow_client, project_root

TAG_STAGE = "augment.stage"
TAG_METHOD = "augment.method"
TAG_EXECUTION = "augment.execution"
PIPELINE_STAGE = "pipeline"  # augment.stage of the parent run of one execution
# MLflow 3's experiment kind: a model-training experiment, not a GenAI one (the UI's workflow
# switch still decides what `mlflow ui` shows first: see `augment ui`).
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}

# A file's contents as the stage saw them: (path relative to the artifact folder, bytes).
FileContents = list[tuple[str, bytes]]


def git_tags(folder: Path) -> dict[str, str]:
    """MLflow's source tags for the git checkout at ``folder``: the commit, the branch and the
    ``origin`` remote (when there is one); empty outside a git checkout or without git."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    tags = {
        "mlflow.source.git.commit": git("rev-parse", "HEAD"),
        "mlflow.source.git.branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "mlflow.source.git.repoURL": git("remote", "get-url", "origin"),
    }
    return {k: v for k, v in tags.items() if v}


def parent_run_name(params: dict[str, Any]) -> str:
    """The parent run's name: what ran, on what, when (``digits, all labels, 2026-12-07 05:31``);
    the execution id stays in the ``augment.execution`` tag."""
    labelled = params.get("data.labelled", 0)
    labels = f"{labelled} labels" if labelled else "all labels"
    return f"{params.get('data.dataset', 'data')}, {labels}, {time.strftime('%Y-%m-%d %H:%M')}"


def experiment_for(experiment: str, uri: str) -> str:
    """The id of the experiment named ``experiment`` in the store ``uri``, created when missing,
    and tagged as a model-training experiment (:data:`EXPERIMENT_TAGS`)."""
    import mlflow

    client = mlflow.MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        # sqlite store: artifacts next to the database, in the project, not in the working
        # directory, which for a queued DVC experiment is a temporary copy. A server keeps its
        # own artifact store.
        location = (project_root() / "mlruns").resolve().as_uri() if uri.startswith("sqlite:") else None
        return client.create_experiment(experiment, artifact_location=location, tags=EXPERIMENT_TAGS)
    for key, value in EXPERIMENT_TAGS.items():
        if found.tags.get(key) != value:  # an experiment made by an earlier version
            client.set_experiment_tag(found.experiment_id, key, value)
    return found.experiment_id


class RunSession:
    """The MLflow calls of one stage's run, in order; the first failing call raises
    :class:`TrackingError` with one line naming the store and what was being logged."""

    def __init__(self) -> None:
        self.uri = ""
        self.parent = ""  # the execution's parent run id (see _parent_run)
        self.run: Any = None  # the active mlflow run

    def start(
        self,
        uri: str,
        experiment: str,
        params: dict[str, Any],
        stage: str,
        method: str,
        run_name: str,
        execution: str,
        model: bool = False,
    ) -> None:
        """Open the run ``run_name`` (tags: stage, method, execution) under the execution's
        parent run, creating the experiment and the parent (with ``params``, the whole
        params.yaml flattened) when this is the execution's first stage. ``model``: the run will
        log a generator (:meth:`log_generator`): its flavour (and torch) is imported now, while
        the stage trains, not after."""
        import mlflow

        self.uri = uri
        configure_mlflow_client()
        mlflow.set_tracking_uri(uri)
        try:
            experiment_id = experiment_for(experiment, uri)
            self.parent = self._parent_run(experiment_id, execution, params)
            self.run = mlflow.start_run(
                experiment_id=experiment_id,
                run_name=run_name,
                parent_run_id=self.parent,
                tags={
                    TAG_STAGE: stage,
                    TAG_METHOD: method,
                    TAG_EXECUTION: execution,
                    # the stage's script, not this logging process (MLflow's default source)
                    "mlflow.source.name": f"pipelines/{stage}.py",
                    "mlflow.source.type": "LOCAL",
                    **git_tags(project_root()),
                },
            )
        except Exception as err:  # noqa: BLE001 - any store failure here is a set-up error
            raise TrackingError(f"MLflow tracking store {uri}: {err}".splitlines()[0]) from None
        if model:
            import augment.tracking.mlflow_model  # noqa: F401

    def _parent_run(self, experiment_id: str, execution: str, params: dict[str, Any]) -> str:
        """The id of this execution's parent run, created by its first stage.

        The stages of one ``dvc repro`` (or one queued experiment) run one after another in
        separate processes; each finds the parent by its ``augment.execution`` tag, marks it
        RUNNING while it works, and FINISHED or FAILED when it ends (:meth:`end`).
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
            run_name=parent_run_name(params),
            tags={
                TAG_STAGE: PIPELINE_STAGE,
                TAG_METHOD: "all",
                TAG_EXECUTION: execution,
                "mlflow.note.content": "One pipeline execution: each stage's run is nested under this one.",
                "mlflow.source.name": "dvc.yaml",
                "mlflow.source.type": "LOCAL",
                **git_tags(project_root()),
            },
        )
        # The whole params.yaml on the parent, so that executions (queued experiments with
        # different --set-param values) compare side by side in the UI.
        client.log_batch(parent.info.run_id, params=[Param(key, str(value)) for key, value in params.items()])
        return parent.info.run_id

    def end(self, status: str) -> None:
        """End the run and mark the parent ``status`` (FINISHED or FAILED)."""
        if self.run is None:
            return
        import mlflow

        self.run = None
        self._store("the end of the run", lambda: mlflow.end_run(status=status))
        self._store("the parent run", lambda: mlflow.MlflowClient().set_terminated(self.parent, status))

    def abandon(self, status: str) -> None:
        """End the run and its parent ``status`` (FAILED, KILLED) if the store still answers;
        never raises: the failure being reported is the one that matters. Without it MLflow's
        own exit handler would end the run FINISHED."""
        if self.run is None:
            return
        import mlflow

        self.run = None
        try:
            mlflow.end_run(status=status)
            mlflow.MlflowClient().set_terminated(self.parent, status)
        except Exception:  # noqa: BLE001 - a dead store: the run stays as the store last saw it
            pass

    def run_id(self) -> str:
        return self.run.info.run_id if self.run is not None else ""

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

    # -- logging: each call as the Tracker's method of the same name, on plain data --------------
    def log_params(self, params: dict[str, str]) -> None:
        import mlflow

        self._store("params", lambda: mlflow.log_params(params))

    def describe_execution(self, text: str) -> None:
        """``text`` (markdown) as the description of this execution's parent run and of this run:
        what the UI shows on their pages."""
        import mlflow

        client = mlflow.MlflowClient()
        self._store("description", lambda: client.set_tag(self.parent, "mlflow.note.content", text))
        self._store("description", lambda: mlflow.set_tag("mlflow.note.content", text))

    def log_metrics(self, values: dict[str, float], step: int | None) -> None:
        import mlflow

        self._store("metrics", lambda: mlflow.log_metrics(values, step=step))

    def log_image(self, image: Any, key: str, step: int | None, artifact_file: str | None) -> None:
        import mlflow

        if artifact_file is not None:
            self._store(artifact_file, lambda: mlflow.log_image(image, artifact_file=artifact_file))
        else:
            self._store(f"image {key}", lambda: mlflow.log_image(image, key=key, step=step, synchronous=True))

    def log_files(self, name: str, files: FileContents, artifact_path: str | None, folder: bool) -> None:
        """Files read by the stage: ``files`` a file's name and bytes, or a folder's relative
        paths and bytes (``folder``), logged from a temporary copy under their own names."""
        import mlflow

        with tempfile.TemporaryDirectory(prefix="augment-artifact-") as tmp:
            root = Path(tmp) / name
            for relative, data in files:
                target = root / relative if folder else root
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            if folder:
                self._store(f"artifact {name}", lambda: mlflow.log_artifacts(str(root), artifact_path))
            else:
                self._store(f"artifact {name}", lambda: mlflow.log_artifact(str(root), artifact_path))

    def log_dict(self, data: dict, artifact_file: str) -> None:
        import mlflow

        self._store(artifact_file, lambda: mlflow.log_dict(data, artifact_file))

    def log_table(self, data: dict[str, list], artifact_file: str) -> None:
        import mlflow

        self._store(artifact_file, lambda: mlflow.log_table(data, artifact_file))

    def log_dataset(self, images: Any, labels: Any, name: str, source: str, context: str, digest: str) -> None:
        """images [N, C, H, W] and labels [N] as numpy arrays; ``digest`` computed by the stage
        (augment.tracking.runs.dataset_digest)."""
        import mlflow

        with warnings.catch_warnings():  # MLflow registers its local-file source twice and
            warnings.simplefilter("ignore", UserWarning)  # warns about it for every local path
            dataset = mlflow.data.from_numpy(  # type: ignore[attr-defined]
                images, targets=labels, source=source, name=name, digest=digest
            )
        self._store(f"dataset {name}", lambda: mlflow.log_input(dataset, context=context))

    def log_generator(self, checkpoint: bytes, file_name: str, registered: str | None) -> str:
        """The checkpoint (its bytes, read by the stage) as this run's MLflow model; registered
        as ``registered`` when given. Returns the model's URI."""
        from augment.tracking.mlflow_model import log_model  # torch: only for a generator's run

        with tempfile.TemporaryDirectory(prefix="augment-model-") as tmp:
            path = Path(tmp) / file_name
            path.write_bytes(checkpoint)
            info = self._store("the generator model", lambda: log_model(path, registered))
        if registered:
            return f"models:/{registered}/{info.registered_model_version}"
        return info.model_uri
