"""The regime map's figure: each cell's difference to classical augmentation, with its interval.

One panel per real training size; along x the map's columns (each synthetic ratio, then the
longer-training column); in each column one marker per source other than classic, at its paired
difference to classic in accuracy points over the seeds, with the 95 % interval as an error bar
(evaluation/regime_map/cells.py). The zero line is classic; a bar wholly above it is a cell where the
source beats classical augmentation. ``real`` (no augmentation at all) is drawn too: how far below
zero it sits is what classical augmentation itself is worth in that cell. Colours come from
evaluation/report/figures.py, as in every other figure of a run; each source also has its own marker.

matplotlib runs with the non-interactive Agg backend: the command draws to files, no screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from augment.params.sources import CLASSIC, source_label  # noqa: E402
from evaluation.data_size.points import DataSizeError  # noqa: E402
from evaluation.regime_map.cells import Entry, column_label  # noqa: E402
from evaluation.report.figures import source_style  # noqa: E402

# One marker per source of a panel: the map's sources often share a method, hence a colour.
MARKERS = ("D", "o", "s", "^", "v", "P", "X", "*")


def plot_regime_map(rows: Sequence[Entry], path: str | Path, base_steps: int | None = None) -> Path:
    """Delta vs classic (points, 95 % interval) per cell and source, one panel per size."""
    drawn = [e for e in rows if e.source != CLASSIC and e.delta_vs_classic is not None]
    if not drawn:
        raise DataSizeError("nothing to draw: no cell has a source with a difference to classic")
    sizes = sorted({e.real_train_images for e in drawn})
    sources = list(dict.fromkeys(e.source for e in drawn))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.8 * len(sizes) + 1.0, 4.4), sharey=True, squeeze=False)
    width = 0.7 / max(1, len(sources))
    for ax, size in zip(axes[0], sizes, strict=True):
        here = [e for e in drawn if e.real_train_images == size]
        columns = list(
            dict.fromkeys(column_label(e, base_steps) for e in sorted(here, key=lambda e: (e.long, e.ratio)))
        )
        for j, source in enumerate(sources):
            style = source_style(source)
            xs, ys, low, high = [], [], [], []
            for e in here:
                if e.source != source:
                    continue
                xs.append(columns.index(column_label(e, base_steps)) + (j - (len(sources) - 1) / 2) * width)
                delta = 100 * (e.delta_vs_classic or 0.0)
                ys.append(delta)
                low.append(delta - 100 * (e.ci_low if e.ci_low is not None else e.delta_vs_classic or 0.0))
                high.append(100 * (e.ci_high if e.ci_high is not None else e.delta_vs_classic or 0.0) - delta)
            if xs:  # yerr: distances below and above the marker
                ax.errorbar(
                    xs,
                    ys,
                    yerr=[low, high],
                    fmt=MARKERS[j % len(MARKERS)],
                    color=style["color"],
                    capsize=3,
                    markersize=4,
                    label=source_label(source),
                )
        ax.axhline(0.0, color="0.3", linestyle=":", linewidth=1.0)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels(columns, fontsize=8, rotation=15)
        ax.set_title(f"{size} real training images", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("accuracy minus classic's (points, 95% CI)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(2, len(labels)), frameon=False)
    fig.suptitle("Where synthetic data could pay: difference to classical augmentation per cell", fontsize=11)
    fig.tight_layout(rect=(0, 0.14, 1, 0.95))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
