"""Stage judge: the judge network, trained once on the real training split, and the real
reference of every quality metric (real validation images measured against the real test split).

The judge is separate from the downstream classifier: its penultimate features are the feature
space of FID, KID, precision/recall/density/coverage and diversity; its predictions give label
fidelity. Nothing is downloaded: it replaces Inception for these small images.

With a label budget (``data.labelled``) the judge still learns from every training image with its
label, and the real reference uses the whole validation split (:func:`instrument_splits`): it is
the measuring instrument, as Inception is for FID, so that runs at every label budget are measured
in one space by one judge. Nothing it computes reaches a generator or a classifier: only the
quality numbers of the evaluate stage read it.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from augment.core.outputs import StagedOutputs
from augment.data.labeled import Splits
from augment.data.splits import load_splits
from augment.params.config import Params
from augment.settings.paths import judge_file, quality_file, splits_file
from augment.training.device import resolve_device
from evaluation.classifiers.judge import save_judge, train_judge
from evaluation.quality.measures import quality_config, real_reference
from pipelines.stage import run_stage


def instrument_splits(params: Params) -> Splits:
    """The splits the judge learns from: the prepared ones, or, with a label budget, the same
    dataset split with every training and validation label (``data.labelled`` off; the test split
    is the same either way)."""
    if not params.data.labelled:
        return Splits.load(splits_file(params))
    return load_splits(dataclasses.replace(params.data, labelled=0, unlabelled_root=""))


def judge(params: Params, args=None) -> None:
    """Train the judge and write the real reference numbers."""
    splits = instrument_splits(params)
    device = resolve_device(params.device)
    model, info = train_judge(splits, params.evaluation.judge, device, progress=True, acceleration=params.acceleration)
    reference = real_reference(splits, model, quality_config(params), device=device)
    reference["judge_val_accuracy"] = info["val_accuracy"]
    reference["judge_test_accuracy"] = info["test_accuracy"]
    out = quality_file(params, "real")
    with StagedOutputs() as staged:  # the judge and its reference numbers, or neither
        save_judge(staged.path(judge_file(params)), model, info)
        staged.path(out).write_text(json.dumps(reference, indent=2))
    print(
        f"judge: val accuracy {info['val_accuracy']:.4f}, test accuracy {info['test_accuracy']:.4f} "
        f"-> {judge_file(params)}; real reference -> {out}"
    )


if __name__ == "__main__":
    sys.exit(run_stage("judge", judge))
