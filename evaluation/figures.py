"""Pictures of the results: confusion matrices, accuracy bars with intervals, grids side by side.

matplotlib runs with the non-interactive Agg backend: the pipeline draws to files, no screen.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


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
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > threshold else "black")
    return _save(fig, path)


def accuracy_bars(summaries: dict[str, dict], path: str | Path, title: str = "Test accuracy") -> Path:
    """One bar per source: the mean over seeds, with the 95 % confidence interval as error bar
    and every seed's value as a dot."""
    names = list(summaries)
    means = np.array([summaries[n]["accuracy"] for n in names])
    low = means - np.array([summaries[n]["ci_low"] for n in names])
    high = np.array([summaries[n]["ci_high"] for n in names]) - means
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.6))
    colors = ["#888888"] + ["#4C72B0", "#DD8452", "#55A868", "#C44E52"][: len(names) - 1]
    ax.bar(names, means, yerr=[low, high], capsize=6, color=colors)
    for i, n in enumerate(names):
        seeds = summaries[n]["per_seed"]
        ax.scatter([i] * len(seeds), seeds, color="black", s=10, zorder=3)
    lo = min(min(summaries[n]["per_seed"]) for n in names)
    ax.set_ylim(max(0.0, lo - 0.05), min(1.0, max(means + high) + 0.02))
    ax.set_ylabel("accuracy on the real test split")
    ax.set_title(f"{title} (mean, 95% CI, dots: seeds)")
    return _save(fig, path)


def side_by_side(images: dict[str, str | Path], path: str | Path, title: str = "") -> Path:
    """Existing PNG grids next to each other, each titled with its name."""
    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 4))
    axes = np.atleast_1d(axes)
    for ax, (name, file) in zip(axes, images.items()):
        ax.imshow(Image.open(file))
        ax.set_title(name)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def loss_curves(csv_path: str | Path, title: str, path: str | Path) -> Path:
    """A generator's per-epoch mean losses (the training loop's losses.csv), one line per loss."""
    import csv

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
