"""Stage sample@MODEL: a labeled, class-balanced synthetic dataset from a trained generator."""

from __future__ import annotations

import sys

from augment.callbacks import GRID_COLUMNS
from augment.config import MODEL_NAMES, Params
from augment.grids import save_grid
from augment.outputs import StagedOutputs
from augment.paths import generator_checkpoint, sample_grid_file, synthetic_file
from augment.synthetic import SyntheticDataset, save_synthetic
from augment.tracking import Tracker
from pipelines.stage import run_stage


def sample(params: Params, args) -> None:
    """Draw sample.per_class images per class from models/generators/<model>.pt."""
    name = args.item
    cfg = params.sample
    checkpoint = generator_checkpoint(params, name)
    dataset = SyntheticDataset(
        checkpoint, per_class=cfg.per_class, seed=cfg.seed, batch_size=cfg.batch_size,
        device="cuda" if params.device == "cuda" else "cpu",
    )
    with Tracker(params, stage="sample", method=name, run_name=f"sample:{name}") as tracker:
        tracker.log_params({"model": name, "sample": vars(cfg).copy()})
        images, labels = dataset.tensors(progress=True)  # [N, C, H, W], [N]
        out, grid = synthetic_file(params, name), sample_grid_file(params, name)
        # Labels run class by class (per_class each): the first GRID_COLUMNS of every class.
        first = [k * cfg.per_class + j for k in range(len(dataset.classes)) for j in range(min(GRID_COLUMNS, cfg.per_class))]
        with StagedOutputs() as staged:  # both files or neither
            save_synthetic(staged.path(out), images, labels, dataset.classes,
                           {"model": name, "seed": cfg.seed, "checkpoint": str(checkpoint)})
            save_grid(images[first], staged.path(grid), min(GRID_COLUMNS, cfg.per_class))
        tracker.log_artifact(grid)
    print(f"sample: {name}: {len(labels)} images -> {out}; grid {grid}")


if __name__ == "__main__":
    sys.exit(run_stage("sample", sample, choices=MODEL_NAMES))
