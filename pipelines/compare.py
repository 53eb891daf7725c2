"""Stage compare: what each method is worth against real data alone, and why.

Reads every source's per-seed test accuracies and every method's quality numbers, and writes
- ``reports/metrics.json`` (DVC metrics; the contract of docs/design.md): one object per source with
  ``accuracy`` = mean over seeds and its 95 % interval; each method also carries
  ``delta_vs_real`` (paired by seed) with its interval and verdict, and its quality numbers;
- ``reports/accuracy.csv`` and ``reports/quality.csv`` (DVC plots), the figures under
  ``reports/figures/``, and ``reports/comparison.md``, whose explanation is derived from the
  numbers of this run;
and logs all of it to one MLflow compare run.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from augment.config import MODEL_NAMES, SOURCES, Params
from augment.outputs import StagedOutputs
from augment.paths import (
    classifier_result,
    comparison_report,
    figures_dir,
    generator_report_dir,
    metrics_file,
    quality_file,
    sample_grid_file,
    stylize_dir,
)
from augment.tracking import Tracker
from evaluation.figures import accuracy_bars, loss_curves, side_by_side
from evaluation.quality import QUALITY_KEYS
from evaluation.report import figure_key, method_label, write_report
from evaluation.stats import paired_delta, summarize, verdict
from pipelines.stage import run_stage


def comparison(results: dict[str, dict], quality: dict[str, dict] | None = None) -> dict[str, dict]:
    """The metrics.json content from each source's train_classifier result and each method's
    quality numbers."""
    real_acc = _per_seed(results["real"], "accuracy")
    metrics = {}
    for source, result in results.items():
        acc = _per_seed(result, "accuracy")
        s = summarize(acc)
        entry = {
            "accuracy": s["mean"],
            "accuracy_std": s["std"],
            "accuracy_ci_low": s["ci_low"],
            "accuracy_ci_high": s["ci_high"],
            "accuracy_per_seed": acc,
            "macro_f1": summarize(_per_seed(result, "macro_f1"))["mean"],
            "seeds": [r["seed"] for r in result["runs"]],
            "train_images": result["runs"][0]["train_images"],  # real (+ synthetic) images seen
            "real_train_images": results["real"]["runs"][0]["train_images"],
        }
        if source != "real":
            if entry["seeds"] != [r["seed"] for r in results["real"]["runs"]]:
                raise ValueError(f"{source}: seeds {entry['seeds']} differ from real's; rerun train_classifier")
            d = paired_delta(acc, real_acc)
            entry.update(delta_vs_real=d["mean"], delta_ci_low=d["ci_low"], delta_ci_high=d["ci_high"],
                         verdict=verdict(d))
            entry.update({k: (quality or {}).get(source, {}).get(k) for k in QUALITY_KEYS if quality})
        metrics[source] = entry
    return metrics


def _per_seed(result: dict, key: str) -> list[float]:
    return [float(r[key]) for r in result["runs"]]


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (stage {stage})")
    return json.loads(path.read_text())


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with Path(path).open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def compare(params: Params, args=None) -> None:
    """Collect every source's results into metrics, plots, the report and one MLflow run."""
    tracker = Tracker(params, stage="compare", method="all", run_name="compare")  # checks the store now
    results = {s: _read_json(classifier_result(params, s), f"train_classifier@{s}") for s in SOURCES}
    quality = {m: _read_json(quality_file(params, m), f"evaluate@{m}") for m in MODEL_NAMES}
    quality["real"] = _read_json(quality_file(params, "real"), "judge")
    metrics = comparison(results, quality)
    out = metrics_file(params)
    accuracy_csv, quality_csv = out.with_name("accuracy.csv"), out.with_name("quality.csv")
    figures_out = figures_dir(params)
    report = comparison_report(params)

    # The tracking store is checked before anything is written; every file is staged and moved
    # into place together, so a failure leaves the previous outputs as they were.
    with tracker:
        with StagedOutputs() as staged:
            staged.path(out).write_text(json.dumps(metrics, indent=2))
            # DVC plots: accuracy per source, quality per method.
            _write_csv(staged.path(accuracy_csv), ["source", "accuracy", "ci_low", "ci_high", "delta_vs_real"],
                       [[s, m["accuracy"], m["accuracy_ci_low"], m["accuracy_ci_high"], m.get("delta_vs_real", 0.0)]
                        for s, m in metrics.items()])
            _write_csv(staged.path(quality_csv), ["method", *QUALITY_KEYS],
                       [[m, *(quality[m][k] for k in QUALITY_KEYS)] for m in MODEL_NAMES])

            staging = staged.folder(figures_out)
            accuracy_bars(
                {s: {"accuracy": m["accuracy"], "ci_low": m["accuracy_ci_low"], "ci_high": m["accuracy_ci_high"],
                     "per_seed": m["accuracy_per_seed"]} for s, m in metrics.items()},
                staging / "accuracy.png")
            figures = {"accuracy": figures_out / "accuracy.png"}
            side_by_side({n: sample_grid_file(params, n) for n in MODEL_NAMES},
                         staging / "samples.png", "Synthetic samples, one row per class")
            for name in MODEL_NAMES:
                figures[figure_key("samples", name)] = sample_grid_file(params, name)
                loss_curves(generator_report_dir(params, name) / "losses.csv", f"{method_label(name)} training",
                            staging / f"training_{name}.png")
                figures[figure_key("training", name)] = figures_out / f"training_{name}.png"
                for kind, file in (("stylisation", "stylize.png"), ("interpolation", "interpolate.png")):
                    if (stylize_dir(params, name) / file).is_file():
                        figures[figure_key(kind, name)] = stylize_dir(params, name) / file
            # Written last into the staging path next to the final one: its relative figure links
            # resolve from the report's folder, and the figures are in place once committed.
            write_report(metrics, quality, {k: str(v) for k, v in figures.items()}, staged.path(report), context={
                "dataset": params.data.dataset, "train_size": results["real"]["runs"][0]["train_images"],
                "seeds": params.classifier.seeds,
                "classifier steps": params.classifier.steps,
                "synthetic images per real image": params.classifier.synthetic_ratio,
                "CVAE-GAN start": ("the trained CVAE's encoder and decoder (init_from: cvae)"
                                   if params.generators.cvaegan.init_from == "cvae" else "from scratch (init_from: none)"),
                "judge test accuracy": round(quality["real"]["judge_test_accuracy"], 4)})

        tracker.log_params({"classifier": vars(params.classifier).copy(), "data": vars(params.data).copy()})
        for source, m in metrics.items():
            tracker.log_metrics({f"{source}.{k}": v for k, v in m.items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)})
        tracker.log_table({"source": list(metrics), **{
            key: [m.get(key) for m in metrics.values()]
            for key in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "delta_vs_real", "verdict", "fid", "cas")}},
            "comparison.json")
        for path in (out, accuracy_csv, quality_csv, report):
            tracker.log_artifact(path)
        tracker.log_artifact(figures_out, "figures")
        for name in MODEL_NAMES:
            tracker.log_artifact(stylize_dir(params, name), f"stylize/{name}")

    for source, m in metrics.items():
        line = f"compare: {source:8s} accuracy {m['accuracy']:.4f} [{m['accuracy_ci_low']:.4f}, {m['accuracy_ci_high']:.4f}]"
        if "delta_vs_real" in m:
            line += f"  delta {m['delta_vs_real']:+.4f} [{m['delta_ci_low']:+.4f}, {m['delta_ci_high']:+.4f}]: {m['verdict']}"
        print(line)
    print(f"compare: report -> {report}")


if __name__ == "__main__":
    sys.exit(run_stage("compare", compare))
