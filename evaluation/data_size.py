"""Value vs data size: rerun the comparison at several real training sizes and draw one figure.

Does synthetic data (or classical augmentation) help more when there is little real data? One
command answers it as a pipeline product (docs/data_size.md)::

    python -m evaluation.data_size run --per-class 20,50,200,720   # or: make data-size

``run`` reads the number of classes K from the prepared splits file, queues one DVC experiment per
size (``dvc exp run --queue -S data.train_size=<per_class * K>``; a count > 1 is a number of
images), starts the queue (``dvc queue start -j <jobs>``), waits for every one of those
experiments by polling ``dvc queue status``, stops with one error line (exit 2) if any of them
failed, then collects: ``reports/data_size.png`` and ``reports/data_size.csv``. ``--sizes N,N,...``
queues the ``data.train_size`` values as given instead. Collecting alone, from experiments queued
by hand, is ``python -m evaluation.data_size`` (or ``... collect``).

Collecting reads ``dvc exp show --json`` (DVC 3: a list of commits, the first being ``workspace``,
each commit carrying its ``experiments``), takes every finished row that has
``reports/metrics.json``, and draws test accuracy against the real training size: one line per
source of :data:`augment.sources.SOURCES` present in the metrics, the 95 % interval over seeds
(``accuracy_ci_low``/``accuracy_ci_high``) as a band. Eleven lines on one axis are unreadable, so
the figure has up to three panels sharing the y axis: each source alone (``real``, ``classic``, each
method), the methods with classical augmentation (``classic+<method>``), and the filtered synthetic
sets (``<method>-filtered`` next to ``<method>``). ``real`` is dashed grey on every panel,
``classic`` dotted black where it appears, and a method keeps its colour across panels. Metrics
from before the classic, combined or filtered sources existed give the panels they can.

The x axis is the number of real training images when metrics.json says so
(``<source>.real_train_images``, else ``real.train_images``), otherwise the ``data.train_size``
param as given (a fraction <= 1 or a count > 1), labelled as such.

Several rows with the same size: the newest experiment wins, then the workspace, then the
baseline commit; the others are reported as dropped. Queued, running and failed experiments,
and rows without metrics, are skipped and reported.

The parsing (:func:`parse_exp_show`, :func:`select_points`, :func:`parse_queue_status`) and drawing
(:func:`plot_data_size`, :func:`write_points`) are pure functions of their inputs; every DVC call goes
through a :data:`Runner` (``dvc`` arguments -> completed process), so tests can fake DVC.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

from augment.config import MODEL_NAMES, ConfigError, load_params  # noqa: E402
from augment.labeled import DataError, Splits  # noqa: E402
from augment.outputs import write_csv  # noqa: E402
from augment.paths import metrics_file as params_metrics_file  # noqa: E402
from augment.paths import splits_file  # noqa: E402
from augment.sources import CLASSIC, REAL, SOURCES, parse_source, source_label  # noqa: E402
from evaluation.figures import METHOD_COLORS  # noqa: E402

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PARAM = "data.train_size"
DEFAULT_METRICS = "reports/metrics.json"
DEFAULT_PARAMS = "params.yaml"
# Not under reports/figures/: that folder is an output of the compare stage, and an extra file in it
# would make DVC see compare as changed (and delete the file on the next repro).
DEFAULT_OUT = "reports/data_size.png"
DEFAULT_CSV = "reports/data_size.csv"
DEFAULT_POLL_S = 10.0
DEFAULT_STALL_S = 300.0
CSV_HEADER = ["x", "x_kind", "train_size", "real_train_images", "source", "accuracy", "ci_low",
              "ci_high", "delta_vs_real", "delta_ci_low", "delta_ci_high", "verdict",
              "experiment", "rev", "timestamp", "delta_vs_classic", "delta_vs_classic_ci_low",
              "delta_vs_classic_ci_high", "verdict_vs_classic", "macro_f1"]
# Which row wins when several share a size: experiments (newest first) > workspace > baseline.
_KIND_RANK = {"experiment": 2, "workspace": 1, "baseline": 0}

# Styles: real and classic are the two references; a method keeps its colour on every panel (alone:
# solid circles, with classical augmentation: solid squares, filtered: dash-dot triangles).
REAL_STYLE = {"color": "#888888", "linestyle": "--", "marker": "o", "linewidth": 2.0}
CLASSIC_STYLE = {"color": "#222222", "linestyle": ":", "marker": "D", "linewidth": 2.0}
_PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#CCB974",
            "#64B5CD")
# METHOD_COLORS (evaluation/figures.py): one colour per generator, the same as the accuracy bars
PANEL_ALONE = "each source alone"
PANEL_COMBINED = "with classical augmentation"
PANEL_FILTERED = "filtered synthetic sets"

# ``dvc exp run --queue`` prints one ``Queued experiment '<name>' for future execution.`` per
# experiment (DVC 3); ``dvc queue status`` a table ``Task Name Created Status`` (status: Queued,
# Running, Success, Failed) and a last line ``Worker status: <n> active, <m> idle``.
_QUEUED_RE = re.compile(r"Queued experiment '([^']+)'")
_WORKERS_RE = re.compile(r"Worker status:\s*(\d+)\s+active,\s*(\d+)\s+idle")
QUEUE_STATES = ("Queued", "Running", "Success", "Failed")
FINISHED_STATES = ("Success", "Failed")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
"""Runs ``dvc <args>`` and returns the completed process (``returncode``, ``stdout``, ``stderr``)."""


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
    setup: tuple = ()  # the params that must agree across points (SAME_SETUP), as run


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


# Params every point of one figure must share: a row run on other data (the committed digits
# results in the workspace of a 28x28 run) or with rare classes is another experiment, not a size.
SAME_SETUP = ("data.dataset", "data.imbalance.classes", "data.imbalance.keep", "classifier.synthetic_mode")


def _setup(data: dict, params_file: str) -> tuple:
    values = (_get(data, "params", params_file, "data", *key.split(".")) for key in SAME_SETUP)
    return tuple(json.dumps(v, sort_keys=True) for v in values)


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
              train_size=_param(data, param, params_file), setup=_setup(data, params_file))
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
    # One setup per figure: the experiments' (the most common among them), else the most common.
    reference = [r.setup for r in usable if r.kind == "experiment"] or [r.setup for r in usable]
    if reference:
        common = max(set(reference), key=reference.count)
        for row in [r for r in usable if r.setup != common]:
            differs = [f"{k}={json.loads(v)}" for k, v, c in zip(SAME_SETUP, row.setup, common) if v != c]
            notes.append(f"skipped {row.name} (another setup than the experiments': {', '.join(differs)})")
        usable = [r for r in usable if r.setup == common]
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
    """The sources present at any size, in :data:`SOURCES` order, unknown names last."""
    seen = {s for p in points for s in p.row.sources}
    return [s for s in SOURCES if s in seen] + sorted(seen - set(SOURCES))


def _kind(source: str) -> str:
    """``real`` | ``classic`` | ``method`` | ``combined`` (classic+<method>) | ``filtered`` | ``other``."""
    if source == REAL:
        return "real"
    if source == CLASSIC:
        return "classic"
    if source not in SOURCES:
        return "other"
    s = parse_source(source)
    return "combined" if s.classic else "filtered" if s.filtered else "method"


def panel_layout(sources: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The figure's panels, ``(title, sources)`` in drawing order, for the sources present.

    Each source alone (``real``, ``classic``, each method, unknown names); with classical
    augmentation (``real``, ``classic``, each ``classic+<method>``); filtered (``real``, each
    method, each ``<method>-filtered``). A panel is drawn only when a source of its own is present,
    so metrics with only ``real`` and the methods give one panel, as before."""
    kinds = {s: _kind(s) for s in sources}
    ref = [s for s in sources if kinds[s] == "real"]
    classic = [s for s in sources if kinds[s] == "classic"]
    methods = [s for s in sources if kinds[s] == "method"]
    alone = classic + methods + [s for s in sources if kinds[s] == "other"]
    combined = [s for s in sources if kinds[s] == "combined"]
    filtered = [s for s in sources if kinds[s] == "filtered"]
    panels = []
    if alone or not (combined or filtered):
        panels.append((PANEL_ALONE, ref + alone))
    if combined:
        panels.append((PANEL_COMBINED, ref + classic + combined))
    if filtered:
        panels.append((PANEL_FILTERED, ref + methods + filtered))
    return panels


def source_style(source: str) -> dict[str, Any]:
    """Colour, line style, marker and width of a source's line (the same on every panel)."""
    kind = _kind(source)
    if kind == "real":
        return dict(REAL_STYLE)
    if kind == "classic":
        return dict(CLASSIC_STYLE)
    if kind == "other":
        return {"color": _PALETTE[(len(MODEL_NAMES) + sum(map(ord, source))) % len(_PALETTE)],
                "linestyle": "-", "marker": "x", "linewidth": 1.5}
    method = parse_source(source).method
    style = {"color": METHOD_COLORS.get(method, _PALETTE[-1]), "linestyle": "-", "marker": "o", "linewidth": 1.5}
    if kind == "combined":
        style["marker"] = "s"
    elif kind == "filtered":
        style.update(linestyle="-.", marker="^")
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
        for source in _sources([p]):
            e = p.row.sources[source]
            out.append([p.x, p.x_kind, p.row.train_size, p.row.real_train_images, source, e.get("accuracy"),
                        e.get("accuracy_ci_low"), e.get("accuracy_ci_high"), e.get("delta_vs_real"),
                        e.get("delta_ci_low"), e.get("delta_ci_high"), e.get("verdict"), p.row.name,
                        p.row.rev, p.row.timestamp, e.get("delta_vs_classic"),
                        e.get("delta_vs_classic_ci_low"), e.get("delta_vs_classic_ci_high"),
                        e.get("verdict_vs_classic"), e.get("macro_f1")])
    return out


def write_points(points: list[Point], path: str | Path) -> Path:
    """The plotted points, one row per (size, source)."""
    return write_csv(path, CSV_HEADER, csv_rows(points))


def _tick(point: Point) -> str:
    """The x value, and under an image count the param that asked for it (unless it is that count)."""
    label = f"{point.x:g}"
    if point.x_kind == "images" and point.row.train_size is not None and point.row.train_size != point.x:
        label += f"\n({PARAM.split('.')[-1]}={point.row.train_size:g})"
    return label


def _interval(entry: dict[str, Any]) -> tuple[float, float, float]:
    acc = entry["accuracy"]
    low, high = entry.get("accuracy_ci_low"), entry.get("accuracy_ci_high")
    return (acc, low if isinstance(low, (int, float)) else acc, high if isinstance(high, (int, float)) else acc)


def _draw_source(ax: Any, points: list[Point], source: str) -> None:
    pts = [p for p in points if source in p.row.sources]
    xs = [p.x for p in pts]
    acc, low, high = (list(v) for v in zip(*(_interval(p.row.sources[source]) for p in pts)))
    style = source_style(source)
    reference = source in (REAL, CLASSIC)
    ax.plot(xs, acc, label=source_label(source), zorder=4 if reference else 3, markersize=5, **style)
    if len(xs) > 1:
        ax.fill_between(xs, low, high, color=style["color"], alpha=0.10 if reference else 0.15, linewidth=0)
    else:  # a band of one point has no width: an error bar instead
        ax.errorbar(xs, acc, yerr=[[acc[0] - low[0]], [high[0] - acc[0]]], color=style["color"], capsize=4)


def plot_data_size(points: list[Point], path: str | Path, title: str | None = None) -> Path:
    """Test accuracy vs real training size: one line per source, its 95 % interval as a band, on the
    panels of :func:`panel_layout` (shared y axis)."""
    if not points:
        raise DataSizeError("nothing to plot: no experiment with metrics")
    panels = panel_layout(_sources(points))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels) + 0.8, 4.6), sharey=True, squeeze=False)
    xs = [p.x for p in points]
    log = min(xs) > 0 and max(xs) / min(xs) >= 4
    for i, (ax, (panel_title, sources)) in enumerate(zip(axes[0], panels)):
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
    sources = _sources(points)
    name_w = max([len("train_size"), len("experiment")] + [len(s) for s in sources])
    lines = [f"{'x':<{name_w}} " + " ".join(f"{p.x:>{width}g}" for p in points),
             f"{'train_size':<{name_w}} " + " ".join(
                 f"{'-' if p.row.train_size is None else format(p.row.train_size, 'g'):>{width}}" for p in points)]
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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _last_line(done: "subprocess.CompletedProcess[str]", prefer: str = "stderr") -> str:
    """The last non-blank line of ``prefer`` (stderr or stdout), else of the other stream."""
    streams = (done.stderr, done.stdout) if prefer == "stderr" else (done.stdout, done.stderr)
    for text in streams:
        lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return "no message"


def _dvc_executable() -> str:
    """The dvc on PATH, else the one next to this Python (the venv's, when it is not activated)."""
    exe = shutil.which("dvc")
    if exe is None:
        candidate = Path(sys.executable).with_name("dvc")
        exe = str(candidate) if candidate.is_file() else None
    if exe is None:
        raise DataSizeError("dvc is not available: activate the project's venv (`source .venv/bin/activate`) "
                            "or install dvc, or pass --from-json FILE")
    return exe


def dvc_runner(cwd: str | Path | None = None) -> Runner:
    """A :data:`Runner` for the installed dvc, run in ``cwd`` with dvc's folder first on PATH: the
    queue worker that ``dvc queue start`` spawns runs ``dvc``, and the stages run ``python``, both
    looked up on PATH, so this works from a venv that is not activated (``make data-size``).

    Output goes through temporary files, not pipes: the worker that ``dvc queue start`` leaves
    behind inherits them, and a pipe would keep that command waiting until the worker exits."""
    exe = _dvc_executable()
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(exe).parent), os.environ.get("PATH", "")]))

    def run(args: Sequence[str]) -> "subprocess.CompletedProcess[str]":
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                done = subprocess.run([exe, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=err)
            except OSError as error:
                raise DataSizeError(f"dvc is not available: {error}") from None
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())

    return run


def _dvc(runner: Runner, args: Sequence[str]) -> "subprocess.CompletedProcess[str]":
    """``dvc <args>`` through ``runner``; a non-zero exit is a DataSizeError naming the command."""
    done = runner(list(args))
    if done.returncode != 0:
        raise DataSizeError(f"`dvc {' '.join(args)}` failed (exit {done.returncode}): {_last_line(done)}")
    return done


def dvc_exp_show(all_commits: bool = False, cwd: str | Path | None = None, runner: Runner | None = None) -> str:
    """The text of ``dvc exp show --json`` (run in ``cwd`` unless a ``runner`` is given). Raises
    DataSizeError when DVC is missing or fails (not a DVC repository, ...)."""
    args = ["exp", "show", "--json"] + (["--all-commits"] if all_commits else [])
    return _dvc(runner or dvc_runner(cwd), args).stdout


def _metrics_file_from_params(params_file: str) -> str:
    """metrics.json's path as compare writes it (``paths.reports`` of params.yaml)."""
    try:
        return params_metrics_file(load_params(params_file)).as_posix()
    except Exception:  # a broken params.yaml is the pipeline's business; fall back to the default
        return DEFAULT_METRICS


# --- run: queue the sizes, run them, wait -------------------------------------------------------


@dataclass
class Queued:
    """One experiment queued by :func:`queue_experiments`."""

    name: str                       # as ``dvc queue status`` and ``dvc queue logs`` name it
    train_size: float               # the data.train_size it runs with
    note: str = ""                  # how the size was asked for ("20 per class x 10 classes")


@dataclass
class QueueTask:
    """One line of ``dvc queue status``."""

    task: str                       # the first 7 characters of the queued stash revision
    name: str                       # the experiment name ("" when DVC has none)
    status: str                     # Queued | Running | Success | Failed (| Unknown)


@dataclass
class QueueStatus:
    """``dvc queue status`` parsed: its tasks and the worker counts (None when not printed)."""

    tasks: list[QueueTask]
    active: int | None = None
    idle: int | None = None

    def state_of(self, name: str) -> str | None:
        """The status of the experiment ``name`` (or task id), None when the queue does not list it."""
        for task in self.tasks:
            if name in (task.name, task.task):
                return task.status
        return None


def parse_queue_status(text: str) -> QueueStatus:
    """Parse ``dvc queue status`` (DVC 3)::

        Task     Name        Created    Status
        3619d4f  adult-rues  09:05 AM   Success
        3b799f9  light-hows  09:05 AM   Failed

        Worker status: 0 active, 1 idle

    Columns are cut at the header's positions (a name may be empty, a date has spaces); ``No
    experiment tasks in the queue.`` gives no tasks."""
    status = QueueStatus(tasks=[])
    columns: list[int] | None = None
    for line in text.splitlines():
        tokens = line.split()
        workers = _WORKERS_RE.search(line)
        if workers:
            status.active, status.idle = int(workers.group(1)), int(workers.group(2))
        elif tokens[:2] == ["Task", "Name"] and tokens[-1] == "Status":
            columns = [line.index(word) for word in ("Task", "Name", "Created", "Status")]
        elif len(tokens) >= 2 and (tokens[-1] in QUEUE_STATES or tokens[-1] == "Unknown"):
            if columns is not None and len(line) > columns[3]:
                name = line[columns[1]:columns[2]].strip()
            else:  # no header: take the second word as the name
                name = tokens[1] if len(tokens) >= 3 else ""
            status.tasks.append(QueueTask(task=tokens[0], name=name, status=tokens[-1]))
    return status


def _size_text(size: float) -> str:
    """A data.train_size value as -S takes it: ``200``, ``0.25``."""
    return str(int(size)) if float(size).is_integer() else f"{size:g}"


def parse_per_class(text: str) -> list[int]:
    """``"20,50,200,800"`` -> [20, 50, 200, 800]: whole numbers > 0, sorted, duplicates dropped."""
    values = set()
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise DataSizeError(f"--per-class: expected whole numbers > 0 separated by commas, "
                                f"got {part.strip()!r}") from None
        if value <= 0:
            raise DataSizeError(f"--per-class: expected whole numbers > 0, got {value}")
        values.add(value)
    return sorted(values)


def parse_sizes(text: str) -> list[float]:
    """``"200,500"`` -> [200.0, 500.0]: data.train_size values as given (a whole number > 1 is a count
    of images, a value in (0, 1] a fraction of the training split), sorted, duplicates dropped."""
    values = set()
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise DataSizeError(f"--sizes: expected numbers separated by commas, got {part.strip()!r}") from None
        if not (0 < value <= 1 or (value > 1 and value.is_integer())):
            raise DataSizeError(f"--sizes: {part.strip()} is neither an image count (a whole number > 1) "
                                "nor a fraction of the training split (0 < x <= 1)")
        values.add(value)
    return sorted(values)


@dataclass
class Prepared:
    """What the prepared splits file says about the sizes one may ask for."""

    path: Path                      # the splits file
    num_classes: int                # K
    available: int | None           # training images a count may ask for; None when unknown


def prepared_splits(params_file: str | Path = DEFAULT_PARAMS, required: bool = True) -> Prepared | None:
    """K and the available training images, from the splits file that the prepare stage wrote
    (``paths.splits`` of ``params_file``). A missing file is a DataSizeError telling how to create
    it, or None when not ``required``.

    ``available`` is known only when the splits were prepared with ``data.train_size`` 1.0 and no
    ``data.imbalance``: then the training split holds every image a count may ask for."""
    try:
        params = load_params(params_file)
    except (ConfigError, OSError) as err:
        raise DataSizeError(f"{params_file}: {_one_line(str(err))}") from None
    path = splits_file(params)
    if not path.is_file():
        if not required:
            return None
        raise DataSizeError(f"--per-class needs the number of classes from the prepared splits, and {path} does not "
                            "exist: run `dvc repro` first, or pass --sizes N,N,... (total images)")
    try:
        splits = Splits.load(path)
    except DataError as err:
        raise DataSizeError(_one_line(str(err))) from None
    imbalance = getattr(getattr(params.data, "imbalance", None), "classes", None)
    whole = params.data.train_size == 1.0 and not imbalance
    return Prepared(path=path, num_classes=splits.num_classes, available=len(splits.train) if whole else None)


def check_available(sizes: Sequence[tuple[float, str]], prepared: Prepared | None) -> None:
    """A DataSizeError for counts larger than the training images there are (those experiments
    would fail in their prepare stage); nothing when the prepared splits do not tell."""
    if prepared is None or prepared.available is None:
        return
    too_many = [f"{_size_text(size)}{f' ({note})' if note else ''}" for size, note in sizes
                if size > 1 and size > prepared.available]
    if too_many:
        raise DataSizeError(f"{PARAM}={', '.join(too_many)}: more training images than the {prepared.available} "
                            f"of the prepared training split ({prepared.path}, {PARAM} 1.0); drop or lower "
                            f"{'that size' if len(too_many) == 1 else 'those sizes'}")


def per_class_sizes(per_class: Sequence[int], classes: int) -> list[tuple[int, str]]:
    """Each images-per-class value as a data.train_size count (``per_class * classes``) and a note."""
    sizes = []
    for n in per_class:
        total = n * classes
        if total <= 1:  # data.train_size reads 1 as the fraction 1.0, the whole training split
            raise DataSizeError(f"--per-class {n} with {classes} class(es) asks for {total} image; "
                                f"{PARAM} needs a count > 1")
        sizes.append((total, f"{n} per class x {classes} classes"))
    return sizes


def _say(message: str) -> None:
    print(f"data_size: {message}", flush=True)


def queue_experiments(sizes: Sequence[tuple[float, str]], runner: Runner, copy_paths: Sequence[str] = (),
                      log: Callable[[str], None] = _say, overrides: Sequence[str] = ()) -> list[Queued]:
    """``dvc exp run --queue -S data.train_size=<size>`` for each ``(size, note)``, with ``-C PATH``
    for each of ``copy_paths`` (untracked or ignored paths the experiment needs, such as a dataset
    under data/raw) and ``-S KEY=VALUE`` for each of ``overrides`` (the same for every size); the
    names DVC gave.

    Raises DataSizeError on a failure, naming the experiments already queued."""
    queued: list[Queued] = []
    copies = [arg for path in copy_paths for arg in ("-C", path)]
    for size, note in sizes:
        sets = [arg for override in overrides for arg in ("-S", override)]
        args = ["exp", "run", "--queue", "-S", f"{PARAM}={_size_text(size)}", *sets, *copies]
        try:
            done = _dvc(runner, args)
            names = _QUEUED_RE.findall((done.stdout or "") + "\n" + (done.stderr or ""))
            if not names:
                raise DataSizeError(f"`dvc {' '.join(args)}` printed no \"Queued experiment '<name>'\" line: "
                                    f"{_last_line(done)}")
        except DataSizeError as err:
            if queued:
                names_so_far = " ".join(q.name for q in queued)
                raise DataSizeError(f"{err}; already queued: {names_so_far} (drop them with "
                                    f"`dvc queue remove {names_so_far}`)") from None
            raise
        queued.append(Queued(name=names[-1], train_size=float(size), note=note))
        log(f"queued {names[-1]} ({PARAM}={_size_text(size)}{', ' + note if note else ''})")
    return queued


def start_queue(jobs: int, runner: Runner, log: Callable[[str], None] = _say) -> None:
    """``dvc queue start -j <jobs>``: returns at once; the worker runs in the background."""
    done = _dvc(runner, ["queue", "start", "-j", str(jobs)])
    log(f"dvc queue start -j {jobs}: {_last_line(done, prefer='stdout')}")


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s"


def wait_for_queue(queued: Sequence[Queued], runner: Runner, poll_s: float = DEFAULT_POLL_S,
                   stall_s: float = DEFAULT_STALL_S, log: Callable[[str], None] = _say,
                   sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> dict[str, str]:
    """Poll ``dvc queue status`` until every experiment of ``queued`` is Success or Failed; their
    states by name. One plain line each time the count of finished ones changes.

    Raises DataSizeError when, for ``stall_s`` seconds, none of them runs and no worker is active
    (the worker died or never started), or one of them is no longer listed (removed)."""
    names = [q.name for q in queued]
    start = clock()
    reported = None
    stalled_since = None
    while True:
        status = parse_queue_status(_dvc(runner, ["queue", "status"]).stdout)
        states = {n: status.state_of(n) for n in names}
        finished = [n for n in names if states[n] in FINISHED_STATES]
        failed = [n for n in names if states[n] == "Failed"]
        running = [n for n in names if states[n] == "Running"]
        if len(finished) != reported:
            reported = len(finished)
            waiting = len(names) - len(finished) - len(running)
            log(f"{len(finished)}/{len(names)} experiments finished ({len(running)} running, {waiting} waiting"
                f"{', failed: ' + ', '.join(failed) if failed else ''}) after {_elapsed(clock() - start)}")
        if len(finished) == len(names):
            return states
        missing = [n for n in names if states[n] is None]
        stalled = bool(missing) or (status.active == 0 and not running)
        if not stalled:
            stalled_since = None
        else:
            stalled_since = clock() if stalled_since is None else stalled_since
            if clock() - stalled_since >= stall_s:
                later = ("; once they finish, draw the figure with `python -m evaluation.data_size`")
                if missing:
                    raise DataSizeError(f"experiment {missing[0]} is no longer listed by `dvc queue status` "
                                        f"(removed?){later}")
                raise DataSizeError(f"no queue worker has been active for {stall_s:g} s while "
                                    f"{len(names) - len(finished)} experiment(s) wait: check `dvc queue status`, "
                                    f"start a worker with `dvc queue start`{later}")
        sleep(poll_s)


def check_failures(queued: Sequence[Queued], states: dict[str, str]) -> None:
    """One DataSizeError line naming every failed experiment and how to read its log."""
    failed = [q for q in queued if states.get(q.name) == "Failed"]
    if not failed:
        return
    which = ", ".join(f"{q.name} ({PARAM}={_size_text(q.train_size)})" for q in failed)
    others = " (and likewise for the others)" if len(failed) > 1 else ""
    done = len(queued) - len(failed)
    rest = (f"; the {done} that succeeded can still be drawn with `python -m evaluation.data_size`"
            if done else "")
    raise DataSizeError(f"{len(failed)} of {len(queued)} experiments failed: {which}; see "
                        f"`dvc queue logs {failed[0].name}`{others}{rest}")


# --- collect, and the command --------------------------------------------------------------------


def collect(out: str | Path = DEFAULT_OUT, csv_path: str | Path = DEFAULT_CSV, from_json: str | None = None,
            all_commits: bool = False, metrics_file: str | None = None,
            runner: Runner | None = None, experiments_only: bool = False) -> tuple[list[Point], Path, Path]:
    """Read the experiments (``dvc exp show --json``, or ``from_json``: a saved copy, ``-`` for
    stdin), choose one row per size, write the figure and the CSV; notes on what was skipped or
    dropped go to stderr. ``experiments_only``: leave out the workspace and the baseline commits
    (whose committed reports may come from other data than the experiments). Raises
    DataSizeError when nothing can be drawn."""
    if from_json == "-":
        text = sys.stdin.read()
    elif from_json:
        path = Path(from_json)
        if not path.is_file():
            raise DataSizeError(f"--from-json: no such file: {path}")
        text = path.read_text()
    else:
        text = dvc_exp_show(all_commits=all_commits, runner=runner)
    metrics_file = metrics_file or _metrics_file_from_params(DEFAULT_PARAMS)
    rows = parse_exp_show(text, metrics_file=metrics_file)
    if experiments_only:
        rows = [r for r in rows if r.kind == "experiment"]
    points, notes = select_points(rows)
    for note in notes:
        print(f"data_size: {note}", file=sys.stderr)
    if not points:
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        seen = ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"
        older = "" if all_commits or from_json else "; experiments of older commits: --all-commits"
        raise DataSizeError(f"no experiment with {metrics_file} to plot (rows: {seen}); run some with "
                            "`python -m evaluation.data_size run --per-class 20,50,200,720`, "
                            f"see docs/data_size.md{older}")
    if len(points) == 1:
        print("data_size: only one size has results; queue more sizes for a curve", file=sys.stderr)
    return points, plot_data_size(points, out), write_points(points, csv_path)


def _report(points: list[Point], figure: Path, table: Path) -> None:
    print(format_table(points))
    print(f"data_size: {len(points)} size{'s' if len(points) > 1 else ''} -> {figure}, {table}")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"figure to write (default {DEFAULT_OUT})")
    parser.add_argument("--csv", default=DEFAULT_CSV, help=f"CSV of the points (default {DEFAULT_CSV})")
    parser.add_argument("--metrics-file", default=None,
                        help="metrics file as dvc names it (default: from params.yaml, reports/metrics.json)")


def _main_collect(argv: list[str], runner: Runner | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.data_size [collect]",
        description="Test accuracy vs real training size, from the DVC experiments that vary "
                    f"{PARAM}: one figure (one line per source, 95%% CI band, up to three panels) and a "
                    "CSV of the points.",
        epilog="To queue, run and then collect the experiments in one go: "
               "python -m evaluation.data_size run --per-class 20,50,200,720 (see run --help).")
    _output_options(parser)
    parser.add_argument("--from-json", metavar="FILE",
                        help="read a saved `dvc exp show --json` output ('-' for stdin) instead of running dvc")
    parser.add_argument("--all-commits", action="store_true",
                        help="also experiments based on older commits (dvc exp show --all-commits)")
    parser.add_argument("--experiments-only", action="store_true",
                        help="leave out the workspace and the commit itself (their reports may be of other data)")
    args = parser.parse_args(argv)
    try:
        points, figure, table = collect(args.out, args.csv, from_json=args.from_json, all_commits=args.all_commits,
                                        metrics_file=args.metrics_file, runner=runner,
                                        experiments_only=args.experiments_only)
    except DataSizeError as err:
        print(f"data_size: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    _report(points, figure, table)
    return 0


def _main_run(argv: list[str], runner: Runner | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.data_size run",
        description="Queue one DVC experiment per real training size (dvc exp run --queue -S "
                    f"{PARAM}=...), run them (dvc queue start), wait for all of them (dvc queue status), "
                    "then write the figure and the CSV as `python -m evaluation.data_size` does.")
    sizes = parser.add_mutually_exclusive_group(required=True)
    sizes.add_argument("--per-class", metavar="N,N,...",
                       help="real training images per class; times the number of classes K of the prepared "
                            "splits (needs `dvc repro` first) gives each experiment's data.train_size")
    sizes.add_argument("--sizes", metavar="N,N,...",
                       help=f"{PARAM} values as given: a whole number > 1 is a count of images in total, "
                            "a value <= 1 a fraction of the training split")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="experiments run at a time (dvc queue start -j; default 1)")
    parser.add_argument("--set", "-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="another param for every experiment (dvc exp run -S), e.g. cpu_threads=1 "
                             "with --jobs 2; repeatable")
    parser.add_argument("--copy", "-C", action="append", default=[], metavar="PATH",
                        help="an untracked or git-ignored path the experiments need (a dataset under data/raw), "
                             "copied into each (dvc exp run -C); repeatable")
    _output_options(parser)
    parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_S,
                        help=f"seconds between two `dvc queue status` (default {DEFAULT_POLL_S:g})")
    parser.add_argument("--stall-seconds", type=float, default=DEFAULT_STALL_S,
                        help="give up when no worker is active for this long while experiments wait "
                             f"(default {DEFAULT_STALL_S:g})")
    args = parser.parse_args(argv)
    try:
        if args.jobs < 1:
            raise DataSizeError(f"--jobs: expected a whole number >= 1, got {args.jobs}")
        if args.per_class is not None:
            per_class = parse_per_class(args.per_class)
            prepared = prepared_splits(DEFAULT_PARAMS)
            todo = per_class_sizes(per_class, prepared.num_classes)
        else:
            todo = [(size, "") for size in parse_sizes(args.sizes)]
            prepared = prepared_splits(DEFAULT_PARAMS, required=False) if Path(DEFAULT_PARAMS).is_file() else None
        check_available(todo, prepared)
        runner = runner or dvc_runner()
        queued = queue_experiments(todo, runner, copy_paths=args.copy, overrides=args.overrides)
        start_queue(args.jobs, runner)
        states = wait_for_queue(queued, runner, poll_s=args.poll_seconds, stall_s=args.stall_seconds)
        check_failures(queued, states)
        # the sizes just run: experiments only (the workspace's reports may be of other data)
        points, figure, table = collect(args.out, args.csv, metrics_file=args.metrics_file, runner=runner,
                                        experiments_only=True)
    except DataSizeError as err:
        print(f"data_size: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("data_size: interrupted; queued experiments keep running in the background (`dvc queue status`); "
              "draw the figure once they finish with `python -m evaluation.data_size`", file=sys.stderr)
        return EXIT_INTERRUPTED
    _report(points, figure, table)
    return 0


def main(argv: list[str] | None = None, runner: Runner | None = None) -> int:
    """``python -m evaluation.data_size [collect] [options]`` or ``... run --per-class N,N,...``.

    ``runner`` replaces the dvc subprocess (tests); by default the installed dvc runs."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return _main_run(argv[1:], runner)
    if argv[:1] == ["collect"]:
        argv = argv[1:]
    return _main_collect(argv, runner)


if __name__ == "__main__":
    sys.exit(main())
