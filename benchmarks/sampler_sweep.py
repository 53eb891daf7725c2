"""A trained generator's sampling settings against quality and speed: cfm's guidance and steps.

A flow model's sampler has settings a decoder does not have: the guidance weight ``w``, the
solver and its number of steps (augment/models/cfm.py; params.yaml's ``sample.generators.cfm``).
They change neither the training nor the checkpoint, only what is drawn and how fast it is
drawn, so they are swept on one trained checkpoint. For each variant (``--run LABEL KEY=VALUE
...``: ``--set`` keys of params.yaml; the model draws with the variant's
``sample.generators.<model>`` section, its weights being the checkpoint's) this draws
``--per-class`` images per class with the sample stage's seed, times the
drawing, and measures the set with the evaluate stage's numbers (evaluation/quality/measures.py):
label fidelity, FID / KID, precision / recall / density / coverage in the judge's features, and
CAS with ``evaluation.classifier``'s steps and seeds.

The real images measured against are the **validation** split (no test peek): CAS classifiers
keep their final weights (no selection split) and are tested on it, and ``cas_vs_real`` divides
by the same classifiers trained on the real training split instead. ``--style`` adds the
stylisation numbers of the evaluate stage (transfer and stylise accuracy, style r and gain of slant
and thickness: ``stylization_metrics``) on every validation image stylised as every class, with the
variant's settings: the way to sweep an encoder setting such as cfm's ``encode_label`` (it
integrates the flow K + 1 times per image, minutes per variant at 28x28 on a CPU).

    python benchmarks/mnist_root.py data/raw && cp params-mnist.yaml params.yaml && dvc repro train_generator@cfm judge
    python benchmarks/sampler_sweep.py --checkpoint models/generators/cfm.pt --judge models/classifiers/judge.pt \\
        --run profile --run w0 sample.generators.cfm.guidance=0 \\
        --run w0-euler sample.generators.cfm.guidance=0 sample.generators.cfm.solver=euler
    python benchmarks/sampler_sweep.py --checkpoint models/generators/cfm.pt --judge models/classifiers/judge.pt \\
        --style --name encode_label_cfm --run lambda1 --run lambda0.5 sample.generators.cfm.encode_label=0.5

writes ``sampler_sweep.csv`` to ``--out`` (``benchmarks/results``), a row per variant, after each
variant (a run cut short keeps what it measured).
"""

from __future__ import annotations

import argparse
import sys
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
from augment.training.checkpoint import load_generator  # noqa: E402
from augment.training.device import configure_torch, resolve_device  # noqa: E402
from evaluation.classifiers.judge import judge_at  # noqa: E402
from evaluation.quality.measures import (  # noqa: E402
    STYLIZATION_KEYS,
    balanced_subset,
    classification_accuracy_score,
    quality_config,
    set_metrics,
    stylization_metrics,
)

NUMBERS = (
    "label_fidelity",
    "cas",
    "cas_std",
    "cas_vs_real",
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
)
# then the evaluate stage's stylisation numbers (--style; empty without it)
COLUMNS = ("label", "settings", "sampling", "images_per_s", *NUMBERS, *STYLIZATION_KEYS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    ap.add_argument("--checkpoint", required=True, help="the trained generator (the train stage's file)")
    ap.add_argument("--run", action="append", nargs="+", metavar="ARG", required=True, help="LABEL [KEY=VALUE ...]")
    ap.add_argument("--per-class", type=int, default=300, help="images drawn per class for each variant")
    ap.add_argument("--judge", default=None, metavar="FILE", help="loaded when it exists, else trained and written")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--name", default="sampler_sweep", help="the CSV's file name, without .csv")
    ap.add_argument("--style", action="store_true", help="also stylise every validation image as every class")
    args = ap.parse_args(argv)
    params = load_params(args.params, args.set)
    configure_torch(params)
    device = resolve_device(params.device)
    splits = load_splits(params.data)
    model, _ = load_generator(args.checkpoint, expected_shape=splits.image_shape, device=device)
    judge, info = judge_at(args.judge, splits, params.evaluation.judge, device)
    cfg = quality_config(params)
    # CAS without a selection split (final weights), tested on the validation split
    measured = Splits(splits.train, splits.val.subset(torch.arange(0)), splits.val, splits.classes)
    real = classification_accuracy_score(splits.train, measured, cfg.classifier, device=device)["mean"]
    print(
        f"{model.name} from {args.checkpoint}; judge val accuracy {info['val_accuracy']:.4f}; real-only "
        f"classifier {real:.4f} on the validation split; torch threads {torch.get_num_threads()}",
        flush=True,
    )
    k = splits.num_classes
    labels = balanced_labels(k, k * args.per_class)  # [N]
    n = min(len(splits.val), len(labels), cfg.max_images)  # the set metrics' size, every variant
    real_set = balanced_subset(splits.val, n, cfg.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, rows = out / f"{args.name}.csv", []
    for label, *sets in args.run:
        run_params = load_params(args.params, args.set + sets)
        apply_sampling(model, run_params.sampling(model.name))  # the variant's sample.generators.<model>
        t0 = time.perf_counter()
        images = sample_images(model, labels, seed=run_params.sample.seed, batch_size=run_params.sample.batch_size)
        speed = len(labels) / (time.perf_counter() - t0)
        sampling = model.describe_sampling()
        style = stylization_metrics(model, splits.val, judge, device=device) if args.style else {}
        synthetic = LabeledImages(images, labels)
        numbers = set_metrics(balanced_subset(synthetic, n, cfg.seed), real_set, judge, cfg, device)
        cas = classification_accuracy_score(synthetic, measured, cfg.classifier, device=device)
        numbers.update(cas=cas["mean"], cas_std=cas["std"], cas_vs_real=cas["mean"] / real)
        row = {"label": label, "settings": " ".join(sets) or "(params as they are)", "sampling": sampling}
        row["images_per_s"] = speed
        row.update({key: numbers[key] for key in NUMBERS})
        row.update({key: style.get(key) for key in STYLIZATION_KEYS})
        rows.append(row)
        print(
            " ".join(f"{c}={row[c]:.4g}" if isinstance(row[c], float) else f"{c}={row[c]}" for c in COLUMNS), flush=True
        )
        write_csv(csv_path, COLUMNS, ([row[c] for c in COLUMNS] for row in rows))
    print(f"wrote {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
