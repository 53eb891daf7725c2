"""Collect the data-size product: read the experiments, choose one per size, write figure and CSV.

The one step shared by ``python -m pipelines.data_size`` (collect alone, from experiments queued
by hand or earlier) and ``... run`` (after its own experiments finished): the ``dvc exp show
--json`` document (from DVC, a saved file or stdin) goes through
evaluation/data_size/points.py, the chosen points through evaluation/data_size/figure.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from augment.params.file import load_params
from augment.settings.paths import headline_dir
from evaluation.data_size.figure import plot_data_size, write_points
from evaluation.data_size.points import (
    DEFAULT_METRICS,
    DEFAULT_PARAMS,
    DataSizeError,
    Point,
    parse_exp_show,
    select_points,
)
from evaluation.data_size.queue import Runner, dvc_exp_show

# Not under reports/figures/: that folder is an output of the compare stage, and an extra file in it
# would make DVC see compare as changed (and delete the file on the next repro).
DEFAULT_OUT = "reports/data_size.png"
DEFAULT_CSV = "reports/data_size.csv"


def metrics_file_from_params(params_file: str | Path = DEFAULT_PARAMS) -> str:
    """compare's DVC metrics (the folder of headline files) as params.yaml's ``paths.reports`` puts them."""
    try:
        return headline_dir(load_params(params_file)).as_posix()
    except Exception:  # a broken params.yaml is the pipeline's business; fall back to the default
        return DEFAULT_METRICS


def read_exp_show(from_json: str | None, all_commits: bool, runner: Runner | None) -> str:
    """The text of ``dvc exp show --json``: ``from_json`` (a saved copy, ``-`` for stdin), else DVC's."""
    if from_json == "-":
        return sys.stdin.read()
    if from_json:
        path = Path(from_json)
        if not path.is_file():
            raise DataSizeError(f"--from-json: no such file: {path}")
        return path.read_text()
    return dvc_exp_show(all_commits=all_commits, runner=runner)


def collect(
    out: str | Path = DEFAULT_OUT,
    csv_path: str | Path = DEFAULT_CSV,
    from_json: str | None = None,
    all_commits: bool = False,
    metrics_file: str | None = None,
    runner: Runner | None = None,
    experiments_only: bool = False,
) -> tuple[list[Point], Path, Path]:
    """Read the experiments (``dvc exp show --json``, or ``from_json``: a saved copy, ``-`` for
    stdin), choose one row per size, write the figure and the CSV; notes on what was skipped or
    dropped go to stderr. ``experiments_only``: leave out the workspace and the baseline commits
    (whose committed reports may come from other data than the experiments). Raises
    DataSizeError when nothing can be drawn."""
    text = read_exp_show(from_json, all_commits, runner)
    metrics_file = metrics_file or metrics_file_from_params(DEFAULT_PARAMS)
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
        raise DataSizeError(
            f"no experiment with {metrics_file} to plot (rows: {seen}); run some with "
            "`python -m pipelines.data_size run --per-class 20,50,200,720`, "
            f"see docs/data_size.md{older}"
        )
    if len(points) == 1:
        print("data_size: only one size has results; queue more sizes for a curve", file=sys.stderr)
    return points, plot_data_size(points, out), write_points(points, csv_path)
