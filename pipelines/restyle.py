"""Stage restyle@MODEL: the restyle and transfer sets of a model with an encoder.

Two sets, both ``sample.per_class`` images of every class, drawn from the *real training* images
through the model's encoder (augment/sampling/restyle.py, ``sample.styled.noise``):

- ``data/synthetic/<model>-restyle.pt``: real images redrawn in their own class;
- ``data/synthetic/<model>-transfer.pt``: real images of other classes redrawn as each class.

Each file's meta records the real-image index every item started from. A model without an
encoder (the CGAN) is refused in one line, exit 2.
"""

from __future__ import annotations

import sys

from augment.core.outputs import StagedOutputs
from augment.data.labeled import Splits
from augment.data.source_files import write_manifests
from augment.params.config import Params
from augment.params.methods import STYLED_KEY, styled_methods
from augment.params.sources import styled_name
from augment.sampling.grids import first_of_each_class, save_grid
from augment.sampling.restyle import STYLED_KINDS, styled_set
from augment.settings.paths import generator_checkpoint, sample_grid_file, splits_file, synthetic_file
from augment.synthesis.synthetic_files import save_synthetic
from augment.tracking.runs import Tracker
from augment.training.callbacks import GRID_COLUMNS
from augment.training.checkpoint import load_generator
from augment.training.device import resolve_device
from pipelines.stage import ParamsChoices, run_stage

# the items of this stage (dvc.yaml's foreach): the methods the params list
ITEMS = ParamsChoices(STYLED_KEY, styled_methods)


def restyle(params: Params, args) -> None:
    """Redraw the real training images through models/generators/<model>.pt's encoder."""
    name = args.item
    cfg = params.sample
    splits = Splits.load(splits_file(params))
    checkpoint = generator_checkpoint(params, name)
    model, _ = load_generator(
        checkpoint, expected_model=name, expected_shape=splits.image_shape, device=resolve_device(params.device)
    )
    with Tracker(params, stage="restyle", method=name, run_name=f"restyle:{name}") as tracker:
        tracker.log_params({"model": name, "sample": params.to_dict()["sample"]})
        tracker.log_real_data(splits, {"train": "training"})
        sets = {
            kind: styled_set(
                model, splits.train, kind, cfg.per_class, cfg.styled.noise, cfg.seed, cfg.batch_size, progress=True
            )
            for kind in STYLED_KINDS
        }
        columns = min(GRID_COLUMNS, cfg.per_class)
        with StagedOutputs() as staged:  # every file or none
            for kind, styled in sets.items():
                out = styled_name(name, kind)
                meta = {
                    "model": name,
                    "kind": kind,
                    "seed": cfg.seed,
                    "noise": cfg.styled.noise,
                    "checkpoint": str(checkpoint),
                    "sources": styled.sources.tolist(),
                }
                save_synthetic(
                    staged.path(synthetic_file(params, out)), styled.images, styled.labels, splits.classes, meta
                )
                rows = first_of_each_class(styled.labels, columns, splits.num_classes)
                save_grid(styled.images[rows], staged.path(sample_grid_file(params, out)), columns)
                write_manifests(staged, params, out)  # what train_classifier@<source> depends on
        for kind, styled in sets.items():
            out = styled_name(name, kind)
            tracker.log_dataset(
                styled.images, styled.labels, f"synthetic:{out}", synthetic_file(params, out), "generated"
            )
            tracker.log_artifact(sample_grid_file(params, out))
    print(
        f"restyle: {name}: "
        + "; ".join(
            f"{kind} {len(s.labels)} images -> {synthetic_file(params, styled_name(name, kind))}"
            for kind, s in sets.items()
        )
    )


if __name__ == "__main__":
    sys.exit(run_stage("restyle", restyle, choices=ITEMS))
