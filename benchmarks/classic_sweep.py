"""Which classical augmentation settings to use by default: measured, never on the test split.

The downstream classifier (params' ``classifier`` section) is trained on the real training split,
subsampled to each ``--per-class`` size, with each augmentation setting below, for every seed.
The validation split is cut in two class-stratified halves: the first selects the kept step (as
the pipeline's validation split does), the second measures the accuracy this script reports, so
the choice of setting does not see the test split, nor the images that selected the step.

    python benchmarks/mnist_root.py /tmp/mnist
    python benchmarks/classic_sweep.py --params params-mnist.yaml --set data.root=/tmp/mnist \\
        --per-class 50,720

writes ``classic_sweep.csv`` to ``--out`` (``benchmarks/results``): one row per (size, setting,
seed), and prints each setting's mean with its 95 % interval and the paired delta against no
augmentation.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.outputs import write_csv  # noqa: E402
from augment.data.labeled import LabeledImages  # noqa: E402
from augment.data.splits import load_splits  # noqa: E402
from augment.params.config import AugmentationConfig  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.training.device import configure_torch, resolve_device  # noqa: E402
from evaluation.classifiers.classic import ClassicAugmentation  # noqa: E402
from evaluation.classifiers.prediction import evaluate  # noqa: E402
from evaluation.classifiers.training import train_classifier  # noqa: E402
from evaluation.quality.stats import paired_delta, summarize  # noqa: E402

NONE = "none"
# label -> AugmentationConfig overrides; "none" trains without augmentation
SETTINGS: dict[str, dict | None] = {
    NONE: None,
    "affine-5": dict(degrees=5, translate=0.05, scale_min=0.95, scale_max=1.05, erasing=0.0),
    "affine-5+erase": dict(degrees=5, translate=0.05, scale_min=0.95, scale_max=1.05, erasing=0.25),
    "affine-10": dict(degrees=10, translate=0.1, scale_min=0.9, scale_max=1.1, erasing=0.0),
    "affine-10+erase": dict(degrees=10, translate=0.1, scale_min=0.9, scale_max=1.1, erasing=0.25),
    "affine-15+erase": dict(degrees=15, translate=0.15, scale_min=0.85, scale_max=1.15, erasing=0.25),
    "erase-0.5": dict(degrees=0, translate=0.0, scale_min=1.0, scale_max=1.0, erasing=0.5),
}


def halves(val: LabeledImages, seed: int) -> tuple[LabeledImages, LabeledImages]:
    """Two class-stratified halves of the validation split (a seeded permutation per class)."""
    g = torch.Generator().manual_seed(seed)
    first, second = [], []
    for c in torch.unique(val.labels).tolist():
        idx = torch.nonzero(val.labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        first.append(idx[: len(idx) // 2])
        second.append(idx[len(idx) // 2 :])
    return val.subset(torch.cat(first)), val.subset(torch.cat(second))


def per_class_subset(train: LabeledImages, per_class: int, seed: int) -> LabeledImages:
    """At most ``per_class`` images of each class (a seeded choice)."""
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in torch.unique(train.labels).tolist():
        idx = torch.nonzero(train.labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return train.subset(torch.cat(picks))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--per-class", default="50,720", help="comma list of training images per class")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma list of: " + ", ".join(SETTINGS))
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)

    params = load_params(args.params, args.overrides)
    configure_torch(params)
    device = resolve_device(params.device)
    splits = load_splits(params.data)
    select, measure = halves(splits.val, seed=0)
    cfg = params.classifier
    print(
        f"{params.data.dataset}: {len(splits.train)} training images; validation halves "
        f"{len(select)} (selection) / {len(measure)} (measurement); {cfg.steps} steps, seeds {cfg.seeds}; "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )

    rows = []
    for per_class in (int(v) for v in args.per_class.split(",")):
        train = per_class_subset(splits.train, per_class, seed=params.data.seed)
        results: dict[str, list[float]] = {}
        for label in args.settings.split(","):
            overrides = SETTINGS[label]
            augment = (
                None
                if overrides is None
                else ClassicAugmentation(dataclasses.replace(AugmentationConfig(), **overrides))
            )
            started = time.perf_counter()
            for seed in cfg.seeds:
                model, info = train_classifier(
                    train, select, splits.num_classes, cfg, seed, device=device, progress=False, augment=augment
                )
                acc = evaluate(model, measure, splits.num_classes, device=device)["accuracy"]
                results.setdefault(label, []).append(acc)
                rows.append(
                    {
                        "per_class": per_class,
                        "train_images": len(train),
                        "setting": label,
                        "seed": seed,
                        "val_accuracy": acc,
                        "best_step": info["best_step"],
                    }
                )
            s = summarize(results[label])
            line = (
                f"{per_class:4d}/class {label:16s} {s['mean']:.4f} [{s['ci_low']:.4f}, {s['ci_high']:.4f}]"
                f"  ({time.perf_counter() - started:.0f} s)"
            )
            if label != NONE and NONE in results:
                d = paired_delta(results[label], results[NONE])
                line += f"  vs none {100 * d['mean']:+.2f} [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}] points"
            print(line, flush=True)

    out = write_csv(Path(args.out) / "classic_sweep.csv", list(rows[0]), rows)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
