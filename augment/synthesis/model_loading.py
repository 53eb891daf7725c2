"""Where a generator comes from: a registered name, a checkpoint file, an MLflow ``models:/`` URI
or a network already in memory — one function, :func:`load_model`, for the Dataset and every
command that takes a MODEL argument. How it draws (``sample.generators.<name>``, which no
checkpoint carries) is set by :func:`augment.params.sampling.apply_sampling`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from augment.models import REGISTRY, ConditionalGenerator
from augment.params.config import PathsConfig
from augment.tracking.mlflow_model import is_model_uri, load_model_uri
from augment.training.checkpoint import build_from_checkpoint, generator_payload, load_generator
from augment.training.device import resolve_device

PathLike = str | Path
ModelSpec = str | Path | ConditionalGenerator


def _resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is a clear error."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    return resolve_device(str(device))


def load_model(
    model: ModelSpec,
    root: PathLike = PathsConfig.generators,
    device: str | torch.device = "cpu",
    tracking_uri: str | None = None,
) -> tuple[ConditionalGenerator, list[str] | None, str, Path | str | None]:
    """Resolve ``model`` to (generator in eval mode, classes or None, model name, where from).

    ``model`` is a registered name (read from ``<root>/<name>.pt``), a checkpoint path (a
    ``Path``, or a string ending in ``.pt`` or naming an existing file), an MLflow model URI
    (``models:/augment-cvaegan/3``, ``models:/augment-cvaegan@champion``: the registry of
    ``tracking_uri``, default ``MLFLOW_TRACKING_URI`` or the project's ``mlflow.db``; see
    augment/tracking/mlflow_model.py), or a loaded generator (copied, so that training it further does not
    change images already promised).

    The global RNG is left as it was: rebuilding a network draws initial weights from it (then
    overwritten by the checkpoint's), which would otherwise shift the caller's random stream.
    """
    device = _resolve_device(device)
    if isinstance(model, ConditionalGenerator):
        snapshot = copy.deepcopy(model).to(device).eval()
        return snapshot, None, model.name, None

    if is_model_uri(model):
        with torch.random.fork_rng(devices=[]):
            generator, payload = load_model_uri(str(model), device=device, tracking_uri=tracking_uri)
        return generator, [str(c) for c in payload["classes"]], payload["model"], model
    if isinstance(model, str) and model in REGISTRY:
        path = Path(root) / f"{model}.pt"
        if not path.is_file():
            raise FileNotFoundError(
                f"no checkpoint at {path}: train it with `augment train {model}` or run `dvc repro`"
            )
        with torch.random.fork_rng(devices=[]):
            generator, payload = load_generator(path, expected_model=model, device=device)
    elif isinstance(model, Path) or (isinstance(model, str) and (model.endswith(".pt") or Path(model).is_file())):
        path = Path(model)
        if not path.is_file():
            if path.stem in REGISTRY:  # e.g. the sample stage's models/generators/cgan.pt
                raise FileNotFoundError(
                    f"no checkpoint at {path}: train it with `augment train {path.stem} --out {path}` "
                    f"or run `dvc repro`"
                )
            raise FileNotFoundError(
                f"no checkpoint at {path}: give an existing generator checkpoint, or a model name "
                f"({', '.join(REGISTRY)}) to read <root>/<name>.pt"
            )
        with torch.random.fork_rng(devices=[]):
            generator, payload = load_generator(path, device=device)
    else:
        raise ValueError(
            f"model: {REGISTRY.unknown(model, 'model')}; or give a checkpoint path (*.pt), an MLflow "
            f"model URI (models:/augment-<name>/<version>) or a ConditionalGenerator"
        )
    return generator, [str(c) for c in payload["classes"]], payload["model"], path


def portable(model: ConditionalGenerator) -> dict[str, Any]:
    """What it takes to rebuild ``model`` in another process, as picklable values: its checkpoint
    payload (augment/training/checkpoint.py), its sampling settings, device and mode.

    A generator does not pickle as a module when a layer of it is parametrized (spectral norm's
    ``Parametrized*`` classes refuse), so a dataset that carries one into DataLoader workers
    started with ``spawn`` pickles this instead (:func:`rebuild`)."""
    return {
        "payload": generator_payload(model, [str(k) for k in range(model.num_classes)]),
        "sampling": model.sampling,
        "device": str(next(model.parameters()).device),
        "training": model.training,
    }


def rebuild(state: dict[str, Any]) -> ConditionalGenerator:
    """The generator :func:`portable` described, on its device; the global RNG is left as it was
    (building draws initial weights, which the state_dict then replaces)."""
    with torch.random.fork_rng(devices=[]):
        model = build_from_checkpoint("a pickled SyntheticDataset", state["payload"])
    model.sampling = state["sampling"]
    return model.to(state["device"]).train(state["training"])
