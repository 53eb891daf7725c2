"""The report's summary: the few lines a person reads first, each computed from the run's numbers.

At most ten lines, in this order: the best source; what the run can resolve (classical
augmentation against real data, and the interval width: the smallest effect it can detect);
whether any generator source beats classical augmentation (and, with a label budget, the
stronger self-training bar); the best generator on each quality axis; and for each combined
model — one whose training starts from another generator's checkpoint, the CVAE-GAN from the
CVAE as the method was presented — whether the combination beats the model it started from.
Nothing here names a built-in model: a plugin's generator is summarised as a built-in is.

The summary heads comparison.md and is the MLflow parent run's description (pipelines/compare.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from augment.params.sources import BASELINES, CLASSIC, REAL, SELF_TRAINING, source_label
from evaluation.quality.stats import HELPS, HURTS, paired_delta, verdict
from evaluation.report.bar import fields, interval, interval_verdict, points
from evaluation.report.results import Metrics, SourceMetrics

MAX_LINES = 10
# the quality axes of the summary: key, how it is written, higher is better
AXES = (
    ("label_fidelity", "label fidelity", True),
    ("recall", "recall", True),
    ("coverage", "coverage", True),
    ("fid", "FID (judge features)", False),
    ("cas", "CAS", True),
)


def _delta(entry: SourceMetrics, prefix: str) -> str:
    """'+1.23 [+0.50, +1.96] points' of the delta stored under ``prefix`` (bar.py's cells)."""
    value = fields(entry)["delta_vs_real" if prefix == "delta" else prefix]
    return f"{points(value)} {interval(entry, prefix)} points"


def _generator_sources(metrics: Metrics) -> list[str]:
    """Every source with synthetic images: not the baselines, not self-training."""
    return [s for s in metrics if s not in BASELINES and s not in SELF_TRAINING]


def best_source_line(metrics: Metrics) -> str:
    best = max(metrics, key=lambda s: metrics[s]["accuracy"])
    e = metrics[best]
    return (
        f"Best source: {source_label(best)}, test accuracy {e['accuracy']:.4f} "
        f"[{e['accuracy_ci_low']:.4f}, {e['accuracy_ci_high']:.4f}] over {len(e.get('seeds', []))} seeds."
    )


def resolution_line(metrics: Metrics) -> str | None:
    """Classic against real, and the typical half-width of the deltas against classic: an effect
    smaller than it cannot be told from zero in this run."""
    classic = metrics.get(CLASSIC)
    if classic is None or "delta_ci_low" not in classic:
        return None
    widths = [
        (e["delta_vs_classic_ci_high"] - e["delta_vs_classic_ci_low"]) / 2
        for e in metrics.values()
        if "delta_vs_classic_ci_low" in e
    ]
    tail = ""
    if widths:
        widths.sort()
        half = 100 * widths[len(widths) // 2]
        tail = f"; the deltas against it are ± {half:.2f} points wide (median): about the smallest effect this run can detect"
    return f"Classical augmentation against real data: {_delta(classic, 'delta')} ({classic['verdict']}){tail}."


def _against(metrics: Metrics, prefix: str, bar: str) -> str | None:
    sources = [s for s in _generator_sources(metrics) if prefix in metrics[s]]
    if not sources:
        return None
    winners = [s for s in sources if interval_verdict(metrics[s], prefix) == HELPS]
    top = max(winners or sources, key=lambda s: fields(metrics[s])[prefix])
    if winners:
        return (
            f"{len(winners)} of {len(sources)} generator sources beat {bar}; the most: "
            f"{source_label(top)}, {_delta(metrics[top], prefix)}."
        )
    hurt = sum(interval_verdict(metrics[s], prefix) == HURTS for s in sources)
    return (
        f"No generator source beats {bar} measurably ({hurt} of {len(sources)} do worse); the closest: "
        f"{source_label(top)}, {_delta(metrics[top], prefix)}."
    )


def versus_classic_line(metrics: Metrics) -> str | None:
    return _against(metrics, "delta_vs_classic", "classical augmentation")


def versus_self_training_line(metrics: Metrics) -> str | None:
    bars = {e.get("self_training_bar") for e in metrics.values()} - {None}
    if not bars:
        return None
    bar = f"self-training ({source_label(str(next(iter(bars))))}, the stronger bar)"
    return _against(metrics, "delta_vs_self_training", bar)


def quality_line(quality: dict[str, dict]) -> str | None:
    """The best generator on each axis, in the judge's space."""
    methods = [m for m in quality if m != REAL]
    parts = []
    for key, label, higher in AXES:
        values = {m: float(quality[m][key]) for m in methods if isinstance(quality[m].get(key), (int, float))}
        if values:
            best = (max if higher else min)(values, key=lambda m: values[m])
            parts.append(f"{label} {source_label(best)} ({values[best]:.3f})")
    return "Best generator on each quality axis: " + "; ".join(parts) + "." if parts else None


def _paired(metrics: Metrics, a: str, b: str) -> str | None:
    """'X vs Y: +1.23 [+0.50, +1.96] points (helps)', paired by seed; None without both."""
    if a not in metrics or b not in metrics:
        return None
    x, y = metrics[a].get("accuracy_per_seed"), metrics[b].get("accuracy_per_seed")
    if not x or not y or len(x) != len(y):
        return None
    d = paired_delta(x, y)
    word = verdict(d)
    return (
        f"{source_label(a)} against {source_label(b)}: {points(d['mean'])} "
        f"[{points(d['ci_low'])}, {points(d['ci_high'])}] points ({word})"
    )


def combination_line(metrics: Metrics, quality: dict[str, dict], combined: str, base: str) -> str | None:
    """Is the combination best? The combined model against the one it started from: as a source
    (alone and with classical augmentation, paired by seed) and on CAS and recall."""
    parts = [
        p
        for p in (_paired(metrics, combined, base), _paired(metrics, f"{CLASSIC}+{combined}", f"{CLASSIC}+{base}"))
        if p
    ]
    q, r = quality.get(combined, {}), quality.get(base, {})
    for key, label in (("cas", "CAS"), ("recall", "recall")):
        if isinstance(q.get(key), (int, float)) and isinstance(r.get(key), (int, float)):
            parts.append(f"{label} {q[key]:.3f} vs {r[key]:.3f}")
    if not parts:
        return None
    return (
        f"Is the combination best? {source_label(combined)} (started from {source_label(base)}): "
        + "; ".join(parts)
        + "."
    )


def summary_lines(
    metrics: Metrics, quality: dict[str, dict], combinations: Mapping[str, str] | None = None
) -> list[str]:
    """The summary (module docstring), at most :data:`MAX_LINES` lines. ``combinations``: combined
    method -> the method whose checkpoint its training starts from (pipelines/compare.py reads it
    from the params: a generator config's ``init_from``)."""
    lines = [best_source_line(metrics), resolution_line(metrics), versus_classic_line(metrics)]
    lines += [versus_self_training_line(metrics), quality_line(quality)]
    for combined, base in (combinations or {}).items():
        lines.append(combination_line(metrics, quality, combined, base))
    return [line for line in lines if line][:MAX_LINES]
