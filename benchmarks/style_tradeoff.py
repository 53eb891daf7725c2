"""Stylisation and diversity against label fidelity: the trade-off table of docs/style.md.

For each variant (``--run LABEL KEY=VALUE ...``, any ``--set`` key of params.yaml) this trains the
CVAE and then the CVAE-GAN from it (``init_from: cvae``, the method's warm start) with the
library's own training set-up (augment/training/generator_training.py), draws ``sample.per_class`` images
per class, and measures both models with the evaluate stage's numbers (evaluation/quality/measures.py):
label fidelity, precision / recall / coverage in the judge's features, CAS, FID, sharpness, and
the stylisation numbers (transfer accuracy, style r of slant and thickness, evaluation/quality/style.py).

The real images measured against are the **validation** split (``--split val``, the default), so
the table can choose settings without touching the test split; the judge trains once, on the
training split, with params' ``evaluation.judge``.

    python benchmarks/mnist_root.py data/raw
    python benchmarks/style_tradeoff.py --params params-mnist.yaml \\
        --run today --run kl1 generators.cvae.kl_weight=1 generators.cvaegan.kl_weight=1

writes ``style_tradeoff.csv`` to ``--out`` (``benchmarks/results``), a row per model and variant,
after each variant (a run cut short keeps what it measured).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.labels import balanced_labels  # noqa: E402
from augment.core.outputs import write_csv  # noqa: E402
from augment.data.labeled import LabeledImages, Splits  # noqa: E402
from augment.data.splits import load_splits  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.params.sampling import apply_sampling  # noqa: E402
from augment.sampling.generation import sample_images  # noqa: E402
from augment.sampling.restyle import STYLED_KINDS, styled_set  # noqa: E402
from augment.training.device import configure_torch, resolve_device  # noqa: E402
from augment.training.generator_training import train_generator  # noqa: E402
from evaluation.classifiers.judge import judge_at  # noqa: E402
from evaluation.quality.measures import balanced_subset, method_quality, quality_config, set_metrics  # noqa: E402

MODELS = ("cvae", "cvaegan")
NUMBERS = (
    "label_fidelity",
    "precision",
    "recall",
    "coverage",
    "cas",
    "fid",
    "sharpness_ratio",
    "diversity_ratio",
    "transfer_accuracy",
    "style_r_slant",
    "style_r_thickness",
    "style_gain_slant",
    "style_gain_thickness",
    "reconstruction_error",
)
# the same set metrics of the model's restyle and transfer sets (augment/sampling/restyle.py)
STYLED = tuple(f"{kind}_{key}" for kind in STYLED_KINDS for key in ("label_fidelity", "recall", "coverage"))
COLUMNS = ("label", "model", "settings", "train_seconds", *NUMBERS, *STYLED)


def run_variant(label: str, sets: list[str], args, splits: Splits, measured: Splits, judge, device) -> list[dict]:
    """Train the CVAE and the CVAE-GAN of one variant in a scratch folder; one row per model."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="style_tradeoff_") as scratch:
        paths = [f"paths.generators={scratch}/generators", f"paths.reports={scratch}/reports"]
        params = load_params(args.params, args.set + sets + paths)
        for name in MODELS:
            t0 = time.perf_counter()
            model, _, _ = train_generator(params, name, splits=splits, progress=False)
            apply_sampling(model, params.sampling(name))  # as the sample stage draws
            seconds = time.perf_counter() - t0
            k = splits.num_classes
            labels = balanced_labels(k, k * params.sample.per_class)  # [N]
            images = sample_images(model, labels, seed=params.sample.seed, batch_size=params.sample.batch_size)
            quality = method_quality(
                name, model, LabeledImages(images, labels), measured, judge, quality_config(params), device=device
            )
            row = {
                "label": label,
                "model": name,
                "settings": " ".join(sets) or "(params as they are)",
                "train_seconds": round(seconds, 1),
                **{key: quality[key] for key in NUMBERS},
            }
            cfg = quality_config(params)
            for kind in STYLED_KINDS:
                styled = styled_set(
                    model,
                    splits.train,
                    kind,
                    params.sample.per_class,
                    params.sample.styled.noise,
                    params.sample.seed,
                    params.sample.batch_size,
                )
                n = min(len(measured.test), len(styled.labels), cfg.max_images)
                numbers = set_metrics(
                    balanced_subset(LabeledImages(styled.images, styled.labels), n, cfg.seed),
                    balanced_subset(measured.test, n, cfg.seed),
                    judge,
                    cfg,
                    device,
                )
                row.update({f"{kind}_{key}": numbers[key] for key in ("label_fidelity", "recall", "coverage")})
            print(
                " ".join(f"{c}={row[c]:.4g}" if isinstance(row[c], float) else f"{c}={row[c]}" for c in COLUMNS),
                flush=True,
            )
            rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params-mnist.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    ap.add_argument(
        "--run",
        action="append",
        nargs="+",
        metavar="ARG",
        required=True,
        help="LABEL [KEY=VALUE ...]: one variant (repeatable)",
    )
    ap.add_argument("--split", choices=("val", "test"), default="val", help="real images measured against")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--name", default="style_tradeoff", help="the CSV's file name, without .csv")
    ap.add_argument(
        "--judge",
        default=None,
        metavar="FILE",
        help="the judge's file: loaded when it exists, else trained and written there",
    )
    args = ap.parse_args(argv)
    params = load_params(args.params, args.set)
    configure_torch(params)
    device = resolve_device(params.device)
    splits = load_splits(params.data)
    # the real set measured against stands in the test split's place (validation: no test peek)
    measured = Splits(splits.train, splits.val, splits.val if args.split == "val" else splits.test, splits.classes)
    judge, info = judge_at(args.judge, splits, params.evaluation.judge, device)
    print(f"judge: val accuracy {info['val_accuracy']:.4f}; torch threads {torch.get_num_threads()}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"{args.name}.csv"
    rows: list[dict] = []
    for label, *sets in args.run:
        rows += run_variant(label, sets, args, splits, measured, judge, device)
        write_csv(csv_path, COLUMNS, ([row[c] for c in COLUMNS] for row in rows))
    print(f"wrote {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
