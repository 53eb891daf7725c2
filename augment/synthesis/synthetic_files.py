"""Synthetic dataset files: what ``augment sample --out data/synthetic/<name>.pt`` and the sample
stage write, and the later stages read.

A file is ``{"format", "images": uint8 [N, C, H, W], "labels": int64 [N], "classes", "meta"}``:
plain tensors and strings, so it loads with ``torch.load(weights_only=True)``, written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from augment.core.outputs import atomic_torch_save
from augment.core.pixels import dequantize, quantize
from augment.data.labeled import DataError, LabeledImages
from augment.training.checkpoint import CheckpointError, safe_torch_load

PathLike = str | Path
SYNTHETIC_FORMAT = 1  # version of the file written by save_synthetic


def _plain(value: Any) -> Any:
    """Meta values as what ``torch.load(weights_only=True)`` accepts (Paths -> str, tuples -> lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_synthetic(
    path: PathLike,
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a labeled synthetic dataset atomically; returns the path.

    images [N, C, H, W] float in [0, 1] (quantised with :func:`quantize`) or uint8; labels [N].
    Stored as ``{"format", "images": uint8 [N, C, H, W], "labels": int64 [N], "classes",
    "meta"}`` — plain tensors and strings, so it loads with ``weights_only=True``. ``meta``
    records where the images came from (model name, seed, checkpoint path, ...).
    """
    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"save_synthetic needs images [N, C, H, W] and labels [N], got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    labels = labels.detach().long().cpu()
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise ValueError(f"labels: values must be in [0, {len(classes)}) (one per class name)")
    payload = {
        "format": SYNTHETIC_FORMAT,
        "images": quantize(images).contiguous(),  # [N, C, H, W] uint8
        "labels": labels.contiguous(),  # [N] int64
        "classes": [str(c) for c in classes],
        "meta": _plain(dict(meta or {})),
    }
    path = Path(path)
    atomic_torch_save(payload, path)
    return path


def load_synthetic(path: PathLike):
    """Read a file written by :func:`save_synthetic`: (LabeledImages, classes, meta).

    The images come back as float32 [N, C, H, W] in [0, 1] (uint8 / 255). A missing, corrupt or
    foreign file raises :class:`augment.data.labeled.DataError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"synthetic dataset not found: {path}; create it with `augment sample <model> -n N "
            f"--out {path}` or run `dvc repro`"
        )
    try:
        raw = safe_torch_load(path)
    except CheckpointError as err:
        raise DataError(str(err).replace("checkpoint", "synthetic dataset file")) from None
    keys = ("format", "images", "labels", "classes")
    if not isinstance(raw, dict) or any(k not in raw for k in keys):
        raise DataError(f"{path}: not a synthetic dataset file (expected the keys {', '.join(keys)})")
    if not isinstance(raw["format"], int) or raw["format"] > SYNTHETIC_FORMAT:
        raise DataError(
            f"{path}: synthetic dataset format {raw['format']!r} is newer than this augment reads "
            f"(up to {SYNTHETIC_FORMAT}); upgrade augment or sample again"
        )
    images, labels = raw["images"], raw["labels"]
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise DataError(f"{path}: images must be a uint8 tensor [N, C, H, W]")
    try:
        data = LabeledImages(dequantize(images), labels.long())
    except (ValueError, AttributeError) as err:
        raise DataError(f"{path}: {err}") from None
    return data, [str(c) for c in raw["classes"]], dict(raw.get("meta") or {})


def pseudo_set_for(params: Any, name: str, classes: Sequence[str]) -> LabeledImages | None:
    """The pool's pseudo-labelled images (pipelines/pseudo_label.py) when generator ``name``
    learns from them (augment/params/methods.py ``unlabelled_route``), else None. A missing set
    names the stage that makes it; a set of other classes is refused."""
    from augment.params.methods import unlabelled_route
    from augment.params.sources import PSEUDO
    from augment.settings.paths import synthetic_file

    if unlabelled_route(params, name) != "pseudo":
        return None
    path = synthetic_file(params, PSEUDO)
    if not path.is_file():
        raise DataError(f"{path}: not found; {name} learns from the pool's pseudo-labels: run `dvc repro pseudo_label`")
    data, stored, _ = load_synthetic(path)
    if list(stored) != list(classes):
        raise DataError(
            f"{path}: classes {stored} differ from the data's {list(classes)}; run `dvc repro pseudo_label`"
        )
    return data
