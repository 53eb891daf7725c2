"""What the classic sweep's choice is worth on the test split: the final measurement of a swept bar.

The sweep (``python -m pipelines.classic_sweep``) chooses on the validation split; this script
measures its choice once, after, on the test split, as the pipeline's ``real`` and ``classic``
sources would: the downstream classifier (params' ``classifier`` section) trained on the
training split with no augmentation, with params.yaml's augmentation (the default bar) and with
the swept one (``--swept`` overrides: what the sweep printed), selected on the validation split,
scored on the test split, for each of ``--seeds`` seeds; paired deltas by seed::

    python benchmarks/classic_bar_test.py --params params-mnist.yaml --set data.root=/tmp/mnist \\
        --swept augmentation.degrees=10 --swept augmentation.erasing=0.25 --seeds 5

writes ``classic_bar_test.csv`` to ``--out`` (one row per bar and seed) and prints each bar's
mean with its 95 % interval and the paired deltas.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.outputs import write_csv  # noqa: E402
from augment.data.splits import load_splits  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.training.device import configure_torch, resolve_device  # noqa: E402
from evaluation.classic_sweep.axes import describe  # noqa: E402
from evaluation.classic_sweep.search import no_augmentation  # noqa: E402
from evaluation.classifiers.classic import ClassicAugmentation  # noqa: E402
from evaluation.classifiers.prediction import evaluate  # noqa: E402
from evaluation.classifiers.training import train_classifier  # noqa: E402
from evaluation.quality.stats import paired_delta, summarize  # noqa: E402


def _points(d: dict) -> str:
    return f"{100 * d['mean']:+.2f} [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}] points"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--swept", action="append", default=[], metavar="KEY=VALUE", help="the sweep's overrides")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)

    params = load_params(args.params, args.overrides)
    swept = load_params(args.params, args.overrides + args.swept).augmentation
    configure_torch(params)
    device = resolve_device(params.device)
    splits = load_splits(params.data)
    bars = {
        "none": no_augmentation(params.augmentation),
        "default": params.augmentation,
        "swept": swept,
    }
    print(
        f"{params.data.dataset}: {len(splits.train)} training / {len(splits.val)} validation / "
        f"{len(splits.test)} test images; {params.classifier.steps} steps, seeds 0-{args.seeds - 1}; "
        + "; ".join(f"{name}: {describe(cfg)}" for name, cfg in bars.items()),
        flush=True,
    )
    rows, results = [], {}
    for name, cfg in bars.items():
        started = time.perf_counter()
        augment = None if name == "none" else ClassicAugmentation(cfg)
        results[name] = []
        for seed in range(args.seeds):
            model, _ = train_classifier(
                splits.train, splits.val, splits.num_classes, params.classifier, seed, device=device,
                progress=False, augment=augment,
            )  # fmt: skip
            acc = float(evaluate(model, splits.test, splits.num_classes, device=device)["accuracy"])
            results[name].append(acc)
            rows.append({"bar": name, "setting": describe(cfg), "seed": seed, "test_accuracy": acc})
        s = summarize(results[name])
        print(
            f"{name:8s} {describe(cfg):48s} test {s['mean']:.4f} [{s['ci_low']:.4f}, {s['ci_high']:.4f}]"
            f"  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    for a, b in (("default", "none"), ("swept", "none"), ("swept", "default")):
        print(f"{a} - {b}: {_points(paired_delta(results[a], results[b]))} (paired over {args.seeds} seeds)")
    out = write_csv(Path(args.out) / "classic_bar_test.csv", list(rows[0]), rows)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
