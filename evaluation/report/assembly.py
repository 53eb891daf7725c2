"""The compare stage's files, written together: metrics.json, the two plot CSVs, the figures and
comparison.md.

Everything goes through the caller's :class:`~augment.core.outputs.StagedOutputs`, so the files
land together or not at all. No method is named here: the figures are drawn for every method of
``generators.methods``, a plugin's as a built-in's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augment.core.outputs import StagedOutputs, write_csv
from augment.params.config import Params
from augment.params.methods import styled_methods
from augment.params.sources import filtered_name, styled_name
from augment.sampling.restyle import STYLED_KINDS
from augment.settings.paths import (
    comparison_report,
    figures_dir,
    generator_report_dir,
    headline_dir,
    metrics_file,
    sample_grid_file,
    stylize_dir,
)
from evaluation.quality.keys import QUALITY_KEYS
from evaluation.report.entries import headline
from evaluation.report.figures import accuracy_bars, loss_curves, side_by_side
from evaluation.report.findings import method_label
from evaluation.report.results import Metrics
from evaluation.report.writer import figure_key, write_report

__all__ = ["Written", "write_comparison"]


@dataclass(frozen=True)
class Written:
    """Where the files went (their final paths)."""

    metrics: Path
    headlines: Path
    accuracy_csv: Path
    quality_csv: Path
    figures: Path
    report: Path


def write_comparison(
    staged: StagedOutputs,
    params: Params,
    metrics: Metrics,
    quality: dict[str, dict],
    methods: Sequence[str],
    combinations: Mapping[str, str],
    context: Mapping[str, Any],
) -> Written:
    """Stage every file of the comparison: metrics.json, one headline file per source (DVC
    metrics), ``accuracy.csv`` and ``quality.csv`` (DVC plots), the figures folder and
    comparison.md (with ``context`` as its setup lines)."""
    out = metrics_file(params)
    accuracy_csv, quality_csv = out.with_name("accuracy.csv"), out.with_name("quality.csv")
    figures_out = figures_dir(params)
    report = comparison_report(params)
    staged.path(out).write_text(json.dumps(metrics, indent=2))
    headlines = headline_dir(params)
    folder = staged.folder(headlines)
    for source, entry in metrics.items():
        (folder / f"{source}.json").write_text(json.dumps(headline(entry), indent=2))
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
        context=dict(context),
        combinations=dict(combinations),
    )
    return Written(out, headlines, accuracy_csv, quality_csv, figures_out, report)
