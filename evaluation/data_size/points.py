"""The data-size product's points: the rows of ``dvc exp show --json`` and one chosen row per size.

Does synthetic data help more when there is little real data (docs/data_size.md)? Each DVC
experiment reruns the comparison at one ``data.train_size``; this module turns DVC's listing of
them into :class:`Row` objects (:func:`parse_exp_show`) and picks one per size on the x axis
(:func:`select_points`). Both are pure functions of their inputs: the figure and the table
(evaluation/data_size/figure.py), the DVC commands (evaluation/data_size/queue.py) and the command
(pipelines/data_size.py) live elsewhere.

Why ``dvc exp show --json`` and not ``dvc.api.exp_show()``: the API returns one flat row per
experiment made for a table (``dvc.repo.experiments.show.tabulate``), and in DVC 3.67 that table
lacks what the points need, as checked on a scratch repository:

- ``rev`` is cut to 7 characters for an experiment and is the branch name (``main``) for a
  commit; the CSV records the full sha;
- ``Created`` is formatted for a screen (``03:18 PM`` today, ``Nov 26, 2026`` otherwise; the
  ``iso`` option of ``tabulate`` is not passed), so neither the CSV's ISO ``timestamp`` nor the
  newest-experiment-wins order of :func:`select_points` can be taken from it;
- a metric or param column drops its file name whenever its name is unique (``real.accuracy``,
  ``data.train_size``), so a row cannot tell which file a column came from, and ``--metrics-file``
  could not pick one metrics file among several;
- values are re-read from their printed text (``1294`` becomes ``1294.0``, ``[0, 1]`` the string
  ``"[0, 1]"``, an unreadable metrics file ``"!"`` in each of its columns);
- there is no ``--all-commits``: ``num=-1`` lists first-parent history only.

The JSON document has all of it (nested metrics per file, full revs, ISO timestamps, the
executor state), so it is parsed here; evaluation/data_size/queue.py obtains it.

Layout of the document (DVC 3): a list of commits, the first being ``workspace``; each commit a
dict ``{"rev", "name", "data": {"timestamp", "params": {file: {"data": ...}}, "metrics": {file:
{"data": ...} | {"error": ...}}}, "error", "experiments": [{"revs": [exp, ...], "executor":
{"state"}, "name"}]}``, ``revs[0]`` being the experiment's latest commit.

Several rows with the same size: the newest experiment wins, then the workspace, then the baseline
commit; the others are reported as dropped. Queued, running and failed experiments, rows without
metrics and rows of another setup (:data:`SAME_SETUP`) are skipped and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from augment.params.sources import order_sources

PARAM = "data.train_size"
DEFAULT_METRICS = "reports/metrics"  # compare's headline files (augment/settings/paths.py headline_dir)
DEFAULT_PARAMS = "params.yaml"
# Which row wins when several share a size: experiments (newest first) > workspace > baseline.
_KIND_RANK = {"experiment": 2, "workspace": 1, "baseline": 0}
# Params every point of one figure must share: a row run on other data (the committed digits
# results in the workspace of a 28x28 run) or with rare classes is another experiment, not a size.
SAME_SETUP = ("data.dataset", "data.imbalance.classes", "data.imbalance.keep", "classifier.synthetic_mode")


class DataSizeError(Exception):
    """An expected failure (no DVC, no experiments with metrics, unreadable JSON): one line, exit 2."""


@dataclass
class Row:
    """One row of ``dvc exp show``: a commit, the workspace or an experiment."""

    name: str  # experiment name, branch name, or "workspace"
    rev: str  # full git sha ("workspace" for the workspace)
    kind: str  # "experiment" | "workspace" | "baseline"
    timestamp: str | None  # ISO time of the commit / experiment; None for the workspace
    status: str  # "ok" | "queued" | "running" | "failed" | "no metrics"
    train_size: float | None = None  # the data.train_size param as run
    real_train_images: int | None = None  # real training images, when metrics.json holds it
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> metrics entry
    setup: tuple = ()  # the params that must agree across points (SAME_SETUP), as run, JSON-encoded
    params: dict[str, Any] = field(default_factory=dict)  # the params file as run (the regime map reads it)


@dataclass
class Point:
    """One size on the x axis: the row chosen for it."""

    x: float
    x_kind: str  # "images" (count of real training images) | "param"
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


def _setup(data: dict, params_file: str) -> tuple:
    values = (_get(data, "params", params_file, "data", *key.split(".")) for key in SAME_SETUP)
    return tuple(json.dumps(v, sort_keys=True) for v in values)


def _metrics(data: dict, metrics_file: str) -> dict[str, dict[str, Any]] | None:
    """The per-source objects of a row's metrics, or None when there are none readable.

    ``metrics_file`` is compare's folder of headline files (``reports/metrics``: one
    ``<source>.json`` each, the DVC metrics since the headline split), or a single file of
    per-source objects (``reports/metrics.json``: the DVC metric of runs made before it, read
    when the folder has nothing, so that older experiments still plot)."""
    found = data.get("metrics")
    files: dict[str, Any] = found if isinstance(found, dict) else {}
    if metrics_file.endswith(".json"):
        single, folder = metrics_file, None
    else:
        single, folder = metrics_file.rstrip("/") + ".json", metrics_file.rstrip("/") + "/"
    content: Any = None
    if folder is not None:
        content = {
            path[len(folder) : -len(".json")]: _get(entry, "data")
            for path, entry in files.items()
            if path.startswith(folder) and path.endswith(".json") and "/" not in path[len(folder) :]
        }
    if not content:
        content = _get(data, "metrics", single, "data")
    if not isinstance(content, dict):
        return None
    sources = {s: e for s, e in content.items() if isinstance(e, dict) and isinstance(e.get("accuracy"), (int, float))}
    return {s: sources[s] for s in order_sources(sources)} or None


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
    row = Row(
        name=name,
        rev=rev,
        kind=kind,
        timestamp=data.get("timestamp"),
        status="ok",
        train_size=_param(data, param, params_file),
        setup=_setup(data, params_file),
        params=_get(data, "params", params_file, "data") or {},
    )
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


def parse_exp_show(
    doc: list | str, metrics_file: str = DEFAULT_METRICS, params_file: str = DEFAULT_PARAMS, param: str = PARAM
) -> list[Row]:
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
            differs = [f"{k}={json.loads(v)}" for k, v, c in zip(SAME_SETUP, row.setup, common, strict=True) if v != c]
            notes.append(f"skipped {row.name} (another setup than the experiments': {', '.join(differs)})")
        usable = [r for r in usable if r.setup == common]
    by_images = all(r.real_train_images is not None for r in usable)
    if not by_images:
        usable = [r for r in usable if r.train_size is not None]
        values = [r.train_size for r in usable if r.train_size is not None]
        if any(v <= 1 for v in values) and any(v > 1 for v in values):
            notes.append(
                f"{PARAM} mixes fractions (<= 1) and image counts (> 1) on one axis; "
                "rerun the experiments with the current compare stage to plot image counts"
            )
    groups: dict[float, list[Row]] = {}
    for row in usable:
        x = row.real_train_images if by_images else row.train_size
        assert x is not None  # by_images, or rows without train_size were dropped above
        groups.setdefault(float(x), []).append(row)
    points = []
    for x in sorted(groups):
        ranked = sorted(groups[x], key=_newest_first, reverse=True)
        points.append(Point(x=x, x_kind="images" if by_images else "param", row=ranked[0]))
        for other in ranked[1:]:
            notes.append(f"size {x:g}: kept {ranked[0].name}, dropped {other.name} (older or not an experiment)")
    return points, notes


def sources_of(points: list[Point]) -> list[str]:
    """The sources present at any size, in :data:`SOURCES` order, unknown names last."""
    seen = {s for p in points for s in p.row.sources}
    return order_sources(seen)
