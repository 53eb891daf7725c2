"""Value vs data size: collect DVC experiments that vary ``data.train_size`` into one figure.

Queue one experiment per size and run them (docs/data_size.md has the recipe)::

    dvc exp run --queue -S data.train_size=0.1,0.25,0.5,1.0
    dvc queue start -j 1
    python -m evaluation.data_size        # -> reports/data_size.png, reports/data_size.csv

This module reads ``dvc exp show --json`` (DVC 3: a list of commits, the first being
``workspace``, each commit carrying its ``experiments``), takes every finished row that has
``reports/metrics.json``, and draws test accuracy against the real training size: one line per
source (``real``, ``cvae``, ``cgan``, ``cvaegan``), the 95 % interval over seeds as a band.

The x axis is the number of real training images when metrics.json says so
(``<source>.real_train_images``, else ``real.train_images``), otherwise the ``data.train_size``
param as given (a fraction <= 1 or a count > 1), labelled as such.

Several rows with the same size: the newest experiment wins, then the workspace, then the
baseline commit; the others are reported as dropped. Queued, running and failed experiments,
and rows without metrics, are skipped and reported.

The parsing (:func:`parse_exp_show`, :func:`select_points`) and drawing (:func:`plot_data_size`,
:func:`write_csv`) are pure functions of their inputs, testable without DVC.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

EXIT_USAGE = 2
SOURCE_ORDER = ("real", "cvae", "cgan", "cvaegan")
COLORS = {"real": "#888888", "cvae": "#4C72B0", "cgan": "#DD8452", "cvaegan": "#55A868"}
PARAM = "data.train_size"
DEFAULT_METRICS = "reports/metrics.json"
# Not under reports/figures/: that folder is an output of the compare stage, and an extra file in it
# would make DVC see compare as changed (and delete the file on the next repro).
DEFAULT_OUT = "reports/data_size.png"
DEFAULT_CSV = "reports/data_size.csv"
CSV_HEADER = ["x", "x_kind", "train_size", "real_train_images", "source", "accuracy", "ci_low",
              "ci_high", "delta_vs_real", "delta_ci_low", "delta_ci_high", "verdict",
              "experiment", "rev", "timestamp"]
# Which row wins when several share a size: experiments (newest first) > workspace > baseline.
_KIND_RANK = {"experiment": 2, "workspace": 1, "baseline": 0}


class DataSizeError(Exception):
    """An expected failure (no DVC, no experiments with metrics, unreadable JSON): one line, exit 2."""


@dataclass
class Row:
    """One row of ``dvc exp show``: a commit, the workspace or an experiment."""

    name: str                       # experiment name, branch name, or "workspace"
    rev: str                        # full git sha ("workspace" for the workspace)
    kind: str                       # "experiment" | "workspace" | "baseline"
    timestamp: str | None           # ISO time of the commit / experiment; None for the workspace
    status: str                     # "ok" | "queued" | "running" | "failed" | "no metrics"
    train_size: float | None = None  # the data.train_size param as run
    real_train_images: int | None = None  # real training images, when metrics.json holds it
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> metrics entry


@dataclass
class Point:
    """One size on the x axis: the row chosen for it."""

    x: float
    x_kind: str                     # "images" (count of real training images) | "param"
    row: Row


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _param(data: dict, param: str, params_file: str) -> float | None:
    value = _get(data, "params", params_file, "data", *param.split("."))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _metrics(data: dict, metrics_file: str) -> dict[str, dict[str, Any]] | None:
    """The per-source objects of metrics.json, or None when the file is absent or unreadable."""
    content = _get(data, "metrics", metrics_file, "data")
    if not isinstance(content, dict):
        return None
    sources = {s: e for s, e in content.items() if isinstance(e, dict) and isinstance(e.get("accuracy"), (int, float))}
    return sources or None


def _real_images(sources: dict[str, dict[str, Any]]) -> int | None:
    """Real training images: any source's ``real_train_images``, else ``real.train_images``
    (for the methods, ``train_images`` counts real + synthetic, so it is not used)."""
    for entry in sources.values():
        if isinstance(entry.get("real_train_images"), (int, float)):
            return int(entry["real_train_images"])
    value = _get(sources, "real", "train_images")
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _row(item: dict, kind: str, executor: dict | None, metrics_file: str, params_file: str, param: str) -> Row:
    data = item.get("data") or {}
    rev = item.get("rev") or data.get("rev") or ""
    name = item.get("name") or (rev if kind != "workspace" else "workspace")
    state = (executor or {}).get("state")
    row = Row(name=name, rev=rev, kind=kind, timestamp=data.get("timestamp"), status="ok",
              train_size=_param(data, param, params_file))
    if state in ("queued", "running", "failed"):
        row.status = state
        return row
    if item.get("error"):
        row.status = "failed"
        return row
    sources = _metrics(data, metrics_file)
    if sources is None:
        row.status = "no metrics"
        return row
    row.sources = sources
    row.real_train_images = _real_images(sources)
    return row


def parse_exp_show(doc: list | str, metrics_file: str = DEFAULT_METRICS, params_file: str = "params.yaml",
                   param: str = PARAM) -> list[Row]:
    """Every row of a ``dvc exp show --json`` document (the parsed list, or its text): the workspace,
    each baseline commit, and each experiment of that commit, with its status, its ``param`` value and
    the per-source objects of ``metrics_file``. Nothing is dropped here; see :func:`select_points`."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as err:
            raise DataSizeError(f"`dvc exp show --json` output is not JSON: {err}") from None
    if not isinstance(doc, list):
        raise DataSizeError(f"`dvc exp show --json` output: expected a list of commits, got {type(doc).__name__}")
    rows = []
    for commit in doc:
        if not isinstance(commit, dict):
            continue
        kind = "workspace" if commit.get("rev") == "workspace" else "baseline"
        rows.append(_row(commit, kind, None, metrics_file, params_file, param))
        for exp in commit.get("experiments") or []:
            revs = exp.get("revs") or []
            if revs:  # revs[0] is the experiment's (latest) commit
                item = dict(revs[0], name=revs[0].get("name") or exp.get("name"))
                rows.append(_row(item, "experiment", exp.get("executor"), metrics_file, params_file, param))
    return rows


def _newest_first(row: Row) -> tuple:
    return (_KIND_RANK.get(row.kind, -1), row.timestamp or "")


def select_points(rows: list[Row]) -> tuple[list[Point], list[str]]:
    """One point per size, sorted by size, and notes on what was skipped or dropped.

    x is the count of real training images when every usable row has it, else the param value.
    Rows sharing an x: the newest experiment wins, then the workspace, then the baseline."""
    notes = []
    usable = []
    for row in rows:
        if row.status != "ok":
            notes.append(f"skipped {row.name} ({row.status})")
        elif row.real_train_images is None and row.train_size is None:
            notes.append(f"skipped {row.name} (no {PARAM} param and no real_train_images in metrics)")
        else:
            usable.append(row)
    by_images = all(r.real_train_images is not None for r in usable)
    if not by_images:
        usable = [r for r in usable if r.train_size is not None]
        values = [r.train_size for r in usable]
        if any(v <= 1 for v in values) and any(v > 1 for v in values):
            notes.append(f"{PARAM} mixes fractions (<= 1) and image counts (> 1) on one axis; "
                         "rerun the experiments with the current compare stage to plot image counts")
    groups: dict[float, list[Row]] = {}
    for row in usable:
        groups.setdefault(float(row.real_train_images if by_images else row.train_size), []).append(row)
    points = []
    for x in sorted(groups):
        ranked = sorted(groups[x], key=_newest_first, reverse=True)
        points.append(Point(x=x, x_kind="images" if by_images else "param", row=ranked[0]))
        for other in ranked[1:]:
            notes.append(f"size {x:g}: kept {ranked[0].name}, dropped {other.name} (older or not an experiment)")
    return points, notes


def _sources(points: list[Point]) -> list[str]:
    seen = {s for p in points for s in p.row.sources}
    return [s for s in SOURCE_ORDER if s in seen] + sorted(seen - set(SOURCE_ORDER))


def _x_label(x_kind: str, log: bool) -> str:
    scale = " (log scale)" if log else ""
    if x_kind == "images":
        return f"real training images{scale}"
    return f"{PARAM} as run{scale}\n(fraction of the training split if <= 1, image count if > 1)"


def csv_rows(points: list[Point]) -> list[list]:
    """One row per (size, source), columns :data:`CSV_HEADER`."""
    out = []
    for p in points:
        for source in _sources([p]):
            e = p.row.sources[source]
            out.append([p.x, p.x_kind, p.row.train_size, p.row.real_train_images, source, e.get("accuracy"),
                        e.get("accuracy_ci_low"), e.get("accuracy_ci_high"), e.get("delta_vs_real"),
                        e.get("delta_ci_low"), e.get("delta_ci_high"), e.get("verdict"), p.row.name,
                        p.row.rev, p.row.timestamp])
    return out


def write_csv(points: list[Point], path: str | Path) -> Path:
    """The plotted points, one row per (size, source)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        writer.writerows(csv_rows(points))
    return path


def _tick(point: Point) -> str:
    """The x value, and under an image count the param that asked for it."""
    label = f"{point.x:g}"
    if point.x_kind == "images" and point.row.train_size is not None:
        label += f"\n({PARAM.split('.')[-1]}={point.row.train_size:g})"
    return label


def plot_data_size(points: list[Point], path: str | Path, title: str | None = None) -> Path:
    """Test accuracy vs real training size: one line per source, its 95 % interval as a band."""
    if not points:
        raise DataSizeError("nothing to plot: no experiment with metrics")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for source in _sources(points):
        pts = [p for p in points if source in p.row.sources]
        xs = [p.x for p in pts]
        acc = [p.row.sources[source]["accuracy"] for p in pts]
        low = [p.row.sources[source].get("accuracy_ci_low", a) for p, a in zip(pts, acc)]
        high = [p.row.sources[source].get("accuracy_ci_high", a) for p, a in zip(pts, acc)]
        color = COLORS.get(source)
        ax.plot(xs, acc, marker="o", color=color, label=source, linewidth=2 if source == "real" else 1.5,
                linestyle="--" if source == "real" else "-", zorder=3)
        if len(xs) > 1:
            ax.fill_between(xs, low, high, color=color, alpha=0.15, linewidth=0)
        else:  # a band of one point has no width: an error bar instead
            ax.errorbar(xs, acc, yerr=[[acc[0] - low[0]], [high[0] - acc[0]]], color=color, capsize=4)
    xs = [p.x for p in points]
    log = min(xs) > 0 and max(xs) / min(xs) >= 4
    if log:
        ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_tick(p) for p in points])
    ymax = max(max(p.row.sources[s].get("accuracy_ci_high", p.row.sources[s]["accuracy"]) for s in p.row.sources)
               for p in points)
    ax.set_ylim(top=min(1.005, ymax + 0.01))
    ax.set_xlabel(_x_label(points[0].x_kind, log))
    ax.set_ylabel("accuracy on the real test split")
    ax.set_title(title or "Test accuracy vs real training size\n(mean over seeds, band: 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(title="source", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def format_table(points: list[Point]) -> str:
    """A plain-text table: one line per size, ``accuracy [ci_low, ci_high]`` per source."""
    sources = _sources(points)
    head = f"{'x':>8} {'train_size':>10} " + " ".join(f"{s:>24}" for s in sources) + "  experiment"
    lines = [head]
    for p in points:
        cells = []
        for s in sources:
            e = p.row.sources.get(s)
            cells.append(f"{e['accuracy']:.3f} [{e.get('accuracy_ci_low', float('nan')):.3f}, "
                         f"{e.get('accuracy_ci_high', float('nan')):.3f}]" if e else "-")
        ts = "-" if p.row.train_size is None else f"{p.row.train_size:g}"
        lines.append(f"{p.x:>8g} {ts:>10} " + " ".join(f"{c:>24}" for c in cells) + f"  {p.row.name}")
    return "\n".join(lines)


def dvc_exp_show(all_commits: bool = False, cwd: str | Path | None = None) -> str:
    """The text of ``dvc exp show --json`` run in ``cwd``. Raises DataSizeError when DVC is missing
    or fails (not a DVC repository, ...)."""
    exe = shutil.which("dvc")
    if exe is None:
        candidate = Path(sys.executable).with_name("dvc")  # the venv's dvc, when the venv is not activated
        exe = str(candidate) if candidate.is_file() else None
    if exe is None:
        raise DataSizeError("dvc is not available: activate the project's venv (`source .venv/bin/activate`) "
                            "or install dvc, or pass --from-json FILE")
    cmd = [exe, "exp", "show", "--json"] + (["--all-commits"] if all_commits else [])
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as err:
        raise DataSizeError(f"dvc is not available: {err}") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        raise DataSizeError(f"`dvc exp show --json` failed (exit {done.returncode}): "
                            f"{lines[-1] if lines else 'no message'}")
    return done.stdout


def _metrics_file_from_params(params_file: str) -> str:
    """metrics.json's path as compare writes it (``paths.reports`` of params.yaml)."""
    try:
        from augment.config import load_params
        from augment.paths import metrics_file

        return metrics_file(load_params(params_file)).as_posix()
    except Exception:  # a broken params.yaml is the pipeline's business; fall back to the default
        return DEFAULT_METRICS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.data_size",
        description="Test accuracy vs real training size, from the DVC experiments that vary "
                    f"{PARAM}: one figure (one line per source, 95%% CI band) and a CSV of the points.")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"figure to write (default {DEFAULT_OUT})")
    parser.add_argument("--csv", default=DEFAULT_CSV, help=f"CSV of the points (default {DEFAULT_CSV})")
    parser.add_argument("--from-json", metavar="FILE",
                        help="read a saved `dvc exp show --json` output ('-' for stdin) instead of running dvc")
    parser.add_argument("--all-commits", action="store_true",
                        help="also experiments based on older commits (dvc exp show --all-commits)")
    parser.add_argument("--metrics-file", default=None,
                        help="metrics file as dvc names it (default: from params.yaml, reports/metrics.json)")
    args = parser.parse_args(argv)
    try:
        if args.from_json == "-":
            text = sys.stdin.read()
        elif args.from_json:
            path = Path(args.from_json)
            if not path.is_file():
                raise DataSizeError(f"--from-json: no such file: {path}")
            text = path.read_text()
        else:
            text = dvc_exp_show(all_commits=args.all_commits)
        metrics_file = args.metrics_file or _metrics_file_from_params("params.yaml")
        rows = parse_exp_show(text, metrics_file=metrics_file)
        points, notes = select_points(rows)
        for note in notes:
            print(f"data_size: {note}", file=sys.stderr)
        if not points:
            counts = {}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
            seen = ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"
            older = "" if args.all_commits or args.from_json else "; experiments of older commits: --all-commits"
            raise DataSizeError(f"no experiment with {metrics_file} to plot (rows: {seen}); queue some with "
                                f"`dvc exp run --queue -S {PARAM}=0.1,0.25,0.5,1.0` and `dvc queue start`, "
                                f"see docs/data_size.md{older}")
        if len(points) == 1:
            print("data_size: only one size has results; queue more sizes for a curve", file=sys.stderr)
        figure = plot_data_size(points, args.out)
        table = write_csv(points, args.csv)
    except DataSizeError as err:
        print(f"data_size: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(format_table(points))
    print(f"data_size: {len(points)} size{'s' if len(points) > 1 else ''} -> {figure}, {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
