"""The ``augment`` MLflow model flavour: a generator checkpoint as an MLflow model.

A logged generator is an MLflow model folder (docs/design.md, "MLflow"):

    MLmodel                        flavours ``augment`` and ``python_function``, signature
    data/generator.pt              the stage's checkpoint file, byte for byte
    input_example.json             ten labels, 0..9 (fewer when the model has fewer classes)
    serving_input_example.json
    requirements.txt               the loader's packages at the versions used (torch, ..., mlflow);
    python_env.yaml, conda.yaml    the same for `mlflow models predict / serve` environments
    code/augment/                  the library's source (on sys.path when pyfunc loads the model)

Loading is safe by construction: :func:`fetch_checkpoint` reads ``MLmodel`` with
``yaml.safe_load``, requires the ``augment`` flavour, keeps the checkpoint path inside the
model folder, and hands the file to :mod:`augment.training.checkpoint`, which loads tensors only
(``torch.load(weights_only=True)``, CRC-checked, every field type-checked). Nothing in the
artifact is imported or unpickled: the ``python_function`` flavour names this module as its
loader (for ``mlflow.pyfunc.load_model`` and ``mlflow models serve``), but augment itself never
goes through pyfunc, so a foreign ``MLmodel`` cannot choose the code that runs.

Registered generators are named ``augment-<method>`` (:func:`registered_name`), so
``models:/augment-cvaegan/3`` or ``models:/augment-cvaegan@champion`` can be given wherever a
checkpoint can: :class:`augment.synthesis.synthetic.SyntheticDataset`, ``augment sample``, ``augment info``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from augment.models import model_class
from augment.params.config import Params, one_line
from augment.params.sampling import apply_sampling
from augment.sampling.generation import sample_images
from augment.settings.extras import DISTRIBUTION, require
from augment.settings.version import __version__
from augment.tracking.store import configure_mlflow_client, local_store
from augment.tracking.store import tracking_uri as project_tracking_uri
from augment.training.checkpoint import CheckpointError, load_generator, read_checkpoint

# MLflow (and pandas, its dependency) are imported inside the functions that use them: tracking
# is optional, both are needed only when a model is logged or a models:/ URI is given, and
# importing MLflow takes about a second, which every `import augment.synthesis.synthetic` would otherwise pay.

FLAVOR = "augment"
CHECKPOINT = "data/generator.pt"  # inside the model folder
MODELS_SCHEME = "models:/"
ARTIFACT_NAME = "generator"  # the logged model's name within its run
CODE = "code"  # inside the model folder: the library's source, on sys.path when pyfunc loads it
CONDA_ENV = "conda.yaml"
PYTHON_ENV = "python_env.yaml"
_STORE_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")  # set by mlflow.set_*_uri


def registered_name(method: str) -> str:
    """The model-registry name of a generator: ``augment-<method>``."""
    return f"augment-{method}"


def is_model_uri(model: Any) -> bool:
    """True for a ``models:/...`` URI string."""
    return isinstance(model, str) and model.startswith(MODELS_SCHEME)


# --------------------------------------------------------------------------------------------
# Writing: save_model / log_model, the two functions MLflow expects of a flavour
# --------------------------------------------------------------------------------------------


# MLflow's param type of each Python type a sampling setting may have
_PARAM_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


def _signature(image_shape: list[int], sampling_class: type):
    """Input: a ``label`` column of class indices; params ``seed`` and the model's sampling
    settings (``sampling_class``'s fields with their defaults: cfm's guidance, solver, ...);
    output: images [N, C, H, W] float32 in [0, 1]."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

    sampling = [ParamSpec(f.name, _PARAM_TYPES[type(f.default)], f.default) for f in dataclasses.fields(sampling_class)]
    return ModelSignature(
        inputs=Schema([ColSpec("long", "label")]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *image_shape))]),
        params=ParamSchema([ParamSpec("seed", "long", 0), *sampling]),
    )


def library_requirements() -> list[str]:
    """The pip requirements of the loader, pinned to the versions installed here: the library's
    own (setup.cfg's install_requires, without the pipeline extra) and MLflow, which pyfunc needs."""
    from importlib.metadata import requires, version

    names = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requires(DISTRIBUTION) or [] if "extra ==" not in r]
    return [f"{name}=={version(name)}" for name in [*names, "mlflow"]]


def _write_environment(path: Path) -> None:
    """What a fresh environment needs to load the model (``mlflow models predict``, pyfunc
    elsewhere): ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml`` name the loader's
    packages at the versions used, and ``code/augment/`` is the library itself (not published on
    the package index), put on ``sys.path`` by pyfunc before the loader is imported."""
    from mlflow.utils.environment import _mlflow_conda_env, _PythonEnv

    requirements = library_requirements()
    (path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    _PythonEnv.current().to_yaml(str(path / PYTHON_ENV))
    (path / CONDA_ENV).write_text(
        yaml.safe_dump(_mlflow_conda_env(additional_pip_deps=requirements, install_mlflow=False))
    )
    library = Path(__file__).resolve().parents[1]  # the augment package
    shutil.copytree(library, path / CODE / "augment", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def save_model(checkpoint: str | Path, path: str | Path, mlflow_model=None, **_: Any) -> None:
    """Write the MLflow model folder ``path`` for the generator checkpoint ``checkpoint``.

    ``mlflow_model`` is the :class:`mlflow.models.Model` that ``Model.log`` passes in (a fresh
    one otherwise). The checkpoint is copied unchanged, so the registered model gives the same
    images as the file, and ``augment info`` on it shows the training record too.
    """
    import pandas as pd
    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.models.utils import _save_example  # the flavours' own helper for input examples

    payload = read_checkpoint(checkpoint)  # refuse to publish a file we would refuse to load
    path = Path(path)
    (path / CHECKPOINT).parent.mkdir(parents=True, exist_ok=False)
    shutil.copyfile(checkpoint, path / CHECKPOINT)
    _write_environment(path)
    mlflow_model = mlflow_model if mlflow_model is not None else Model()
    mlflow_model.signature = _signature(list(payload["image_shape"]), model_class(payload["model"]).sampling_class)
    labels = list(range(min(10, len(payload["classes"]))))
    _save_example(mlflow_model, pd.DataFrame({"label": labels}), str(path))
    mlflow_model.add_flavor(
        FLAVOR,
        checkpoint=CHECKPOINT,
        model=payload["model"],
        image_shape=list(payload["image_shape"]),
        classes=list(payload["classes"]),
        format_version=payload["format_version"],
        augment_version=__version__,
    )
    pyfunc.add_to_model(
        mlflow_model, loader_module=__name__, data=CHECKPOINT, code=CODE, conda_env=CONDA_ENV, python_env=PYTHON_ENV
    )
    mlflow_model.save(str(path / "MLmodel"))


def log_model(checkpoint: str | Path, registered_model_name: str | None = None):
    """Log ``checkpoint`` as this run's MLflow model ``generator``; register it as
    ``registered_model_name`` (a new version) when given. Returns MLflow's ModelInfo."""
    from mlflow.models import Model

    return Model.log(
        artifact_path=None,
        name=ARTIFACT_NAME,
        flavor=sys.modules[__name__],
        checkpoint=str(checkpoint),
        registered_model_name=registered_model_name,
        await_registration_for=60,
    )


# --------------------------------------------------------------------------------------------
# Reading: models:/ URI -> checked checkpoint file -> generator
# --------------------------------------------------------------------------------------------


def _flavor_checkpoint(folder: Path, where: str) -> Path:
    """The checkpoint file an ``augment`` model folder points at, after checking ``MLmodel``."""
    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise CheckpointError(f"{where}: not an MLflow model (no MLmodel file)")
    try:
        spec = yaml.safe_load(mlmodel.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{where}: unreadable MLmodel file: {one_line(err)}") from None
    flavors = spec.get("flavors") if isinstance(spec, dict) else None
    if not isinstance(flavors, dict) or FLAVOR not in flavors:
        found = ", ".join(map(str, flavors)) if isinstance(flavors, dict) and flavors else "none"
        raise CheckpointError(
            f"{where}: not an augment generator (MLflow flavours: {found}); give a model that a "
            f"train_generator run logged, e.g. models:/{registered_name('cvaegan')}/1"
        )
    conf = flavors[FLAVOR]
    relative = conf.get("checkpoint") if isinstance(conf, dict) else None
    if not isinstance(relative, str) or not relative:
        raise CheckpointError(f"{where}: the augment flavour names no checkpoint file")
    root = folder.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):  # an absolute path or ../ escaping the model folder
        raise CheckpointError(f"{where}: checkpoint path {relative!r} leaves the model folder; refused")
    if not target.is_file():
        raise CheckpointError(f"{where}: the model folder has no checkpoint file {relative!r}")
    return target


@contextmanager
def _process_stores(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking and registry URIs set to ``uri`` inside the block, and put
    back as they were (unset included) after it.

    MLflow resolves a ``models:/`` URI in those, whatever store the download call names
    (``ModelsArtifactRepository`` asks ``mlflow.get_registry_uri()`` for the version, and the
    tracking store for the logged model it points at); the stages never set them (they log from
    the logging process), and a user's own MLflow set-up must not be changed by loading a model.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry
    from mlflow.tracking._tracking_service import utils as tracking

    saved = tracking._tracking_uri, registry._registry_uri, {k: os.environ.get(k) for k in _STORE_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking._tracking_uri, registry._registry_uri = saved[0], saved[1]
        for key, value in saved[2].items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _check_store_exists(uri: str, tracking_uri: str) -> None:
    """A local store (sqlite database or file folder) that does not exist holds no model: say so,
    rather than let MLflow create an empty database (and print its set-up log) to find nothing."""
    store = local_store(tracking_uri)  # None: a server, which answers for itself
    if store is not None and not store.exists():
        raise CheckpointError(
            f"{uri}: no MLflow store at {store}, so no registered model: log one with `dvc repro` "
            "(tracking.enabled: true), or point MLFLOW_TRACKING_URI at the store that has it"
        )


def fetch_checkpoint(uri: str, dst: str | Path, tracking_uri: str | None = None) -> Path:
    """Download the MLflow model at ``uri`` (``models:/<name>/<version>``, ``models:/<name>@<alias>``)
    into ``dst`` and return its checked checkpoint file.

    ``tracking_uri``: the store holding the registry; default ``MLFLOW_TRACKING_URI``, else the
    project's own store (``tracking.uri`` of the default params, under the working directory).
    Errors are :class:`CheckpointError` lines naming the URI.
    """
    mlflow = require("mlflow", f"{uri}: a models:/ URI")
    from mlflow.exceptions import MlflowException

    tracking_uri = tracking_uri or project_tracking_uri(Params())
    _check_store_exists(uri, tracking_uri)
    configure_mlflow_client()
    try:
        with _process_stores(tracking_uri):
            folder = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst), tracking_uri=tracking_uri)
    except (MlflowException, OSError) as err:
        raise CheckpointError(f"{uri}: cannot fetch the model from {tracking_uri}: {one_line(err)[:300]}") from None
    return _flavor_checkpoint(Path(folder), uri)


def _from_uri(uri: str, tracking_uri: str | None, read: Callable[[Path], Any]) -> Any:
    """``read(checkpoint file)`` of the model at ``uri``, fetched into a temporary folder;
    errors name the URI, not that folder."""
    with tempfile.TemporaryDirectory(prefix="augment-model-") as tmp:
        path = fetch_checkpoint(uri, tmp, tracking_uri)
        try:
            return read(path)
        except CheckpointError as err:
            raise CheckpointError(str(err).replace(str(path), f"{uri} ({CHECKPOINT})")) from None


def read_model_uri(uri: str, tracking_uri: str | None = None) -> dict[str, Any]:
    """The checked checkpoint dict of the generator at ``uri`` (for ``augment info``)."""
    return _from_uri(uri, tracking_uri, read_checkpoint)


def load_model_uri(uri: str, device: str | torch.device = "cpu", tracking_uri: str | None = None):
    """(generator in eval mode, checkpoint dict) of the generator at ``uri``."""
    return _from_uri(uri, tracking_uri, lambda path: load_generator(path, device=device))


# --------------------------------------------------------------------------------------------
# python_function: labels in, images out (mlflow.pyfunc.load_model, mlflow models serve)
# --------------------------------------------------------------------------------------------


class GeneratorPyfunc:
    """``predict(DataFrame with a 'label' column, params={'seed': s, ...})`` -> images
    [N, C, H, W] float32 in [0, 1]; row i is item i of ``SyntheticDataset(model, labels=...,
    seed=s, sampling=...)``. The other params are the model's sampling settings
    (``sample.generators.<name>``: cfm's guidance, solver, sample_steps, ...), each call drawing
    with those it names and its class's defaults for the rest (no checkpoint carries them)."""

    def __init__(self, model) -> None:
        self.model = model

    def predict(self, model_input, params: dict[str, Any] | None = None) -> np.ndarray:
        labels = torch.tensor(np.asarray(model_input["label"], dtype=np.int64))  # [N], a copy
        params = dict(params or {})
        seed = int(params.pop("seed", 0))
        apply_sampling(self.model, params)  # the checked sample.generators.<name> of this call
        return sample_images(self.model, labels, seed).numpy()


def _load_pyfunc(path: str) -> GeneratorPyfunc:
    """pyfunc's entry point: ``path`` is the checkpoint file inside the model folder."""
    model, _ = load_generator(path)
    return GeneratorPyfunc(model)
