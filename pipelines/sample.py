"""Stage sample@MODEL: labeled, class-balanced synthetic datasets from a trained generator.

Two sets per method, both ``sample.per_class`` images of every class:

- ``data/synthetic/<model>.pt``: items ``0 .. K * per_class - 1`` of ``sample.seed``, as drawn;
- ``data/synthetic/<model>-filtered.pt``: the images the filter network (stage train_filter)
  recognises as their class with probability >= that class's threshold (``sample.filter.threshold``,
  lowered to what ``sample.filter.real_pass`` of the class's real validation images reach), topped
  up with further items until every class is full, or with the best rejected candidates once
  ``sample.filter.max_draws`` is spent (evaluation/classifiers/filtering.py). Its acceptance rate, threshold
  and shortfall per class go to ``reports/samples/<model>-filtered.json`` and to the MLflow run.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from augment.core.outputs import StagedOutputs
from augment.core.pixels import dequantize
from augment.data.labeled import Splits
from augment.data.source_files import write_manifests
from augment.params.config import Params
from augment.params.methods import KEY as METHODS_KEY
from augment.params.methods import method_names
from augment.params.sources import filtered_name
from augment.sampling.grids import first_of_each_class, save_grid
from augment.settings.paths import (
    filter_file,
    generator_checkpoint,
    sample_grid_file,
    sample_record,
    splits_file,
    synthetic_file,
)
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import save_synthetic
from augment.tracking.runs import Tracker
from augment.training.callbacks import GRID_COLUMNS
from augment.training.device import resolve_device
from evaluation.classifiers.filtering import filtered_set, load_filter, shortfall_lines
from pipelines.stage import ParamsChoices, run_stage

# the items of this stage (dvc.yaml's foreach): the methods the params list
ITEMS = ParamsChoices(METHODS_KEY, method_names)


def sample(params: Params, args) -> None:
    """Draw sample.per_class images per class from models/generators/<model>.pt, plain and filtered."""
    name = args.item
    cfg = params.sample
    checkpoint = generator_checkpoint(params, name)
    device = resolve_device(params.device)  # auto: CUDA when present (float32 sampling either way)
    dataset = SyntheticDataset(
        checkpoint,
        per_class=cfg.per_class,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
        device=device,
        sampling=params.sampling(name),  # sample.generators.<name>: how it draws
    )
    filter_net, _ = load_filter(filter_file(params), resolve_device(params.device))
    filtered = filtered_name(name)
    with Tracker(params, stage="sample", method=name, run_name=f"sample:{name}") as tracker:
        tracker.log_params({"model": name, "sample": params.to_dict()["sample"]})
        images, labels = dataset.tensors(progress=True)  # [N, C, H, W], [N]
        classes = dataset.classes
        kept = filtered_set(dataset.model, filter_net, Splits.load(splits_file(params)).val, cfg)
        record = {
            "method": name,
            "per_class": cfg.per_class,
            "threshold": cfg.filter.threshold,
            "real_pass": cfg.filter.real_pass,
            **kept.record(classes),
        }
        columns = min(GRID_COLUMNS, cfg.per_class)
        rows = first_of_each_class(labels, columns, len(classes))  # both sets run class by class
        with StagedOutputs() as staged:  # every file or none
            # how it drew: the sampling settings are no checkpoint's (sample.generators.<name>)
            meta = {
                "model": name,
                "seed": cfg.seed,
                "checkpoint": str(checkpoint),
                "sampling": dataclasses.asdict(dataset.model.sampling),
            }
            save_synthetic(staged.path(synthetic_file(params, name)), images, labels, classes, meta)
            save_grid(images[rows], staged.path(sample_grid_file(params, name)), columns)
            save_synthetic(
                staged.path(synthetic_file(params, filtered)),
                kept.images,
                kept.labels,
                classes,
                {**meta, "filter": str(filter_file(params)), "threshold": cfg.filter.threshold},
            )
            save_grid(dequantize(kept.images[rows]), staged.path(sample_grid_file(params, filtered)), columns)
            staged.path(sample_record(params, filtered)).write_text(json.dumps(record, indent=2))
            write_manifests(staged, params, name)  # what train_classifier@<source> depends on
            write_manifests(staged, params, filtered)
        tracker.log_dataset(images, labels, f"synthetic:{name}", synthetic_file(params, name), "generated")
        tracker.log_dataset(
            kept.images, kept.labels, f"synthetic:{filtered}", synthetic_file(params, filtered), "generated"
        )
        tracker.log_metrics(
            {
                "acceptance_rate": kept.acceptance_rate,
                **{f"acceptance_rate.class_{k}": r for k, r in enumerate(kept.acceptance)},
            }
        )
        for path in (
            sample_grid_file(params, name),
            sample_grid_file(params, filtered),
            sample_record(params, filtered),
        ):
            tracker.log_artifact(path)
    rates = ", ".join(f"{c} {r:.2f}" for c, r in zip(classes, kept.acceptance, strict=True))
    lowered = {c: t for c, t in zip(classes, kept.thresholds, strict=True) if t < cfg.filter.threshold}
    print(
        f"sample: {name}: {len(labels)} images -> {synthetic_file(params, name)}; filtered at "
        f"P >= {cfg.filter.threshold}"
        + (f" (lowered to real data's for {', '.join(f'{c} {t:.2f}' for c, t in lowered.items())})" if lowered else "")
        + f": acceptance {kept.acceptance_rate:.3f} ({rates}) -> {synthetic_file(params, filtered)}"
    )
    for line in shortfall_lines(kept, classes, "filtered images", sample_record(params, filtered)):
        print(f"sample: {name}: {line}")


if __name__ == "__main__":
    sys.exit(run_stage("sample", sample, choices=ITEMS))
