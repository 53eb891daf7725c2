"""The data-size product's outputs: the figure, the CSV of its points and the printed table.

Test accuracy against the real training size (docs/data_size.md), from the points that
evaluation/data_size/points.py chose: one line per source of :data:`augment.params.sources.SOURCES`
present in the metrics, the 95 % interval over seeds (``accuracy_ci_low``/``accuracy_ci_high``)
as a band. Eleven lines on one axis are unreadable, so the figure has up to three panels sharing
the y axis: each source alone (``real``, ``classic``, each method), the methods with classical
augmentation (``classic+<method>``), and the filtered synthetic sets (``<method>-filtered`` next
to ``<method>``). ``real`` is dashed grey on every panel, ``classic`` dotted dark grey where it
appears, and a method keeps its colour across panels; every colour comes from
evaluation/report/figures.py, so a source has the same colour here as in the accuracy bars. Metrics from
before the classic, combined or filtered sources existed give the panels they can.

The x axis is the number of real training images when metrics.json says so, otherwise the
``data.train_size`` param as given (a fraction <= 1 or a count > 1), labelled as such.

matplotlib runs with the non-interactive Agg backend: the command draws to files, no screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

from augment.core.outputs import write_csv  # noqa: E402
from augment.params.config import MODEL_NAMES  # noqa: E402
from augment.params.sources import CLASSIC, REAL, SOURCES, parse_source, source_label  # noqa: E402
from augment.sampling.restyle import RESTYLE, STYLED_KINDS  # noqa: E402
from evaluation.data_size.points import PARAM, DataSizeError, Point, sources_of  # noqa: E402
from evaluation.quality.stats import verdict, verdict_key  # noqa: E402
from evaluation.report.figures import BASELINE_COLORS, PALETTE, method_color  # noqa: E402

CSV_HEADER = [
    "x",
    "x_kind",
    "train_size",
    "real_train_images",
    "source",
    "accuracy",
    "ci_low",
    "ci_high",
    "delta_vs_real",
    "delta_ci_low",
    "delta_ci_high",
    "verdict",
    "experiment",
    "rev",
    "timestamp",
    "delta_vs_classic",
    "delta_vs_classic_ci_low",
    "delta_vs_classic_ci_high",
    "verdict_vs_classic",
    "macro_f1",
]

# Styles: real and classic are the two references; a method keeps its colour on every panel (alone:
# solid circles, with classical augmentation: solid squares, filtered: dash-dot triangles).
REAL_STYLE = {"color": BASELINE_COLORS[REAL], "linestyle": "--", "marker": "o", "linewidth": 2.0}
CLASSIC_STYLE = {"color": BASELINE_COLORS[CLASSIC], "linestyle": ":", "marker": "D", "linewidth": 2.0}
PANEL_ALONE = "each source alone"
PANEL_COMBINED = "with classical augmentation"
PANEL_FILTERED = "filtered synthetic sets"
PANEL_STYLED = "restyle and transfer sets"


def _kind(source: str) -> str:
    """``real`` | ``classic`` | ``method`` | ``combined`` (classic+<method>) | ``filtered`` |
    ``styled`` (a restyle or transfer set, alone or with classical augmentation) | ``other``."""
    if source == REAL:
        return "real"
    if source == CLASSIC:
        return "classic"
    if source not in SOURCES:
        return "other"
    s = parse_source(source)
    if s.variant in STYLED_KINDS:
        return "styled"
    return "combined" if s.classic else "filtered" if s.filtered else "method"


def panel_layout(sources: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The figure's panels, ``(title, sources)`` in drawing order, for the sources present.

    Each source alone (``real``, ``classic``, each method, unknown names); with classical
    augmentation (``real``, ``classic``, each ``classic+<method>``); filtered (``real``, each
    method, each ``<method>-filtered``); restyle and transfer (``real``, ``classic``, each
    ``<method>-restyle|transfer`` and its ``classic+`` form). A panel is drawn only when a source of its own is present,
    so metrics with only ``real`` and the methods give one panel, as before."""
    kinds = {s: _kind(s) for s in sources}
    ref = [s for s in sources if kinds[s] == "real"]
    classic = [s for s in sources if kinds[s] == "classic"]
    methods = [s for s in sources if kinds[s] == "method"]
    alone = classic + methods + [s for s in sources if kinds[s] == "other"]
    combined = [s for s in sources if kinds[s] == "combined"]
    filtered = [s for s in sources if kinds[s] == "filtered"]
    styled = [s for s in sources if kinds[s] == "styled"]
    panels = []
    if alone or not (combined or filtered or styled):
        panels.append((PANEL_ALONE, ref + alone))
    if combined:
        panels.append((PANEL_COMBINED, ref + classic + combined))
    if filtered:
        panels.append((PANEL_FILTERED, ref + methods + filtered))
    if styled:
        panels.append((PANEL_STYLED, ref + classic + styled))
    return panels


def source_style(source: str) -> dict[str, Any]:
    """Colour, line style, marker and width of a source's line (the same on every panel)."""
    kind = _kind(source)
    if kind == "real":
        return dict(REAL_STYLE)
    if kind == "classic":
        return dict(CLASSIC_STYLE)
    if kind == "other":  # a name outside SOURCES: a palette colour that depends on the name only
        return {
            "color": PALETTE[(len(MODEL_NAMES) + sum(map(ord, source))) % len(PALETTE)],
            "linestyle": "-",
            "marker": "x",
            "linewidth": 1.5,
        }
    method = parse_source(source).method
    style = {"color": method_color(method or ""), "linestyle": "-", "marker": "o", "linewidth": 1.5}
    if kind == "combined":
        style["marker"] = "s"
    elif kind == "filtered":
        style.update(linestyle="-.", marker="^")
    elif kind == "styled":  # restyle: dashed, transfer: dotted; squares with classical augmentation
        s = parse_source(source)
        style.update(linestyle="--" if s.variant == RESTYLE else (0, (1, 1)), marker="s" if s.classic else "v")
    return style


def _x_label(x_kind: str, log: bool) -> str:
    scale = " (log scale)" if log else ""
    if x_kind == "images":
        return f"real training images{scale}"
    return f"{PARAM} as run{scale}\n(fraction of the training split if <= 1, image count if > 1)"


def csv_rows(points: list[Point]) -> list[list]:
    """One row per (size, source), columns :data:`CSV_HEADER`; a key the metrics lack is blank."""
    out = []
    for p in points:
        for source in sources_of([p]):
            e = p.row.sources[source]
            out.append(
                [
                    p.x,
                    p.x_kind,
                    p.row.train_size,
                    p.row.real_train_images,
                    source,
                    e.get("accuracy"),
                    e.get("accuracy_ci_low"),
                    e.get("accuracy_ci_high"),
                    e.get("delta_vs_real"),
                    e.get("delta_ci_low"),
                    e.get("delta_ci_high"),
                    _verdict(e, "delta"),
                    p.row.name,
                    p.row.rev,
                    p.row.timestamp,
                    e.get("delta_vs_classic"),
                    e.get("delta_vs_classic_ci_low"),
                    e.get("delta_vs_classic_ci_high"),
                    _verdict(e, "delta_vs_classic"),
                    e.get("macro_f1"),
                ]
            )
    return out


def _verdict(entry: dict, prefix: str) -> str | None:
    """The entry's verdict on the interval ``<prefix>_ci_low`` / ``_ci_high``: stored in a
    metrics.json entry; a headline file keeps the interval alone, whose sign is the verdict."""
    stored = entry.get(verdict_key(prefix))
    if stored is not None or f"{prefix}_ci_low" not in entry:
        return stored
    return verdict({"ci_low": entry[f"{prefix}_ci_low"], "ci_high": entry[f"{prefix}_ci_high"]})


def write_points(points: list[Point], path: str | Path) -> Path:
    """The plotted points, one row per (size, source), written all-or-nothing (augment.core.outputs)."""
    return write_csv(path, CSV_HEADER, csv_rows(points))


def _tick(point: Point) -> str:
    """The x value, and under an image count the param that asked for it (unless it is that count)."""
    label = f"{point.x:g}"
    if point.x_kind == "images" and point.row.train_size is not None and point.row.train_size != point.x:
        label += f"\n({PARAM.split('.')[-1]}={point.row.train_size:g})"
    return label


def _interval(entry: dict[str, Any]) -> tuple[float, float, float]:
    """``(accuracy, ci_low, ci_high)``; a missing bound is the accuracy itself (a band of no width)."""
    acc = entry["accuracy"]
    low, high = entry.get("accuracy_ci_low"), entry.get("accuracy_ci_high")
    return (acc, low if isinstance(low, (int, float)) else acc, high if isinstance(high, (int, float)) else acc)


def _draw_source(ax: Any, points: list[Point], source: str) -> None:
    pts = [p for p in points if source in p.row.sources]
    xs = [p.x for p in pts]
    acc, low, high = (list(v) for v in zip(*(_interval(p.row.sources[source]) for p in pts), strict=True))
    style = source_style(source)
    reference = source in (REAL, CLASSIC)
    ax.plot(xs, acc, label=source_label(source), zorder=4 if reference else 3, markersize=5, **style)
    if len(xs) > 1:
        ax.fill_between(xs, low, high, color=style["color"], alpha=0.10 if reference else 0.15, linewidth=0)
    else:  # a band of one point has no width: an error bar instead (yerr: distances below, above)
        ax.errorbar(xs, acc, yerr=[[acc[0] - low[0]], [high[0] - acc[0]]], color=style["color"], capsize=4)


def plot_data_size(points: list[Point], path: str | Path, title: str | None = None) -> Path:
    """Test accuracy vs real training size: one line per source, its 95 % interval as a band, on the
    panels of :func:`panel_layout` (shared y axis)."""
    if not points:
        raise DataSizeError("nothing to plot: no experiment with metrics")
    panels = panel_layout(sources_of(points))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels) + 0.8, 4.6), sharey=True, squeeze=False)
    xs = [p.x for p in points]
    log = min(xs) > 0 and max(xs) / min(xs) >= 4
    for i, (ax, (panel_title, sources)) in enumerate(zip(axes[0], panels, strict=True)):
        for source in sources:
            _draw_source(ax, points, source)
        if log:
            ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([_tick(p) for p in points], fontsize=7.5)
        ax.set_xlabel(_x_label(points[0].x_kind, log), fontsize=9)
        if i == 0:
            ax.set_ylabel("accuracy on the real test split")
        if len(panels) > 1:
            ax.set_title(panel_title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    ymax = max(_interval(p.row.sources[s])[2] for p in points for s in p.row.sources)
    axes[0][0].set_ylim(top=min(1.005, ymax + 0.01))
    fig.suptitle(title or "Test accuracy vs real training size (mean over seeds, band: 95% CI)", fontsize=11)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def format_table(points: list[Point]) -> str:
    """A plain-text table: one line per source, one column per size, ``accuracy [ci_low, ci_high]``
    in each cell; the last line names the experiment of each size."""
    width = 21
    sources = sources_of(points)
    name_w = max([len("train_size"), len("experiment")] + [len(s) for s in sources])
    lines = [
        f"{'x':<{name_w}} " + " ".join(f"{p.x:>{width}g}" for p in points),
        f"{'train_size':<{name_w}} "
        + " ".join(f"{'-' if p.row.train_size is None else format(p.row.train_size, 'g'):>{width}}" for p in points),
    ]
    for s in sources:
        cells = []
        for p in points:
            e = p.row.sources.get(s)
            if e is None:
                cells.append("-")
            else:
                acc, low, high = _interval(e)
                cells.append(f"{acc:.3f} [{low:.3f}, {high:.3f}]")
        lines.append(f"{s:<{name_w}} " + " ".join(f"{c:>{width}}" for c in cells))
    lines.append(f"{'experiment':<{name_w}} " + " ".join(f"{p.row.name:>{width}}" for p in points))
    return "\n".join(lines)
