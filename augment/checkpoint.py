"""Generator checkpoints: weights plus everything needed to rebuild the network.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file carrying pickled code is refused, never executed.
Writes go to a temporary file in the same folder and are renamed into place (``os.replace`` is
atomic), so a crash during a save leaves the previous checkpoint intact.

Layout (format version 1):
    format_version  int
    library_version str     augment.__version__ of the writer
    model           str     registry name
    config          dict    the model's config section (dataclass as dict)
    image_shape     [C, H, W]
    classes         [str]   class names, index = label
    state_dict      weights (and batch-norm buffers)
    training        dict    optional: epoch, optimizer states, RNG state, loss history (for --resume)
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

import augment
from augment.models import ConditionalGenerator, build_model, model_class

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, unsafe, of another kind or version."""


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_torch_load(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file and say what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unpickling refused"
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects other than weights ({first})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt): {err}") from None


def generator_payload(
    model: ConditionalGenerator, classes: list[str], training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The checkpoint dict for ``model`` (see the module docstring)."""
    payload = {
        "format_version": FORMAT_VERSION,
        "library_version": augment.__version__,
        "model": model.name,
        "config": dataclasses.asdict(model.config),
        "image_shape": list(model.image_shape),
        "classes": list(classes),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if training is not None:
        payload["training"] = training
    return payload


def save_generator(
    path: str | Path,
    model: ConditionalGenerator,
    classes: list[str],
    training: dict[str, Any] | None = None,
) -> None:
    """Write a generator checkpoint atomically."""
    atomic_torch_save(generator_payload(model, classes, training), path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a generator checkpoint's metadata (no network is built)."""
    payload = safe_torch_load(path)
    if not isinstance(payload, dict) or "format_version" not in payload or "model" not in payload:
        raise CheckpointError(f"{path}: not an augment generator checkpoint")
    version = payload["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this augment "
            f"{augment.__version__} reads (up to {FORMAT_VERSION}); upgrade augment"
        )
    missing = [k for k in ("config", "image_shape", "classes", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return payload


def load_generator(
    path: str | Path,
    expected_model: str | None = None,
    expected_shape: tuple[int, int, int] | None = None,
    device: str | torch.device = "cpu",
) -> tuple[ConditionalGenerator, dict[str, Any]]:
    """Rebuild a generator from its checkpoint; returns (model in eval mode, checkpoint dict).

    ``expected_model`` / ``expected_shape`` guard against loading the wrong file.
    """
    payload = read_checkpoint(path)
    name = payload["model"]
    if expected_model is not None and name != expected_model:
        raise CheckpointError(f"{path}: holds a {name!r} model, expected {expected_model!r}")
    shape = tuple(payload["image_shape"])
    if expected_shape is not None and shape != tuple(expected_shape):
        raise CheckpointError(f"{path}: trained on images of shape {shape}, expected {tuple(expected_shape)}")
    cls = model_class(name)
    try:
        config = cls.config_class(**payload["config"])
        model = build_model(name, config, shape, len(payload["classes"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path}: weights do not fit a {name!r} model: {err}") from None
    return model.to(device).eval(), payload
