"""Stage compare: what each method is worth against real data alone.

Reads every source's per-seed test accuracies, writes ``reports/metrics.json`` (DVC metrics;
DESIGN.md's contract: one object per source with ``accuracy`` = mean over seeds, and for each
method ``delta_vs_real``, paired by seed), the accuracy bar plot with 95 % intervals, the
methods' sample grids side by side, and logs all of it to one MLflow compare run.
"""

from __future__ import annotations

import csv
import json
import sys

from augment.config import MODEL_NAMES, SOURCES, Params
from augment.paths import classifier_result, figures_dir, metrics_file, sample_grid_file
from augment.tracking import Tracker
from evaluation.figures import accuracy_bars, side_by_side
from evaluation.stats import paired_delta, summarize, verdict
from pipelines.stage import run_stage


def comparison(results: dict[str, dict]) -> dict[str, dict]:
    """The metrics.json content from each source's train_classifier result."""
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
        }
        if source != "real":
            if entry["seeds"] != [r["seed"] for r in results["real"]["runs"]]:
                raise ValueError(f"{source}: seeds {entry['seeds']} differ from real's; rerun train_classifier")
            d = paired_delta(acc, real_acc)
            entry.update(delta_vs_real=d["mean"], delta_ci_low=d["ci_low"], delta_ci_high=d["ci_high"],
                         verdict=verdict(d))
        metrics[source] = entry
    return metrics


def _per_seed(result: dict, key: str) -> list[float]:
    return [float(r[key]) for r in result["runs"]]


def compare(params: Params, args=None) -> None:
    """Collect every source's results into metrics, plots and one MLflow run."""
    results = {}
    for source in SOURCES:
        path = classifier_result(params, source)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `dvc repro` (stage train_classifier@{source})")
        results[source] = json.loads(path.read_text())
    metrics = comparison(results)
    out = metrics_file(params)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2))

    figures = figures_dir(params)
    table = out.with_name("accuracy.csv")  # DVC bar plot
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "accuracy", "ci_low", "ci_high", "delta_vs_real"])
        for source, m in metrics.items():
            writer.writerow([source, m["accuracy"], m["accuracy_ci_low"], m["accuracy_ci_high"], m.get("delta_vs_real", 0.0)])
    bars = accuracy_bars(
        {s: {"accuracy": m["accuracy"], "ci_low": m["accuracy_ci_low"], "ci_high": m["accuracy_ci_high"],
             "per_seed": m["accuracy_per_seed"]} for s, m in metrics.items()},
        figures / "accuracy.png",
    )
    samples = side_by_side({name: sample_grid_file(params, name) for name in MODEL_NAMES},
                           figures / "samples.png", "Synthetic samples, one row per class")

    with Tracker(params, stage="compare", method="all", run_name="compare") as tracker:
        tracker.log_params({"classifier": vars(params.classifier).copy(), "data": vars(params.data).copy()})
        for source, m in metrics.items():
            tracker.log_metrics({f"{source}.accuracy": m["accuracy"]})
            if "delta_vs_real" in m:
                tracker.log_metrics({f"{source}.delta_vs_real": m["delta_vs_real"]})
        tracker.log_table({"source": list(metrics), **{
            key: [m.get(key) for m in metrics.values()]
            for key in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "delta_vs_real", "verdict")}},
            "comparison.json")
        tracker.log_artifact(out)
        tracker.log_artifact(bars, "figures")
        tracker.log_artifact(samples, "figures")

    for source, m in metrics.items():
        line = f"compare: {source:8s} accuracy {m['accuracy']:.4f} [{m['accuracy_ci_low']:.4f}, {m['accuracy_ci_high']:.4f}]"
        if "delta_vs_real" in m:
            line += f"  delta {m['delta_vs_real']:+.4f} [{m['delta_ci_low']:+.4f}, {m['delta_ci_high']:+.4f}]: {m['verdict']}"
        print(line)


if __name__ == "__main__":
    sys.exit(run_stage("compare", compare))
