"""Stage compare: what each method is worth against real data alone, and why.

Reads the per-seed test accuracies of every source the run trains (``classifier.sources``) and every method's quality numbers, and writes
- ``reports/metrics.json`` (DVC metrics; the contract of docs/design.md): one object per source with
  ``accuracy`` = mean over seeds and its 95 % interval; each method also carries
  ``delta_vs_real`` (paired by seed) with its interval and verdict, and its quality numbers;
- ``reports/accuracy.csv`` and ``reports/quality.csv`` (DVC plots), the figures under
  ``reports/figures/``, and ``reports/comparison.md``, whose explanation is derived from the
  numbers of this run;
and logs all of it to one MLflow compare run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from augment.core.outputs import StagedOutputs, write_csv
from augment.params.config import Params, flatten
from augment.params.methods import method_names, styled_methods
from augment.params.sources import (
    BASELINES,
    CLASSIC,
    PSEUDO,
    REAL,
    SELF_TRAINING,
    Source,
    filtered_name,
    order_sources,
    parse_source,
    styled_name,
)
from augment.sampling.restyle import STYLED_KINDS
from augment.settings.paths import (
    classifier_result,
    comparison_report,
    figures_dir,
    generator_report_dir,
    metrics_file,
    quality_file,
    sample_grid_file,
    sample_record,
    stylize_dir,
)
from augment.tracking.runs import Tracker
from evaluation.classic_sweep.record import origin
from evaluation.quality.keys import QUALITY_KEYS
from evaluation.quality.stats import delta_fields, paired_delta, summarize
from evaluation.report.figures import accuracy_bars, loss_curves, side_by_side
from evaluation.report.findings import method_label
from evaluation.report.results import ClassifierResult, Metrics, SourceMetrics
from evaluation.report.summary import summary_lines
from evaluation.report.writer import figure_key, write_report
from pipelines.stage import run_stage


def comparison(
    results: dict[str, ClassifierResult],
    quality: dict[str, dict] | None = None,
    samples: dict[str, dict] | None = None,
    rare_classes: list[int] | None = None,
    class_names: list[str] | None = None,
) -> Metrics:
    """The metrics.json content: one :class:`evaluation.report.results.SourceMetrics` per source.

        ``results``: each source's train_classifier result (``real`` required); ``quality``: each
        method's quality numbers; ``samples``: each filtered, restyle and transfer set's record
    (acceptance rates, for a styled set when ``sample.styled.filter`` filtered it);
        ``rare_classes``: the class indices ``data.imbalance`` thinned, whose test accuracy is
        summarised per source. Every delta is paired by seed: ``delta_vs_real`` (keys ``delta_ci_low``,
        ``delta_ci_high``, ``verdict``) for every source but real; ``delta_vs_classic`` (``_ci_low``,
        ``_ci_high``, ``verdict_vs_classic``) for every source but real and classic;
        ``delta_vs_unfiltered`` for each ``<method>-filtered`` against ``<method>``; with the
        self-training sources of a label budget, ``delta_vs_self_training`` for every other source
        against the stronger of them (the higher mean; its name in ``self_training_bar``).
    """
    seeds = [r["seed"] for r in results[REAL]["runs"]]
    metrics: Metrics = {}
    bars = [s for s in SELF_TRAINING if s in results]  # the strongest simple use of the pool
    bar = max(bars, key=lambda s: summarize(_per_seed(results[s], "accuracy"))["mean"]) if bars else None
    for source in order_sources(results):
        result = results[source]
        acc = _per_seed(result, "accuracy")
        s, f1 = summarize(acc), summarize(_per_seed(result, "macro_f1"))
        entry: dict[str, Any] = {  # built key by key, then typed as SourceMetrics
            "accuracy": s["mean"],
            "accuracy_std": s["std"],
            "accuracy_ci_low": s["ci_low"],
            "accuracy_ci_high": s["ci_high"],
            "accuracy_per_seed": acc,
            "macro_f1": f1["mean"],
            "macro_f1_ci_low": f1["ci_low"],
            "macro_f1_ci_high": f1["ci_high"],
            "seeds": [r["seed"] for r in result["runs"]],
            "train_images": result["runs"][0]["train_images"],  # real (+ synthetic) images seen
            "real_train_images": results[REAL]["runs"][0]["train_images"],
        }
        if entry["seeds"] != seeds:
            raise ValueError(f"{source}: seeds {entry['seeds']} differ from real's {seeds}; rerun train_classifier")
        if source != REAL:
            entry.update(
                delta_fields("delta_vs_real", "delta", paired_delta(acc, _per_seed(results[REAL], "accuracy")))
            )
        if source not in (REAL, CLASSIC) and CLASSIC in results:
            entry.update(_delta_entry("classic", acc, _per_seed(results[CLASSIC], "accuracy")))
        if bar is not None and source not in (*BASELINES, *SELF_TRAINING):
            entry.update(_delta_entry("self_training", acc, _per_seed(results[bar], "accuracy")))
            entry["self_training_bar"] = bar
        parsed = _parsed(source)
        if parsed is not None and parsed.filtered and parsed.method in results:
            entry.update(_delta_entry("unfiltered", acc, _per_seed(results[parsed.method], "accuracy")))
            record = (samples or {}).get(source, {})
            entry["acceptance_rate"] = record.get("acceptance_rate")
        if parsed is not None and parsed.variant in STYLED_KINDS and parsed.synthetic is not None:
            record = (samples or {}).get(parsed.synthetic, {})
            if record.get("filtered"):  # sample.styled.filter: the share of redraws the filter kept
                entry["acceptance_rate"] = record.get("acceptance_rate")
        if quality and parsed is not None and parsed.method == source:
            entry.update({k: quality.get(source, {}).get(k) for k in QUALITY_KEYS})
        if rare_classes:
            entry.update(_rare_class_entry(result, results[REAL], rare_classes, class_names, source == REAL))
        metrics[source] = cast(SourceMetrics, entry)
    return metrics


def _parsed(source: str) -> Source | None:
    """The source's parts, None for a name no installed generator explains."""
    try:
        return parse_source(source)
    except ValueError:
        return None


def _delta_entry(base: str, values: list[float], base_values: list[float]) -> dict:
    """``delta_vs_<base>``, its interval and ``verdict_vs_<base>``, paired by seed."""
    return delta_fields(f"delta_vs_{base}", f"delta_vs_{base}", paired_delta(values, base_values))


def _rare_class_entry(
    result: Mapping[str, Any], real: Mapping[str, Any], rare: list[int], class_names: list[str] | None, is_real: bool
) -> dict[str, Any]:
    """Test accuracy on the rare classes: their mean per seed (``rare_accuracy`` with interval,
    and its delta vs real), and each rare class's own accuracy with interval (``rare_per_class``)."""

    def rare_mean(res: Mapping[str, Any]) -> list[float]:
        return [sum(r["per_class_accuracy"][c] for c in rare) / len(rare) for r in res["runs"]]

    mean = summarize(rare_mean(result))
    entry: dict[str, Any] = {
        "rare_accuracy": mean["mean"],
        "rare_accuracy_ci_low": mean["ci_low"],
        "rare_accuracy_ci_high": mean["ci_high"],
    }
    if not is_real:
        entry.update(
            delta_fields("rare_delta_vs_real", "rare_delta_vs_real", paired_delta(rare_mean(result), rare_mean(real)))
        )
    per_class = {}
    for c in rare:
        s = summarize([r["per_class_accuracy"][c] for r in result["runs"]])
        name = class_names[c] if class_names else str(c)
        per_class[name] = {"accuracy": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]}
    entry["rare_per_class"] = per_class
    return entry


def _per_seed(result: Mapping[str, Any], key: str) -> list[float]:
    return [float(r[key]) for r in result["runs"]]


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `dvc repro` (stage {stage})")
    return json.loads(path.read_text())


def _budget_context(params: Params, pseudo: dict | None) -> dict[str, str]:
    """The report's setup lines about a label budget: the labels, the pool, how generators used it
    and what self-training kept (``pseudo``: the pseudo_label stage's record)."""
    d = params.data
    if not (d.labelled or d.unlabelled_root):
        return {}
    pool = f"{pseudo['pool_images']} images" if pseudo else "(not recorded)"
    context = {
        "label budget": (
            f"{d.labelled} labelled training images (class-balanced) and up to as many labelled validation images"
            if d.labelled
            else "every training image labelled"
        )
        + f"; unlabelled pool {pool}"
        + (f", with the images of {d.unlabelled_root}" if d.unlabelled_root else ""),
        "generators and the pool": {
            "native": "each learns from it in its own way, or from its pseudo-labels where it has none",
            "pseudo": "each learns from the labelled images and the pool's pseudo-labels",
            "none": "the labelled images alone (the pool is not used)",
        }[params.generators.unlabelled]
        + " (generators.unlabelled)",
    }
    if pseudo and "kept" in pseudo:
        teacher = pseudo.get("teacher_val_accuracy")
        context["self-training"] = (
            "a teacher (classical augmentation, the labelled images"
            + (f"; validation accuracy {teacher:.4f}" if teacher is not None else "")
            + f") labelled the pool; {pseudo['kept']} images reached P >= {params.classifier.pseudo.threshold:g}"
        )
    return context


def _bar_context(params: Params) -> dict[str, str]:
    """The report's setup lines about the classic bar, the filter and the rare classes."""
    a, f, imb = params.augmentation, params.sample.filter, params.data.imbalance
    context = {
        "classical augmentation": ", ".join(
            [
                f"rotation up to {a.degrees:g} degrees",
                f"shift up to {a.translate:g} of the side",
                f"zoom {a.scale_min:g}-{a.scale_max:g}",
            ]
            + ([f"erasing p={a.erasing:g} (up to {a.erasing_max_area:g} of the image)"] if a.erasing else [])
            + ([f"horizontal flip p={a.hflip:g}"] if a.hflip else [])
            + ([f"vertical flip p={a.vflip:g}"] if a.vflip else [])
        )
        + f"; {origin(params.data, a)}",
        "filtered sets": (
            f"kept when the filter network gives the intended class P >= {f.threshold:g}"
            + (
                f", lowered per class to what {f.real_pass:g} of its real validation images reach"
                if f.real_pass
                else ""
            )
        ),
        "restyle / transfer sets": (
            f"real training images redrawn through the encoder from z = mu + {params.sample.styled.noise:g} sigma eps"
            + (
                ", kept only when the filter network reads the class (as the filtered sets)"
                if params.sample.styled.filter
                else ""
            )
        ),
        "synthetic images per class": (
            "top-up: every class filled to the largest real class"
            if params.classifier.synthetic_mode == "top_up"
            else f"{params.classifier.synthetic_ratio:g} per real image, class-balanced"
        ),
    }
    if imb.classes:
        context["rare classes"] = (
            f"{', '.join(str(c) for c in imb.classes)}: {imb.keep:g} of their training images kept (data.imbalance)"
        )
    return context


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
            write_csv(
                staged.path(accuracy_csv),
                ["source", "accuracy", "ci_low", "ci_high", "delta_vs_real", "delta_vs_classic"],
                [
                    [
                        s,
                        m["accuracy"],
                        m["accuracy_ci_low"],
                        m["accuracy_ci_high"],
                        m.get("delta_vs_real", 0.0),
                        m.get("delta_vs_classic", ""),
                    ]
                    for s, m in metrics.items()
                ],
            )
            write_csv(
                staged.path(quality_csv),
                ["method", *QUALITY_KEYS],
                [[m, *(quality[m][k] for k in QUALITY_KEYS)] for m in methods],
            )

            staging = staged.folder(figures_out)
            accuracy_bars(metrics, staging / "accuracy.png")
            figures = {"accuracy": figures_out / "accuracy.png"}
            side_by_side(
                {n: sample_grid_file(params, n) for n in methods},
                staging / "samples.png",
                "Synthetic samples, one row per class",
            )
            side_by_side(
                {filtered_name(n): sample_grid_file(params, filtered_name(n)) for n in methods},
                staging / "samples_filtered.png",
                f"Filtered samples (filter P >= {params.sample.filter.threshold}), one row per class",
            )
            figures["samples_filtered"] = figures_out / "samples_filtered.png"
            styled = {
                styled_name(m, kind): sample_grid_file(params, styled_name(m, kind))
                for m in styled_methods(params)
                for kind in STYLED_KINDS
            }
            if styled:  # sample.styled.methods may be empty (no method with an encoder)
                side_by_side(
                    styled,
                    staging / "samples_styled.png",
                    f"Real training images redrawn (restyle: own class; transfer: from other classes; "
                    f"noise {params.sample.styled.noise:g}), one row per class",
                )
                figures["samples_styled"] = figures_out / "samples_styled.png"
            for name in methods:
                figures[figure_key("samples", name)] = sample_grid_file(params, name)
                loss_curves(
                    generator_report_dir(params, name) / "losses.csv",
                    f"{method_label(name)} training",
                    staging / f"training_{name}.png",
                )
                figures[figure_key("training", name)] = figures_out / f"training_{name}.png"
                for kind, file in (("stylisation", "stylize.png"), ("interpolation", "interpolate.png")):
                    if (stylize_dir(params, name) / file).is_file():
                        figures[figure_key(kind, name)] = stylize_dir(params, name) / file
            # Written last into the staging path next to the final one: its relative figure links
            # resolve from the report's folder, and the figures are in place once committed.
            write_report(
                metrics,
                quality,
                {k: str(v) for k, v in figures.items()},
                staged.path(report),
                context={
                    "dataset": params.data.dataset,
                    "train_size": results["real"]["runs"][0]["train_images"],
                    "seeds": params.classifier.seeds,
                    "classifier steps": params.classifier.steps,
                    "methods": ", ".join(methods),
                    **(
                        {
                            "warm starts": ", ".join(
                                f"{method_label(m)} from the trained {method_label(b)} (generators.{m}.init_from)"
                                for m, b in combinations.items()
                            )
                        }
                        if combinations
                        else {}
                    ),
                    "judge test accuracy": round(quality["real"]["judge_test_accuracy"], 4),
                    **_budget_context(params, pseudo),
                    **_bar_context(params),
                },
                combinations=combinations,
            )

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
        for path in (out, accuracy_csv, quality_csv, report):
            tracker.log_artifact(path)
        tracker.log_artifact(figures_out, "figures")
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
    print(f"compare: report -> {report}")


if __name__ == "__main__":
    sys.exit(run_stage("compare", compare))
