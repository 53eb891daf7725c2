"""The report's findings about the bar synthetic data has to clear: classical augmentation, the
filtered sets and the rare classes. Each sentence is computed from ``reports/metrics.json``'s
numbers (pipelines/compare.py), with the words of :func:`evaluation.quality.stats.verdict`:

- a source "helps beyond classical augmentation" only when the 95 % interval of its paired delta
  against ``classic`` lies entirely above 0; below 0 it "does worse than classical augmentation";
- filtering "helps" / "hurts" a method only by the interval of ``<method>-filtered`` minus
  ``<method>``;
- with a label budget, a source beats self-training only by the interval of its delta against the
  stronger self-training source (``pseudo`` / ``classic+pseudo``): a generator that beats
  ``classic`` but not self-training is not worth its cost, and the report says so;
- with ``data.imbalance``, the rare classes' test accuracy is shown per source with intervals,
  next to macro-F1, and a source helps the rare classes only by the interval of its delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from augment.params.sources import REAL, order_sources, parse_source, source_label
from evaluation.quality.stats import HELPS, HURTS, NO_EFFECT, verdict_key
from evaluation.report.results import Metrics, SourceMetrics

__all__ = [
    "delta_cells",
    "beyond_classic_sentences",
    "self_training_sentences",
    "filter_sentences",
    "rare_class_section",
    "capitalized",
    "interval_verdict",
    "one_seed",
    "points",
    "PP_DECIMALS",
]

PP_DECIMALS = 2  # accuracy deltas: percentage points, this many decimals (here and in evaluation/report/writer.py)


def capitalized(text: str) -> str:
    """``text`` with its first letter upper-cased, for a label that starts a sentence."""
    return text[:1].upper() + text[1:]


def points(value: float) -> str:
    """A fraction as signed percentage points: 0.0123 -> '+1.23'."""
    return f"{100 * value:+.{PP_DECIMALS}f}"


def _ordered(metrics: Metrics) -> list[str]:
    return order_sources(metrics)


def one_seed(entry: SourceMetrics) -> bool:
    """True when the entry was measured on a single seed (its interval is undefined)."""
    seeds = entry.get("accuracy_per_seed", entry.get("seeds"))
    return seeds is not None and len(seeds) < 2


def interval_verdict(entry: SourceMetrics, prefix: str) -> str:
    """The verdict pipelines/compare.py stored for the interval ``<prefix>_ci_low`` /
    ``<prefix>_ci_high`` of a metrics.json entry (:func:`evaluation.quality.stats.delta_fields`): computed
    once there, never recomputed here."""
    return fields(entry)[verdict_key(prefix)]


def fields(entry: SourceMetrics) -> Mapping[str, Any]:
    """The entry read by computed key names (``delta_vs_<base>_ci_low``), which a TypedDict cannot type."""
    return cast(Mapping[str, Any], entry)


def interval(entry: SourceMetrics, prefix: str) -> str:
    """'[+0.50, +1.96]': the 95 % interval ``<prefix>_ci_low`` / ``_ci_high`` in points."""
    return f"[{points(fields(entry)[f'{prefix}_ci_low'])}, {points(fields(entry)[f'{prefix}_ci_high'])}]"


def delta_cells(entry: SourceMetrics, base: str) -> list[str]:
    """Table cells for ``delta_vs_<base>``: points, 95 % interval, verdict."""
    prefix = f"delta_vs_{base}"
    return [points(fields(entry)[prefix]), interval(entry, prefix), interval_verdict(entry, prefix)]


def beyond_classic_sentences(metrics: Metrics) -> list[str]:
    """One sentence per source measured against ``classic``."""
    return _against(
        metrics,
        "classic",
        "against classical augmentation alone",
        f"{HELPS} beyond classical augmentation",
        "does worse than classical augmentation",
        "does not beat classical augmentation measurably",
    )


def _against(metrics: Metrics, base: str, against: str, helps: str, hurts: str, neither: str) -> list[str]:
    """One sentence per source that carries ``delta_vs_<base>``: its verdict's words (``helps``,
    ``hurts``, ``neither``), the delta in points ``against`` the bar, and its 95 % interval."""
    prefix = f"delta_vs_{base}"
    out = []
    for source in _ordered(metrics):
        m = metrics[source]
        if prefix not in m:
            continue
        word = interval_verdict(m, prefix)
        numbers = f"{points(fields(m)[prefix])} points {against}, 95 % interval {interval(m, prefix)}"
        label = capitalized(source_label(source))
        if word == HELPS:
            out.append(f"{label} {helps}: {numbers}, entirely above 0.")
        elif word == HURTS:
            out.append(f"{label} {hurts}: {numbers}, entirely below 0.")
        else:
            out.append(f"{label} {neither}: {numbers}.")
    return out


def self_training_sentences(metrics: Metrics) -> list[str]:
    """With a label budget: one sentence per source measured against the stronger self-training
    source, then the verdict on the generators: whether any beats that bar."""
    measured = [s for s in _ordered(metrics) if "delta_vs_self_training" in metrics[s]]
    if not measured:
        return []
    bar = source_label(metrics[measured[0]]["self_training_bar"])
    out = _against(
        metrics,
        "self_training",
        f"against {bar}",
        f"beats {bar}, the stronger self-training bar",
        f"does worse than {bar}",
        f"does not beat {bar} measurably",
    )
    winners = [s for s in measured if interval_verdict(metrics[s], "delta_vs_self_training") == HELPS]
    if winners:
        out.append(f"With this label budget, {', '.join(source_label(s) for s in winners)} beat self-training.")
    else:
        beat_classic = [s for s in measured if interval_verdict(metrics[s], "delta_vs_classic") == HELPS]
        tail = (
            f" ({', '.join(source_label(s) for s in beat_classic)} beat classical augmentation, but not "
            "self-training: not worth a generator's cost here)"
            if beat_classic
            else ""
        )
        out.append(f"With this label budget, no source beats self-training ({bar}){tail}.")
    return out


def filter_sentences(metrics: Metrics) -> list[str]:
    """One sentence per filtered set: how filtering changed the method's accuracy."""
    out = []
    for source in _ordered(metrics):
        m = metrics[source]
        if "delta_vs_unfiltered" not in m:
            continue
        method = parse_source(source).method or source  # a filtered source always names its method
        rate = m.get("acceptance_rate")
        kept = f" (the filter accepted {100 * rate:.1f} % of the candidates)" if rate is not None else ""
        numbers = (
            f"{points(m['delta_vs_unfiltered'])} points against its unfiltered images, 95 % interval "
            f"{interval(m, 'delta_vs_unfiltered')}"
        )
        word = interval_verdict(m, "delta_vs_unfiltered")
        effect = {HELPS: HELPS, HURTS: HURTS}.get(word, f"has {NO_EFFECT}")
        out.append(f"Filtering {source_label(method)}'s images{kept} {effect}: {numbers}.")
    return out


def _cell(mean: float, low: float, high: float) -> str:
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def rare_class_section(metrics: Metrics) -> list[str]:
    """Markdown lines: per source, each rare class's test accuracy and their mean with 95 %
    intervals, macro-F1 with its interval, and the sentences of the sources that help or hurt the
    rare classes. Empty when the run has no rare classes (``data.imbalance.classes`` empty)."""
    sources = [s for s in _ordered(metrics) if "rare_accuracy" in metrics[s]]
    if not sources:
        return []
    classes = list(metrics[sources[0]]["rare_per_class"])
    header = ["Source", *[f"class {c}" for c in classes], "rare classes (mean)", "Δ vs real (points)", "macro-F1"]
    lines = [
        "## Rare classes",
        "",
        f"Test accuracy on the classes that `data.imbalance` thinned ({', '.join(classes)}), mean "
        "over seeds with its 95 % interval, and macro-F1 over all classes.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for source in sources:
        m = metrics[source]
        row = [source_label(source)]
        row += [_cell(v["accuracy"], v["ci_low"], v["ci_high"]) for v in m["rare_per_class"].values()]
        row.append(_cell(m["rare_accuracy"], m["rare_accuracy_ci_low"], m["rare_accuracy_ci_high"]))
        row.append(
            f"{points(m['rare_delta_vs_real'])} {interval(m, 'rare_delta_vs_real')}"
            if "rare_delta_vs_real" in m
            else "(baseline)"
        )
        row.append(
            _cell(m["macro_f1"], m.get("macro_f1_ci_low", m["macro_f1"]), m.get("macro_f1_ci_high", m["macro_f1"]))
        )
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    helping = [s for s in sources if s != REAL and interval_verdict(metrics[s], "rare_delta_vs_real") == HELPS]
    hurting = [s for s in sources if s != REAL and interval_verdict(metrics[s], "rare_delta_vs_real") == HURTS]
    if helping:
        lines.append(
            "Sources that help the rare classes (interval of the delta above 0): "
            + ", ".join(f"{source_label(s)} ({points(metrics[s]['rare_delta_vs_real'])})" for s in helping)
            + "."
        )
    else:
        lines.append(f"No source {HELPS} the rare classes measurably in this run.")
    if hurting:
        lines.append("")
        lines.append(
            "Sources that hurt them: "
            + ", ".join(f"{source_label(s)} ({points(metrics[s]['rare_delta_vs_real'])})" for s in hurting)
            + "."
        )
    return lines + [""]
