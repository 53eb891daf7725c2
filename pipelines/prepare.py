"""Stage prepare: the real train / validation / test splits, written once for every stage after.

The generators and the classifiers all read this file, so they see exactly the same real
training data; the test split is read by train_classifier for the final measurement only. With a
label budget (``data.labelled``) the file also holds the unlabelled pool: its images, no labels.
"""

from __future__ import annotations

import sys

from augment.core.outputs import StagedOutputs
from augment.data.source_files import write_manifests
from augment.data.splits import load_splits
from augment.params.config import Params
from augment.settings.paths import splits_file
from pipelines.stage import run_stage


def prepare(params: Params, args=None) -> None:
    """Load the dataset named by data.dataset and write its splits."""
    splits = load_splits(params.data)
    out = splits_file(params)
    with StagedOutputs() as staged:  # the splits and the baselines' manifests, or none
        splits.save(staged.path(out))
        write_manifests(staged, params, None)  # real and classic train on the splits alone
    budget = f" labelled, unlabelled pool {len(splits.pool)}" if splits.pool is not None else ""
    print(
        f"prepare: {params.data.dataset} {splits.image_shape}, {splits.num_classes} classes: "
        f"train {len(splits.train)}{budget}, val {len(splits.val)}, test {len(splits.test)} -> {out}"
    )


if __name__ == "__main__":
    sys.exit(run_stage("prepare", prepare))
