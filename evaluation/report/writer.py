"""The comparison report, ``reports/comparison.md``: setup, accuracy table with intervals and
verdicts, quality table, figures, and the explanation (evaluation/report/findings.py: every
sentence computed from the numbers; evaluation/report/bar.py: the sentences on the bar of
classical augmentation, filtering and the rare classes).

Inputs: ``metrics`` is the content of ``reports/metrics.json`` (pipelines/compare.py), ``quality``
maps each method to :func:`evaluation.quality.measures.method_quality`'s dict and ``"real"`` to
:func:`evaluation.quality.measures.real_reference`'s, ``figures`` maps figure keys (:data:`FIGURE_KINDS`)
to image paths.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augment.core.outputs import StagedOutputs
from augment.models import REGISTRY
from augment.params.config import GENERATOR_NAMES
from augment.params.sources import CLASSIC, REAL
from evaluation.quality.keys import QUALITY_METRICS, QualityMetric
from evaluation.quality.stats import HELPS, HURTS, NO_EFFECT
from evaluation.report.bar import delta_cells, rare_class_section
from evaluation.report.bar import points as _pp
from evaluation.report.findings import DECIMALS, effect_verdict, explain, fmt, method_label, methods_of, number
from evaluation.report.results import Metrics
from evaluation.report.summary import summary_lines

__all__ = [
    "FIGURE_KINDS",
    "figure_key",
    "accuracy_table",
    "quality_table",
    "figures_section",
    "render_report",
    "write_report",
]

# figures: "accuracy" (the bar plot) and "<kind>/<method>" for each kind below
FIGURE_KINDS = {
    "samples": "Samples, one row per class",
    "stylisation": "Stylisation: real images re-drawn as every class",
    "interpolation": "Interpolation between latent codes",
    "training": "Training curves",
}


def figure_key(kind: str, method: str) -> str:
    """The key of a method's figure in ``figures``: ``figure_key("samples", "cvae") ==
    "samples/cvae"``."""
    return f"{kind}/{method}"


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header))] + [_row(r) for r in rows]
    return "\n".join(lines)


def accuracy_table(metrics: Metrics) -> str:
    """Source | accuracy | its 95 % interval | delta vs real (points) with interval and verdict |
    the same against classical augmentation, when the run has the ``classic`` source."""
    header = ["Source", "Test accuracy", "95 % interval", "Δ vs real (points)", "Δ 95 % interval", "Verdict"]
    with_classic = any("delta_vs_classic" in m for m in metrics.values())
    if with_classic:
        header += ["Δ vs classic (points)", "Δ 95 % interval", "Verdict vs classic"]
    with_self_training = any("delta_vs_self_training" in m for m in metrics.values())
    if with_self_training:
        header += ["Δ vs self-training (points)", "Δ 95 % interval", "Verdict vs self-training"]
    rows = []
    for source in ([REAL] if REAL in metrics else []) + methods_of(metrics):
        m = metrics[source]
        row = [
            method_label(source),
            f"{m['accuracy']:.4f}",
            f"[{m['accuracy_ci_low']:.4f}, {m['accuracy_ci_high']:.4f}]",
        ]
        if "delta_ci_low" in m:
            row += [
                _pp(m["delta_vs_real"]),
                f"[{_pp(m['delta_ci_low'])}, {_pp(m['delta_ci_high'])}]",
                effect_verdict(m),
            ]
        else:
            row += ["(baseline)", "", ""]
        if with_classic:
            row += (
                delta_cells(m, "classic")
                if "delta_vs_classic" in m
                else ["(baseline)" if source == CLASSIC else "", "", ""]
            )
        if with_self_training:
            bar = next(m2.get("self_training_bar") for m2 in metrics.values() if "self_training_bar" in m2)
            row += (
                delta_cells(m, "self_training")
                if "delta_vs_self_training" in m
                else ["(the bar)" if source == bar else "", "", ""]
            )
        rows.append(row)
    return _table(header, rows)


def _pm(mean: Any, std: Any, decimals: int = DECIMALS) -> str:
    """'0.820 ± 0.021', or the mean alone without a std."""
    if number(mean) is None:
        return "n/a"
    return fmt(mean, decimals) + ("" if number(std) is None else f" ± {fmt(std, decimals)}")


def _quality_cell(metric: QualityMetric) -> Callable[[dict], str]:
    if metric.spread is not None:
        return lambda q: _pm(q.get(metric.key), q.get(metric.spread), metric.decimals)
    return lambda q: fmt(q.get(metric.key), metric.decimals)


# header, cell: one column per evaluation/quality/measures.py QUALITY_METRICS entry, then the set size
QUALITY_COLUMNS = [(m.label, _quality_cell(m)) for m in QUALITY_METRICS] + [("n", lambda q: fmt(q.get("n"), 0))]


def quality_table(quality: dict[str, dict], metrics: Metrics | None = None) -> str:
    """One row per method, then the held-out real reference. The reference's CAS is the real
    source's downstream accuracy (a classifier trained on real data, tested on the real test
    split), taken from ``metrics`` when the reference itself has none. A column that is n/a in
    every row (the colour numbers on grey images, q(y|x) without a pool) is left out."""
    rows = [[method_label(m)] + [cell(quality[m]) for _, cell in QUALITY_COLUMNS] for m in methods_of(quality)]
    if REAL in quality:
        ref = dict(quality[REAL])
        real = (metrics or {}).get(REAL, {})
        if number(ref.get("cas")) is None and number(real.get("accuracy")) is not None:
            ref["cas"], ref["cas_std"] = real["accuracy"], real.get("accuracy_std")
        rows.append(["held-out real (reference)"] + [cell(ref) for _, cell in QUALITY_COLUMNS])
    header = ["Method"] + [h for h, _ in QUALITY_COLUMNS]
    shown = [0] + [i for i in range(1, len(header)) if any(row[i] != "n/a" for row in rows)]
    return _table([header[i] for i in shown], [[row[i] for i in shown] for row in rows])


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _link(path: str | os.PathLike, out_dir: Path, alt: str) -> str:
    """A markdown image whose target is ``path`` relative to the report's folder."""
    rel = Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()
    target = f"<{rel}>" if " " in rel else rel
    return f"![{alt}]({target})"


def _can_encode(name: str, quality: dict[str, dict]) -> bool:
    """From the model registry; for a name it does not know, whether a reconstruction was measured."""
    if name in REGISTRY:
        return bool(REGISTRY[name].can_encode)
    return number(quality.get(name, {}).get("reconstruction_error")) is not None


def _method_figures(name: str, figures: dict[str, str], quality: dict[str, dict], out_dir: Path) -> list[str]:
    """The subsection of one method: one line per figure kind, or why it is absent."""
    label = method_label(name)
    lines = [f"### {label}", ""]
    for kind, caption in FIGURE_KINDS.items():
        path = figures.get(figure_key(kind, name))
        if kind == "stylisation" and not _can_encode(name, quality):
            lines.append(
                f"Stylisation does not apply to {label}: it has no encoder, so it cannot "
                "take the style of a real image."
            )
        elif path is None:
            lines.append(f"_{caption} — no figure was produced._")
        else:
            lines.append(f"**{caption}**\n\n{_link(path, out_dir, f'{label}: {caption.lower()}')}")
        lines.append("")
    return lines


def figures_section(figures: dict[str, str], methods: list[str], quality: dict[str, dict], out_dir: Path) -> str:
    """Accuracy bars, then each method's figures, then any other figure passed in (by its key)."""
    lines = ["## Figures", ""]
    if "accuracy" in figures:
        alt = "Test accuracy per source with 95 % intervals"
        lines += [_link(figures["accuracy"], out_dir, alt), ""]
    for name in methods:
        lines += _method_figures(name, figures, quality, out_dir)
    used = {"accuracy"} | {figure_key(k, m) for k in FIGURE_KINDS for m in methods}
    for key in sorted(set(figures) - used):
        lines += [f"**{key}**", "", _link(figures[key], out_dir, key), ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def _setup(context: dict[str, Any], metrics: Metrics) -> str:
    """'Setup: dataset digits, 1294 real training images, classifier seeds 0, 1, 2.' plus a bullet
    for every other context item."""
    seeds = context.get("seeds", metrics.get(REAL, {}).get("seeds"))
    seeds_text = ", ".join(str(s) for s in seeds) if seeds else "not given"
    line = (
        f"**Setup:** dataset `{context.get('dataset', 'not given')}`, "
        f"{context.get('train_size', 'an unstated number of')} real training images, "
        f"classifier seeds {seeds_text}."
    )
    extra = [f"- {k}: {v}" for k, v in context.items() if k not in ("dataset", "train_size", "seeds")]
    return "\n".join([line, ""] + extra) if extra else line


RULES = (
    f"Rules: a method {HELPS} only when the 95 % interval of its per-seed accuracy delta lies "
    f"entirely above 0, {HURTS} when it lies entirely below 0, and otherwise has {NO_EFFECT}. "
    "Sharpest = highest sharpness ratio; most diverse = highest coverage; most label-faithful = "
    "highest label fidelity; closest to real = lowest FID; values equal at the "
    f"{DECIMALS} decimals shown are ties."
)

QUALITY_NOTE = (
    "Feature metrics (FID, KID, precision, recall, density, coverage, diversity, label fidelity) "
    "use the judge network, a classifier trained on the real training split only, separate from "
    "the downstream classifier; they are computed on n class-balanced synthetic and real test "
    "images. CAS trains the downstream classifier on synthetic images alone and tests it on the "
    "real test split (mean ± std over seeds). Diversity and sharpness ratios are relative to the "
    "real test images (1 = like real data). The reference row compares the real validation split "
    "with the real test split: what real data scores against real data, the level a perfect "
    "generator would reach; its n is smaller, which biases its FID upward (KID is unbiased); its "
    "CAS is the accuracy of the downstream classifier trained on real data."
)


def render_report(
    metrics: Metrics,
    quality: dict[str, dict],
    figures: dict[str, str],
    out_dir: str | os.PathLike,
    context: dict[str, Any] | None = None,
    combinations: dict[str, str] | None = None,
) -> str:
    """The markdown text of the report: the summary (evaluation/report/summary.py; ``combinations``:
    combined method -> the method it started from), the setup, the tables, the figures, and every
    finding as an appendix. Figure links are relative to ``out_dir``."""
    methods = [m for m in GENERATOR_NAMES if m in metrics or m in quality]
    methods += sorted(set(methods_of(quality)) - set(methods))
    parts = [
        "# Synthetic data as augmentation: comparison",
        "",
        "## Summary",
        "",
        *[f"- {line}" for line in summary_lines(metrics, quality, combinations)],
        "",
        _setup(context or {}, metrics),
        "",
        "## Downstream accuracy",
        "",
        accuracy_table(metrics),
        "",
        RULES,
        "",
        *rare_class_section(metrics),
        "## Quality of the synthetic data",
        "",
        quality_table(quality, metrics),
        "",
        QUALITY_NOTE,
        "",
        figures_section(figures, methods, quality, Path(out_dir)),
        "## Appendix: every finding, one sentence each",
        "",
        *[f"- {s}" for s in explain(metrics, quality, combinations)],
    ]
    return "\n".join(parts).rstrip() + "\n"


def write_report(
    metrics: Metrics,
    quality: dict[str, dict],
    figures: dict[str, str],
    out_path: str | os.PathLike,
    context: dict[str, Any] | None = None,
    combinations: dict[str, str] | None = None,
) -> str:
    """Write :func:`render_report` to ``out_path`` (e.g. ``reports/comparison.md``) atomically
    and return the markdown text."""
    out_path = Path(out_path)
    text = render_report(metrics, quality, figures, out_path.parent, context, combinations)
    with StagedOutputs() as staged:
        staged.path(out_path).write_text(text, encoding="utf-8")
    return text
