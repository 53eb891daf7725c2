"""Stage restyle@MODEL: the restyle and transfer sets of a model with an encoder.

Two sets, both ``sample.per_class`` images of every class, drawn from the *real training* images
through the model's encoder (augment/sampling/restyle.py, ``sample.styled.noise``):

- ``data/synthetic/<model>-restyle.pt``: real images redrawn in their own class;
- ``data/synthetic/<model>-transfer.pt``: real images of other classes redrawn as each class.

Each file's meta records the real-image index every item started from. With
``sample.styled.filter: true`` both sets go through the filter network of the ``-filtered``
samples (stage train_filter; the same per-class thresholds, ``sample.filter``): a redrawn image
the filter does not read as its class is replaced by the next real image of its pool, redrawn
with fresh noise (evaluation/classifiers/filtering.py). ``reports/samples/<model>-<kind>.json``
records each set: its counts, and when filtered the acceptance per class. A model without an
encoder (the CGAN) is refused in one line, exit 2.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import torch

from augment.core.outputs import StagedOutputs
from augment.core.pixels import dequantize
from augment.data.labeled import Splits
from augment.data.source_files import write_manifests
from augment.models import ConditionalGenerator
from augment.params.config import Params
from augment.params.methods import STYLED_KEY, styled_methods
from augment.params.sampling import apply_sampling
from augment.params.sources import styled_name
from augment.sampling.grids import first_of_each_class, save_grid
from augment.sampling.restyle import STYLED_KINDS, StyledDraw, StyledSet, styled_set
from augment.settings.paths import (
    filter_file,
    generator_checkpoint,
    sample_grid_file,
    sample_record,
    splits_file,
    synthetic_file,
)
from augment.synthesis.synthetic_files import save_synthetic
from augment.tracking.runs import Tracker
from augment.training.callbacks import GRID_COLUMNS
from augment.training.checkpoint import load_generator
from augment.training.device import resolve_device
from evaluation.classifiers.filtering import FilteredSample, filtered_set, load_filter, shortfall_lines
from pipelines.stage import ParamsChoices, run_stage

# the items of this stage (dvc.yaml's foreach): the methods the params list
ITEMS = ParamsChoices(STYLED_KEY, styled_methods)


def _filtered_sets(
    params: Params, model: ConditionalGenerator, splits: Splits
) -> tuple[dict[str, StyledSet], dict[str, FilteredSample]]:
    """Both sets through the filter network: (sets, what the filter did to each)."""
    cfg = params.sample
    filter_net, _ = load_filter(filter_file(params), resolve_device(params.device))
    sets, kept = {}, {}
    for kind in STYLED_KINDS:
        draw = StyledDraw(model, splits.train, kind, cfg.styled.noise, cfg.seed)
        kept[kind] = filtered_set(model, filter_net, splits.val, cfg, draw, desc=f"{kind} {model.name} (filtered)")
        origins = torch.tensor(draw.origins, dtype=torch.int64)[kept[kind].items]  # [K * per_class]
        sets[kind] = StyledSet(dequantize(kept[kind].images), kept[kind].labels, origins)
    return sets, kept


def restyle(params: Params, args) -> None:
    """Redraw the real training images through models/generators/<model>.pt's encoder."""
    name = args.item
    cfg = params.sample
    splits = Splits.load(splits_file(params))
    checkpoint = generator_checkpoint(params, name)
    model, _ = load_generator(
        checkpoint,
        expected_model=name,
        expected_shape=splits.image_shape,
        device=resolve_device(params.device),
        expected_classes=splits.classes,
    )
    apply_sampling(model, params.sampling(name))  # sample.generators.<name>: how it encodes and draws
    with Tracker(params, stage="restyle", method=name, run_name=f"restyle:{name}") as tracker:
        tracker.log_params({"model": name, "sample": params.to_dict()["sample"]})
        tracker.log_real_data(splits, {"train": "training"})
        kept: dict[str, FilteredSample] = {}
        if cfg.styled.filter:
            sets, kept = _filtered_sets(params, model, splits)
        else:
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
                    "sampling": dataclasses.asdict(model.sampling),  # how it encoded and drew
                    "sources": styled.sources.tolist(),
                }
                if kind in kept:
                    meta["filter"] = str(filter_file(params))
                save_synthetic(
                    staged.path(synthetic_file(params, out)), styled.images, styled.labels, splits.classes, meta
                )
                rows = first_of_each_class(styled.labels, columns, splits.num_classes)
                save_grid(styled.images[rows], staged.path(sample_grid_file(params, out)), columns)
                record: dict[str, Any] = {"method": name, "kind": kind, "per_class": cfg.per_class}
                record.update(noise=cfg.styled.noise, filtered=kind in kept)
                if kind in kept:
                    record.update(threshold=cfg.filter.threshold, real_pass=cfg.filter.real_pass)
                    record.update(kept[kind].record(splits.classes))
                staged.path(sample_record(params, out)).write_text(json.dumps(record, indent=2))
                write_manifests(staged, params, out)  # what train_classifier@<source> depends on
        for kind, styled in sets.items():
            out = styled_name(name, kind)
            tracker.log_dataset(
                styled.images, styled.labels, f"synthetic:{out}", synthetic_file(params, out), "generated"
            )
            tracker.log_artifact(sample_grid_file(params, out))
            tracker.log_artifact(sample_record(params, out))
            if kind in kept:
                tracker.log_metrics({f"{kind}.acceptance_rate": kept[kind].acceptance_rate})
    print(
        f"restyle: {name}: "
        + "; ".join(
            f"{kind} {len(s.labels)} images"
            + (f" (filtered: acceptance {kept[kind].acceptance_rate:.3f})" if kind in kept else "")
            + f" -> {synthetic_file(params, styled_name(name, kind))}"
            for kind, s in sets.items()
        )
    )
    for kind, filtered in kept.items():
        for line in shortfall_lines(filtered, splits.classes, "images", sample_record(params, styled_name(name, kind))):
            print(f"restyle: {name}: {kind} {line}")


if __name__ == "__main__":
    sys.exit(run_stage("restyle", restyle, choices=ITEMS))
