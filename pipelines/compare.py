"""Stage compare: what each method is worth against real data alone, and why.

Reads the per-seed test accuracies of every source the run trains (``classifier.sources``),
every method's quality numbers and the sample records, and writes
- ``reports/metrics.json`` (DVC metrics; the contract of docs/design.md): one object per source with
  ``accuracy`` = mean over seeds and its 95 % interval, its deltas with intervals and verdicts,
  and a method's quality numbers;
- ``reports/accuracy.csv`` and ``reports/quality.csv`` (DVC plots), the figures under
  ``reports/figures/``, and ``reports/comparison.md``, whose explanation is derived from the
  numbers of this run;
and logs all of it to one MLflow compare run. A thin stage: the report wing builds and writes
everything (evaluation/report: entries.py the metrics, setup.py the report's setup lines,
assembly.py the files, summary.py the summary).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import cast

from augment.core.outputs import StagedOutputs
from augment.params.config import Params, flatten
from augment.params.methods import method_names, styled_methods
from augment.params.sources import (
    PSEUDO,
    REAL,
    filtered_name,
    styled_name,
)
from augment.sampling.restyle import STYLED_KINDS
from augment.settings.paths import (
    classifier_result,
    quality_file,
    sample_record,
    stylize_dir,
)
from augment.tracking.runs import Tracker
from evaluation.report.assembly import write_comparison
from evaluation.report.entries import comparison
from evaluation.report.results import ClassifierResult
from evaluation.report.setup import setup_context
from evaluation.report.summary import summary_lines
from pipelines.stage import run_stage


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (stage {stage})")
    return json.loads(path.read_text())


def compare(params: Params, args=None) -> None:
    """Collect every source's results into metrics, plots, the report and one MLflow run."""
    tracker = Tracker(params, stage="compare", method="all", run_name="compare")  # checks the store now
    results = {
        s: cast(ClassifierResult, _read_json(classifier_result(params, s), f"train_classifier@{s}"))
        for s in params.classifier.sources
    }
    methods = method_names(params)
    # combined models: those whose training starts from another method's checkpoint (init_from)
    combinations = {
        m: getattr(params.generator(m), "init_from", "none")
        for m in methods
        if getattr(params.generator(m), "init_from", "none") in methods
    }
    quality = {m: _read_json(quality_file(params, m), f"evaluate@{m}") for m in methods}
    quality["real"] = _read_json(quality_file(params, "real"), "judge")
    samples = {filtered_name(m): _read_json(sample_record(params, filtered_name(m)), f"sample@{m}") for m in methods}
    for encoder in styled_methods(params):
        for kind in STYLED_KINDS:
            name = styled_name(encoder, kind)
            samples[name] = _read_json(sample_record(params, name), f"restyle@{encoder}")
    pseudo = None
    if params.data.labelled or params.data.unlabelled_root:
        pseudo = _read_json(sample_record(params, PSEUDO), "pseudo_label")
    metrics = comparison(results, quality, samples, params.data.imbalance.classes, results[REAL].get("classes"))
    context = setup_context(params, results, methods, combinations, quality, pseudo)

    # The tracking store is checked before anything is written; every file is staged and moved
    # into place together, so a failure leaves the previous outputs as they were.
    with tracker:
        with StagedOutputs() as staged:
            written = write_comparison(staged, params, metrics, quality, methods, combinations, context)

        tracker.log_params(
            {k: params.to_dict()[k] for k in ("classifier", "data", "augmentation")}
            | {"sample.filter": params.to_dict()["sample"]["filter"]}
        )
        for source, m in metrics.items():
            tracker.log_metrics(
                {
                    f"{source}.{k}": v
                    for k, v in flatten(dict(m)).items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
            )
        tracker.log_table(
            {
                "source": list(metrics),
                **{
                    key: [m.get(key) for m in metrics.values()]
                    for key in (
                        "accuracy",
                        "accuracy_ci_low",
                        "accuracy_ci_high",
                        "delta_vs_real",
                        "verdict",
                        "delta_vs_classic",
                        "verdict_vs_classic",
                        "delta_vs_unfiltered",
                        "verdict_vs_unfiltered",
                        "acceptance_rate",
                        "macro_f1",
                        "rare_accuracy",
                        "fid",
                        "cas",
                    )
                },
            },
            "comparison.json",
        )
        tracker.describe_execution("\n".join(f"- {line}" for line in summary_lines(metrics, quality, combinations)))
        for path in (written.metrics, written.accuracy_csv, written.quality_csv, written.report):
            tracker.log_artifact(path)
        tracker.log_artifact(written.figures, "figures")
        tracker.log_artifact(written.headlines, "metrics")
        for name in methods:
            tracker.log_artifact(stylize_dir(params, name), f"stylize/{name}")

    for source, m in metrics.items():
        line = f"compare: {source:16s} accuracy {m['accuracy']:.4f} [{m['accuracy_ci_low']:.4f}, {m['accuracy_ci_high']:.4f}]"
        if "delta_vs_real" in m:
            line += f"  vs real {m['delta_vs_real']:+.4f} [{m['delta_ci_low']:+.4f}, {m['delta_ci_high']:+.4f}]: {m['verdict']}"
        if "delta_vs_classic" in m:
            line += (
                f"; vs classic {m['delta_vs_classic']:+.4f} [{m['delta_vs_classic_ci_low']:+.4f}, "
                f"{m['delta_vs_classic_ci_high']:+.4f}]: {m['verdict_vs_classic']}"
            )
        print(line)
    for line in summary_lines(metrics, quality, combinations):
        print(f"compare: {line}")
    print(f"compare: report -> {written.report}")


if __name__ == "__main__":
    sys.exit(run_stage("compare", compare))
