"""Stage train_filter: the filter network of the ``<method>-filtered`` synthetic sets.

The downstream classifier's architecture and step budget (``classifier``), trained once on the real
training split with its own seed (``sample.filter.seed``), selected on the validation split. It
never sees the test split, and it is not the judge of the metrics (evaluation/classifiers/filtering.py).
"""

from __future__ import annotations

import sys

from augment.core.outputs import StagedOutputs
from augment.data.labeled import Splits
from augment.params.config import Params
from augment.settings.paths import filter_file, splits_file
from augment.training.device import resolve_device
from evaluation.classifiers.filtering import save_filter, train_filter
from pipelines.stage import run_stage


def train(params: Params, args=None) -> None:
    """Train the filter network on the real training split."""
    splits = Splits.load(splits_file(params))
    model, info = train_filter(
        splits,
        params.classifier,
        params.sample.filter,
        resolve_device(params.device),
        progress=True,
        acceleration=params.acceleration,
    )
    out = filter_file(params)
    with StagedOutputs() as staged:
        save_filter(staged.path(out), model, info)
    val = "none (no validation split)" if info["val_accuracy"] is None else f"{info['val_accuracy']:.4f}"
    print(f"train_filter: val accuracy {val}, kept step {info['best_step']} -> {out}")


if __name__ == "__main__":
    sys.exit(run_stage("train_filter", train))
