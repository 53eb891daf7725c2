"""Stage train_generator@MODEL: train one generator on the prepared real training split."""

from __future__ import annotations

import sys

from augment.data.labeled import Splits
from augment.params.config import Params
from augment.params.methods import KEY as METHODS_KEY
from augment.params.methods import check_start, method_names, unlabelled_route
from augment.sampling.grids import sample_grid, to_grid_image
from augment.settings.paths import generator_report_dir, splits_file
from augment.synthesis.synthetic_files import pseudo_set_for
from augment.tracking.runs import Tracker, TrackingCallback
from augment.training.callbacks import GRID_COLUMNS
from augment.training.generator_training import train_generator
from pipelines.stage import ParamsChoices, run_stage

# the items of this stage (dvc.yaml's foreach): the methods the params list
ITEMS = ParamsChoices(METHODS_KEY, method_names)


def train(params: Params, args) -> None:
    """Train the generator named on the command line; log it to MLflow."""
    name = args.item
    check_start(params, name)  # dvc.yaml's dependency is the file the training reads
    cfg = params.generator(name)
    splits = Splits.load(splits_file(params))
    pseudo = pseudo_set_for(params, name, splits.classes)  # None unless it learns from the pseudo-labels
    with Tracker(
        params, stage="train_generator", method=name, run_name=f"generator:{name}", logs_model=True
    ) as tracker:
        tracker.log_params(
            {
                "model": name,
                name: vars(cfg).copy(),
                "data": params.to_dict()["data"],
                "generators.seed": params.generators.seed,
                "train_images": len(splits.train),
                "labelled_images": len(splits.train),
                "pool_images": len(splits.unlabelled),
                "unlabelled_route": unlabelled_route(params, name),
                "pseudo_labelled_images": 0 if pseudo is None else len(pseudo),
            }
        )
        tracker.log_real_data(splits, {"train": "training", **({"pool": "training"} if splits.pool else {})})
        callback = TrackingCallback(tracker, params.generators.grid_every, params.generators.seed, cfg.epochs)
        model, state, out = train_generator(params, name, splits=splits, extra_callbacks=[callback], pseudo=pseudo)
        grid = to_grid_image(sample_grid(model, GRID_COLUMNS, params.generators.seed), GRID_COLUMNS)
        tracker.log_image(grid, key="samples", artifact_file="samples.png")
        tracker.log_artifact(generator_report_dir(params, name) / "losses.csv")
        model_uri = tracker.log_generator(out)
    logged = f"; MLflow model {model_uri}" if model_uri else ""
    print(f"train_generator: {name} trained for {state.epoch} epochs -> {out}{logged}")


if __name__ == "__main__":
    sys.exit(run_stage("train_generator", train, choices=ITEMS))
