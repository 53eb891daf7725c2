"""Pictures of the results: confusion matrices, accuracy bars with intervals, grids side by side.

matplotlib runs with the non-interactive Agg backend: the pipeline draws to files, no screen.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from augment.models import REGISTRY  # noqa: E402
from augment.params.sources import CLASSIC, REAL, RESTYLE, SOURCES, TRANSFER, parse_source  # noqa: E402


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def confusion_figure(matrix: list[list[int]], classes: list[str], title: str, path: str | Path) -> Path:
    """A K x K confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    m = np.asarray(matrix)
    k = len(classes)
    fig, ax = plt.subplots(figsize=(0.45 * k + 2.5, 0.45 * k + 2))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=90 if max(len(c) for c in classes) > 2 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = m.max() / 2 if m.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if m[i, j] > threshold else "black",
            )
    return _save(fig, path)


# Every colour of the figures (here and in evaluation/data_size/figure.py): one per registered
# generator, in the registry's order (built-ins, then plugins), kept by its combined and filtered
# sources; greys for the baselines; the palette's last colour for a name outside SOURCES.
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3", "#CCB974", "#64B5CD", "#C44E52")
OTHER_COLOR = PALETTE[-1]
BASELINE_COLORS = {REAL: "#888888", CLASSIC: "#555555"}


def method_color(method: str) -> str:
    """A generator's colour: the palette by its place in the registry (a plugin's as a built-in's);
    OTHER_COLOR for a name the registry does not hold."""
    names = [m for m in REGISTRY]
    return PALETTE[names.index(method) % (len(PALETTE) - 1)] if method in names else OTHER_COLOR


_VARIANT_HATCHES = {RESTYLE: "..", TRANSFER: "xx"}


def source_style(name: str) -> dict:
    """Bar style of a source: its method's colour (baselines grey), hatched when it adds
    classical augmentation, dotted when restyled, crossed when transferred, paler when filtered."""
    if name in BASELINE_COLORS:
        return {"color": BASELINE_COLORS[name], "hatch": "//" if name == CLASSIC else None, "alpha": 1.0}
    if name not in SOURCES:
        return {"color": OTHER_COLOR, "hatch": None, "alpha": 1.0}
    s = parse_source(name)
    hatch = ("//" if s.classic else "") + _VARIANT_HATCHES.get(s.variant or "", "")
    return {
        "color": method_color(s.method or ""),
        "hatch": hatch or None,
        "alpha": 0.55 if s.filtered else 1.0,
    }


def accuracy_bars(summaries: Mapping[str, Mapping[str, Any]], path: str | Path, title: str = "Test accuracy") -> Path:
    """One horizontal bar per source, in the order given: the mean over seeds, with the 95 %
    confidence interval as error bar and every seed's value as a dot; dotted lines mark the
    ``real`` and ``classic`` means, the two bars every other source is measured against.

    ``summaries`` maps each source to its reports/metrics.json entry (``accuracy``,
    ``accuracy_ci_low``, ``accuracy_ci_high``, ``accuracy_per_seed``)."""
    names = list(summaries)
    means = np.array([summaries[n]["accuracy"] for n in names])
    low = means - np.array([summaries[n]["accuracy_ci_low"] for n in names])
    high = np.array([summaries[n]["accuracy_ci_high"] for n in names]) - means
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(names) + 1.4))
    y = np.arange(len(names))[::-1]  # first source on top
    for i, n in enumerate(names):
        style = source_style(n)
        ax.barh(
            y[i],
            means[i],
            xerr=[[low[i]], [high[i]]],
            capsize=4,
            color=style["color"],
            alpha=style["alpha"],
            hatch=style["hatch"],
            edgecolor="white",
        )
        seeds = summaries[n]["accuracy_per_seed"]
        ax.scatter(seeds, [y[i]] * len(seeds), color="black", s=10, zorder=3)
    for ref in (REAL, CLASSIC):
        if ref in summaries:
            ax.axvline(summaries[ref]["accuracy"], color=BASELINE_COLORS[ref], linestyle=":", linewidth=1)
    ax.set_yticks(y, names)
    lo = min(min(summaries[n]["accuracy_per_seed"]) for n in names)
    ax.set_xlim(max(0.0, lo - 0.03), min(1.0, max(means + high) + 0.01))
    ax.set_xlabel("accuracy on the real test split")
    ax.set_title(f"{title} (mean, 95% CI, dots: seeds)")
    return _save(fig, path)


def side_by_side(images: Mapping[str, str | Path], path: str | Path, title: str = "") -> Path:
    """Existing PNG grids next to each other, each titled with its name."""
    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 4))
    axes = np.atleast_1d(axes)
    for ax, (name, file) in zip(axes, images.items(), strict=True):
        ax.imshow(Image.open(file))
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def loss_curves(csv_path: str | Path, title: str, path: str | Path) -> Path:
    """A generator's per-epoch mean losses (the training loop's losses.csv), one line per loss."""
    with Path(csv_path).open(newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in rows[0]:
        if key != "epoch":
            ax.plot(epochs, [float(r[key]) for r in rows], marker=".", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)
