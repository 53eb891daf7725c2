"""``augmentation.swept``: the sweep's record in params.yaml, and what the report says of the bar.

The sweep writes one line beside the values it chose::

    swept: "mnist (data/raw), train_size 1, val_fraction 0.1, data.seed 0 | 3 seeds | values 4f0c2a91"

the data it measured on, the seeds per setting, and a digest of every augmentation field. The
report reads it back against the run's own params: the bar was swept on this data only when the
data part is this run's and the digest is that of the values the run used; a value edited by
hand after the sweep, or a params file carried to other data, no longer claims the sweep.
"""

from __future__ import annotations

import hashlib

from augment.params.config import AugmentationConfig, DataConfig
from evaluation.classic_sweep.axes import SWEPT_FIELDS

__all__ = ["COMMAND", "data_description", "digest", "record", "origin"]

COMMAND = "python -m pipelines.classic_sweep"  # what the report tells a user to run
_SEP = " | "


def data_description(data: DataConfig) -> str:
    """The params that decide which images are the training and validation splits, as words."""
    where = {"digits": "", "imagefolder": f" ({data.root}, {data.channels}x{data.image_size}x{data.image_size})"}
    name = data.dataset + where.get(data.dataset, f" ({data.root})")
    if data.dataset == "emnist":
        name += f" {data.emnist_split}"
    parts = [name, f"train_size {data.train_size:g}", f"val_fraction {data.val_fraction:g}"]
    if data.dataset in ("digits", "imagefolder"):
        parts.append(f"test_fraction {data.test_fraction:g}")
    if data.labelled:
        parts.append(f"labelled {data.labelled}")
    if data.imbalance.classes:
        parts.append(f"rare classes {data.imbalance.classes} kept {data.imbalance.keep:g}")
    parts.append(f"data.seed {data.seed}")
    return ", ".join(parts)


def digest(cfg: AugmentationConfig) -> str:
    """8 hex digits of every field that decides what the classifier sees."""
    text = ";".join(f"{name}={float(getattr(cfg, name))!r}" for name in SWEPT_FIELDS)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def record(data: DataConfig, cfg: AugmentationConfig, seeds: int) -> str:
    """The ``augmentation.swept`` value for ``cfg`` chosen on ``data`` over ``seeds`` seeds."""
    return _SEP.join([data_description(data), f"{seeds} seeds", f"values {digest(cfg)}"])


def origin(data: DataConfig, cfg: AugmentationConfig) -> str:
    """Where the run's classical augmentation comes from, as the report's words."""
    if not cfg.swept:
        return f"not swept on this data: the defaults or a person's choice (to sweep: {COMMAND})"
    parts = cfg.swept.split(_SEP)
    if len(parts) != 3:
        return f"augmentation.swept is not a record the sweep writes ({cfg.swept!r}): treated as not swept"
    described, seeds, values = parts
    if described != data_description(data):
        return f"swept on other data ({described}), not on this run's: sweep again ({COMMAND})"
    if values != f"values {digest(cfg)}":
        return f"edited after the sweep chose them on this data: no longer the sweep's (to sweep: {COMMAND})"
    return f"swept on this data's validation split ({seeds} a setting, {COMMAND})"
