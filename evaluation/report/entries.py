"""metrics.json's entries: one :class:`~evaluation.report.results.SourceMetrics` per source.

Each source's test accuracy over the classifier seeds with its 95 % interval, and every delta a
reader asks of it, paired by seed: against real data, against classical augmentation, against
the stronger self-training source of a label budget, a filtered set against its plain one; the
rare classes' accuracy; a method's own quality numbers. The verdicts are computed here, once
(evaluation/quality/stats.py); the report and the summary read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from augment.params.sources import BASELINES, CLASSIC, REAL, SELF_TRAINING, Source, order_sources, parse_source
from augment.sampling.restyle import STYLED_KINDS
from evaluation.quality.keys import QUALITY_KEYS
from evaluation.quality.stats import delta_fields, paired_delta, summarize
from evaluation.report.results import ClassifierResult, Metrics, SourceMetrics

__all__ = ["HEADLINE_KEYS", "comparison", "headline"]

# What a source's DVC metrics file holds: numbers a person compares across runs, no per-seed
# lists, no verdict strings (metrics.json keeps those; a verdict is the sign of an interval).
HEADLINE_KEYS = (
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "delta_vs_real",
    "delta_ci_low",
    "delta_ci_high",
    "delta_vs_classic",
    "delta_vs_classic_ci_low",
    "delta_vs_classic_ci_high",
    "delta_vs_self_training",
    "delta_vs_self_training_ci_low",
    "delta_vs_self_training_ci_high",
    "macro_f1",
    "real_train_images",
)


def headline(entry: SourceMetrics) -> dict[str, float]:
    """A source's headline numbers: the :data:`HEADLINE_KEYS` its entry has, in that order."""
    values = cast(Mapping[str, Any], entry)
    return {k: values[k] for k in HEADLINE_KEYS if isinstance(values.get(k), (int, float))}


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
