"""Time to quality: label fidelity, CAS, recall / coverage and style r of each generator against
seconds of training.

Which method buys the most quality per CPU-minute? Each run trains one generator with the
library's own pieces (the model's ``train_step``, the moving average, the loop's batch order)
and, whenever its training clock passes the next budget, pauses the clock and measures:

- ``label_fidelity``: the judge's accuracy on ``--per-class`` images per class, against the
  labels they were drawn for;
- ``cas``: a downstream classifier (params' ``classifier`` section, one seed) trained on
  ``--cas-per-class`` synthetic images per class only, tested on real images; ``cas_vs_real``
  divides it by the same classifier trained on the real training split (printed first);
- ``reconstruction_error`` (models with an encoder): per-pixel MSE of decode(mu(x), y);
- ``recall``, ``coverage``: of ``--per-class`` images per class against as many real ones, in
  the judge's features (evaluation/quality/measures.py's set metrics): how much of the real data the
  samples cover;
- ``stylize_accuracy``, ``style_r_*``, ``style_gain_*`` (models with an encoder): the judge's
  accuracy on stylised images (each real image's code decoded as every class) and how much of
  the source's slant and thickness the other-class drawings keep (docs/style.md).

The real images measured against are the **validation** split (``--split val``, the default),
so the figure can be used to choose settings without touching the test split; ``--split test``
measures on the test split instead. The judge is trained first, on the training split, with
params' ``evaluation.judge`` settings (its own accuracy is printed).

    python benchmarks/mnist_root.py data/raw
    python benchmarks/time_to_quality.py --params params-mnist.yaml --seconds 60,120,240,480

writes ``time_to_quality.csv`` and ``time_to_quality.png`` to ``--out``
(``benchmarks/results`` by default). ``--run LABEL MODEL KEY=VALUE ...`` adds a variant (any
``--set`` key), for comparing settings; without ``--run`` each method of ``generators.methods``
(cvae, cgan, cvaegan, cfm by default) runs with the params as they are. A CVAE-GAN with ``init_from: cvae`` starts from the CVAE trained
earlier in the same invocation: its budgets count its own training, and its ``seconds`` column
adds the CVAE's training seconds (the warm start's cost). ``--steps``
measures at optimizer-step counts instead of seconds (for runs on other hardware, whose seconds
do not compare).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")  # draws to files, no screen
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.labels import balanced_labels  # noqa: E402
from augment.core.outputs import write_csv  # noqa: E402
from augment.data.labeled import LabeledImages  # noqa: E402
from augment.data.splits import load_splits  # noqa: E402
from augment.models import build_model  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.params.methods import method_names  # noqa: E402
from augment.params.sampling import apply_sampling  # noqa: E402
from augment.sampling.generation import sample_images  # noqa: E402
from augment.training.device import configure_torch, resolve_device  # noqa: E402
from augment.training.loop import epoch_batches  # noqa: E402
from augment.training.warm_start import copy_encoder_decoder  # noqa: E402
from evaluation.classifiers.judge import train_judge  # noqa: E402
from evaluation.classifiers.prediction import evaluate, predict  # noqa: E402
from evaluation.classifiers.training import train_classifier  # noqa: E402
from evaluation.quality.measures import (  # noqa: E402
    balanced_subset,
    quality_config,
    reconstruction_error,
    set_metrics,
    stylization_metrics,
)
from evaluation.quality.metrics import label_fidelity  # noqa: E402

COLUMNS = (
    "label",
    "model",
    "step",
    "seconds",
    "label_fidelity",
    "cas",
    "cas_vs_real",
    "recall",
    "coverage",
    "reconstruction_error",
    "stylize_accuracy",
    "style_r_slant",
    "style_r_thickness",
    "style_gain_slant",
    "style_gain_thickness",
)


def real_cas(splits, real: LabeledImages, params, device) -> float:
    """The reference for ``cas``: the same classifier and seed trained on the real training split
    instead of synthetic images, measured on the same real images (its final weights, as CAS's)."""
    empty = LabeledImages(real.images[:0], real.labels[:0])
    clf, _ = train_classifier(
        splits.train, empty, splits.num_classes, params.classifier, seed=0, device=device, progress=False
    )
    return evaluate(clf, real, splits.num_classes, device=device)["accuracy"]


def measure(model, judge, splits, real: LabeledImages, params, args, device) -> dict[str, float | None]:
    """The numbers of one checkpoint (see the module docstring)."""
    k = splits.num_classes
    labels = balanced_labels(k, k * args.per_class)  # [N]
    fakes = sample_images(model, labels, seed=0)  # [N, C, H, W]
    fidelity = label_fidelity(predict(judge, fakes, device=device).numpy(), labels.numpy())
    n = min(len(real), len(labels))  # the set metrics compare equal numbers of images
    cfg = quality_config(params)
    variety = set_metrics(
        balanced_subset(LabeledImages(fakes, labels), n, cfg.seed),
        balanced_subset(real, n, cfg.seed),
        judge,
        cfg,
        device,
    )
    cas_labels = balanced_labels(k, k * args.cas_per_class)
    cas_set = LabeledImages(sample_images(model, cas_labels, seed=1), cas_labels)
    empty = LabeledImages(real.images[:0], real.labels[:0])  # no selection split: final weights
    clf, _ = train_classifier(cas_set, empty, k, params.classifier, seed=0, device=device, progress=False)
    cas = evaluate(clf, real, k, device=device)["accuracy"]
    rec = reconstruction_error(model, real, device=device)
    rows = real.subset(torch.arange(min(len(real), args.stylize_rows)))
    style = stylization_metrics(model, rows, judge, device=device)
    model.train()
    return {
        "label_fidelity": fidelity,
        "cas": cas,
        "cas_vs_real": cas / args.real_cas,
        "recall": variety["recall"],
        "coverage": variety["coverage"],
        "reconstruction_error": rec,
        **{key: style[key] for key in COLUMNS if key in style},
    }


def train_and_measure(label, name, params, splits, judge, real, args, device, start=None, clock0=0.0):
    """Train one generator, measuring at each budget; returns (rows, trained model, seconds)."""
    cfg = params.generator(name)
    torch.manual_seed(params.generators.seed)
    model = build_model(name, cfg, splits.image_shape, splits.num_classes).to(device)
    apply_sampling(model, params.sampling(name))  # measured as the sample and evaluate stages draw
    if start is not None:  # warm start: encoder and decoder of the CVAE trained just before
        copy_encoder_decoder(model, start, f"{label}: init_from cvae")
    model.train()
    optimizers = model.make_optimizers()
    x_all, y_all = splits.train.images.to(device), splits.train.labels.to(device)
    budgets = list(args.budgets)
    rows, step, seconds, epoch = [], 0, clock0, 0
    while budgets:
        epoch += 1
        for idx in epoch_batches(len(splits.train), cfg.batch_size, params.generators.seed, epoch, steps_per_epoch=100):
            t0 = time.perf_counter()
            model.train_step(x_all[idx.to(device)], y_all[idx.to(device)], optimizers)
            model.update_ema()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds += time.perf_counter() - t0
            step += 1
            reached = step if args.steps else seconds - clock0  # budgets count the run's own training
            if budgets and reached >= budgets[0]:
                budgets.pop(0)
                row = {
                    "label": label,
                    "model": name,
                    "step": step,
                    "seconds": round(seconds, 1),
                    **measure(model, judge, splits, real, params, args, device),
                }
                rows.append(row)
                print(
                    " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True
                )
            if not budgets:
                break
    return rows, model, seconds - clock0


PANELS = (  # (keys drawn, y label): what each CPU-minute buys in correctness and in variety
    (("label_fidelity",), "label fidelity (judge)"),
    (("cas",), "CAS (train on synthetic, test on real)"),
    (("recall", "coverage"), "recall (solid), coverage (dashed)"),
    (("style_r_slant", "style_r_thickness"), "style r: slant (solid), thickness (dashed)"),
)


def plot(rows, path: Path, x: str, real_cas: float | None = None) -> None:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    for i, label in enumerate(dict.fromkeys(r["label"] for r in rows)):
        mine = [r for r in rows if r["label"] == label]
        color = f"C{i}"
        for ax, (keys, _) in zip(axes, PANELS, strict=True):
            for key, style in zip(keys, ("-", "--"), strict=False):  # one or two keys per panel
                points = [(r[x], r[key]) for r in mine if r.get(key) is not None]
                if points:
                    ax.plot(
                        *zip(*points, strict=True),
                        style,
                        marker="o",
                        color=color,
                        label=label if key == keys[0] else None,
                    )
    for ax, (_, name) in zip(axes, PANELS, strict=True):
        ax.set_xlabel("training seconds" if x == "seconds" else "optimizer steps")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    if real_cas is not None:  # the CAS panel's reference: the classifier trained on real images
        axes[1].axhline(real_cas, color="k", linestyle=":", label="real training split")
        axes[1].legend()
    axes[0].legend()
    fig.suptitle("Quality and variety against training time, 28x28")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params-mnist.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    ap.add_argument(
        "--run", action="append", nargs="+", metavar="ARG", help="LABEL MODEL [KEY=VALUE ...]: one variant (repeatable)"
    )
    ap.add_argument("--seconds", default="60,120,240,480", help="training-clock budgets, comma-separated")
    ap.add_argument("--steps", default=None, help="step budgets instead of seconds, comma-separated")
    ap.add_argument("--split", choices=("val", "test"), default="val", help="real images measured against")
    ap.add_argument("--per-class", type=int, default=100, help="images per class for label fidelity")
    ap.add_argument("--cas-per-class", type=int, default=500, help="synthetic images per class for CAS")
    ap.add_argument("--stylize-rows", type=int, default=200)
    ap.add_argument("--device", default=None, help="override params' device")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    overrides = list(args.set) + ([f"device={args.device}"] if args.device else [])
    params = load_params(args.params, overrides)
    configure_torch(params)
    device = resolve_device(params.device)
    args.budgets = [float(v) for v in (args.steps or args.seconds).split(",")]
    runs = args.run or [[name, name] for name in method_names(params)]

    splits = load_splits(params.data)
    real = splits.val if args.split == "val" else splits.test
    judge, info = train_judge(splits, params.evaluation.judge, device=device)
    print(
        f"judge: val accuracy {info['val_accuracy']:.4f}, test accuracy {info['test_accuracy']:.4f}; "
        f"torch threads {torch.get_num_threads()}, device {device}",
        flush=True,
    )
    args.real_cas = real_cas(splits, real, params, device)
    print(f"real-only classifier (the CAS reference, cas_vs_real = cas / it): {args.real_cas:.4f}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "time_to_quality.csv"
    rows, cvae, cvae_seconds = [], None, 0.0
    for label, name, *sets in runs:
        run_params = load_params(args.params, overrides + sets)
        start = cvae if getattr(run_params.generator(name), "init_from", "none") == "cvae" else None
        if start is None and getattr(run_params.generator(name), "init_from", "none") == "cvae":
            raise SystemExit(f"{label}: init_from cvae needs a cvae run earlier in this invocation")
        new, model, seconds = train_and_measure(
            label,
            name,
            run_params,
            splits,
            judge,
            real,
            args,
            device,
            start=start,
            clock0=cvae_seconds if start is not None else 0.0,
        )
        rows += new
        write_csv(csv_path, COLUMNS, rows)  # run by run, so a cut-off run keeps what it measured
        if name == "cvae":
            cvae, cvae_seconds = model, seconds
    plot(rows, out / "time_to_quality.png", "step" if args.steps else "seconds", args.real_cas)
    print(f"wrote {csv_path} and {out / 'time_to_quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
