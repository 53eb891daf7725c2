"""The regime map: where, if anywhere, a synthetic source beats classical augmentation.

One cell per (real training size, synthetic ratio, classifier steps), one DVC experiment each
(docs/regime_map.md): at every size, ``classifier.synthetic_ratio`` in {1, 4, 10} at the profile's
``classifier.steps``, plus one column trained ``long_factor`` times longer at ``long_ratio``. Each
experiment trains only the map's sources (``classifier.sources``: real, classic and one combined
source of each kind) with ``seeds`` classifier seeds, and its compare stage writes, per source,
the paired difference to classic over those seeds with its 95 % interval (``delta_vs_classic``,
``..._ci_low``, ``..._ci_high`` in metrics.json, evaluation/quality/stats.py). This module plans the cells
(:func:`plan_cells`, :func:`cell_settings`), reads them back from the rows of ``dvc exp show``
(:func:`select_cells`, rows parsed by evaluation/data_size/points.py) and turns them into one
:class:`Entry` per cell and source: the CSV (:func:`write_entries`) and the printed table.

The interval's half-width is written beside each delta: it is the smallest effect that cell could
have told from zero. A cell *beats classic* only when its interval lies above 0.

Pure functions of their inputs; the DVC commands are evaluation/data_size/queue.py's, the figure
evaluation/regime_map/figure.py's, the command pipelines/regime_map.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augment.core.outputs import StagedOutputs, write_csv
from augment.params.sources import CLASSIC, REAL, SELF_TRAINING, check_sources, parse_source
from evaluation.data_size.points import PARAM, SAME_SETUP, DataSizeError, Row, parse_exp_show

DEFAULT_RATIOS = (1.0, 4.0, 10.0)
DEFAULT_LONG_RATIO = 4.0
DEFAULT_LONG_FACTOR = 4
DEFAULT_SEEDS = 5
DEFAULT_CSV = "reports/regime_map.csv"
DEFAULT_OUT = "reports/regime_map.png"

RATIO = "classifier.synthetic_ratio"
STEPS = "classifier.steps"
SEEDS = "classifier.seeds"
SOURCES_KEY = "classifier.sources"


@dataclass(frozen=True)
class Cell:
    """One experiment of the map: a real training size, a synthetic ratio and a step budget."""

    train_size: int  # data.train_size: real training images (per_class x K)
    ratio: float  # classifier.synthetic_ratio
    steps: int  # classifier.steps
    per_class: int = 0  # as asked for (0: not known, e.g. when read back)
    long: bool = False  # the longer-training column

    @property
    def note(self) -> str:
        kind = ", longer training" if self.long else ""
        per_class = f"{self.per_class} per class, " if self.per_class else ""
        return f"{per_class}ratio {self.ratio:g}, {self.steps} steps{kind}"


def parse_ratios(text: str, option: str = "--ratios") -> list[float]:
    """``"1,4,10"`` -> [1.0, 4.0, 10.0]: numbers > 0, sorted, duplicates dropped."""
    values = set()
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise DataSizeError(f"{option}: expected numbers > 0 separated by commas, got {part.strip()!r}") from None
        if not value > 0:
            raise DataSizeError(f"{option}: expected numbers > 0, got {part.strip()}")
        values.add(value)
    return sorted(values)


def default_map_sources(profile_sources: Sequence[str], self_training: bool = False) -> list[str]:
    """The map's sources when ``--sources`` is not given, from the profile's ``classifier.sources``:
    real and classic (the baselines every run needs), the self-training bars (always with
    ``self_training``: a label budget's map needs them), and every source it lists that adds
    images to classical augmentation (``classic+<method>`` of any kind), since classic is the bar
    the map measures against. Whatever the generators, built-in or plugin."""
    chosen = [REAL, CLASSIC, *(SELF_TRAINING if self_training else ())]
    for name in profile_sources:
        source = parse_source(name)
        if name not in chosen and (name in SELF_TRAINING or (source.classic and source.method is not None)):
            chosen.append(name)
    return chosen


def parse_map_sources(text: str) -> list[str]:
    """``"real,classic,classic+cvaegan"`` -> the list, checked as classifier.sources is (unknown
    names get a "did you mean", real and classic are required)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        check_sources(names)
    except (ValueError, KeyError) as err:
        raise DataSizeError(f"--sources: {err}") from None
    return names


def plan_cells(
    per_class: Sequence[int],
    classes: int,
    ratios: Sequence[float],
    steps: int,
    long_ratio: float | None = DEFAULT_LONG_RATIO,
    long_factor: int = DEFAULT_LONG_FACTOR,
) -> list[Cell]:
    """Every cell, size by size: each ratio at ``steps``, then ``long_ratio`` at ``steps *
    long_factor`` (no long column when ``long_ratio`` is None or ``long_factor`` is 1). The first
    cell of each size is the one that trains its generators (pipelines/regime_map.py runs it first)."""
    if long_factor < 1:
        raise DataSizeError(f"--long-factor: expected a whole number >= 1, got {long_factor}")
    cells = []
    for n in per_class:
        size = n * classes
        if size <= 1:
            raise DataSizeError(f"--per-class {n} with {classes} class(es) asks for {size} image; {PARAM} needs > 1")
        cells += [Cell(size, float(r), int(steps), per_class=n) for r in ratios]
        if long_ratio is not None and long_factor > 1:
            cells.append(Cell(size, float(long_ratio), int(steps) * long_factor, per_class=n, long=True))
    return cells


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def cell_settings(cell: Cell, seeds: int, sources: Sequence[str], param: str = PARAM) -> tuple[str, ...]:
    """The cell's ``dvc exp run -S`` settings: size, ratio, steps, the seeds 0..seeds-1 and the
    sources (quoted: a name holds ``+`` and ``-``). ``param``: what the size sets
    (``data.labelled`` with a label budget: evaluation/data_size/sizes.py)."""
    quoted = ",".join(f"'{s}'" for s in sources)
    return (
        f"{param}={cell.train_size}",
        f"{RATIO}={_number(cell.ratio)}",
        f"{STEPS}={cell.steps}",
        f"{SEEDS}=[{','.join(str(s) for s in range(seeds))}]",
        f"{SOURCES_KEY}=[{quoted}]",
    )


def check_sample_budget(
    cells: Sequence[Cell], classes: int, per_class_budget: int, key: str = "sample.per_class"
) -> None:
    """A DataSizeError when a cell asks for more synthetic images per class than the sample and
    restyle stages make (``ratio * per_class > sample.per_class``: its classifiers would fail)."""
    short = [c for c in cells if c.ratio * (c.train_size / classes) > per_class_budget]
    if short:
        worst = max(short, key=lambda c: c.ratio * c.train_size)
        need = int(-(-worst.ratio * worst.train_size // classes))
        raise DataSizeError(
            f"ratio {worst.ratio:g} at {worst.train_size} real images asks for {need} synthetic images per "
            f"class, more than {key}={per_class_budget} makes: add --set {key}={need}"
        )


def _get(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


@dataclass
class Found:
    """One cell as read back: its row of ``dvc exp show``."""

    cell: Cell
    row: Row
    seeds: int


def select_cells(rows: Sequence[Row], base_steps: int) -> tuple[list[Found], list[str]]:
    """One row per (real images, ratio, steps), sorted; notes on what was skipped or dropped.

    Rows without metrics, or without the ratio / steps params, are skipped; rows of another setup
    (:data:`SAME_SETUP` differs from the most common) too. Several rows of one cell: the newest
    experiment wins. A cell whose steps differ from ``base_steps`` is the longer-training column."""
    notes = []
    usable = []
    for row in rows:
        ratio, steps = _get(row.params, RATIO), _get(row.params, STEPS)
        images = row.real_train_images if row.real_train_images is not None else row.train_size
        if row.status != "ok":
            notes.append(f"skipped {row.name} ({row.status})")
        elif images is None or not isinstance(ratio, (int, float)) or not isinstance(steps, int):
            notes.append(f"skipped {row.name} (no real image count, {RATIO} or {STEPS})")
        else:
            seeds = _get(row.params, SEEDS)
            cell = Cell(int(images), float(ratio), int(steps), long=int(steps) != int(base_steps))
            usable.append(Found(cell, row, len(seeds) if isinstance(seeds, list) else 0))
    if usable:
        setups = [f.row.setup for f in usable]
        common = max(set(setups), key=setups.count)
        for f in [f for f in usable if f.row.setup != common]:
            differs = [
                f"{k}={json.loads(v)}" for k, v, c in zip(SAME_SETUP, f.row.setup, common, strict=True) if v != c
            ]
            notes.append(f"skipped {f.row.name} (another setup: {', '.join(differs)})")
        usable = [f for f in usable if f.row.setup == common]
    chosen: dict[tuple, Found] = {}
    for f in sorted(usable, key=lambda f: (f.row.kind == "experiment", f.row.timestamp or ""), reverse=True):
        key = (f.cell.train_size, f.cell.ratio, f.cell.steps)
        if key in chosen:
            notes.append(
                f"cell {f.cell.note} at {f.cell.train_size}: kept {chosen[key].row.name}, dropped {f.row.name}"
            )
        else:
            chosen[key] = f
    found = sorted(chosen.values(), key=lambda f: (f.cell.train_size, f.cell.long, f.cell.ratio, f.cell.steps))
    return found, notes


@dataclass
class Entry:
    """One source in one cell: its accuracy and its paired difference to classic (fractions)."""

    real_train_images: int
    ratio: float
    steps: int
    long: bool
    source: str
    seeds: int
    accuracy: float
    delta_vs_classic: float | None  # None for classic itself
    ci_low: float | None
    ci_high: float | None
    experiment: str
    rev: str

    @property
    def half_width(self) -> float | None:
        """Half the interval's width: the smallest difference to classic this cell could detect."""
        if self.ci_low is None or self.ci_high is None:
            return None
        return (self.ci_high - self.ci_low) / 2

    @property
    def verdict(self) -> str:
        if self.ci_low is None or self.ci_high is None:
            return "the bar" if self.source == CLASSIC else "no interval"
        if self.ci_low > 0:
            return "beats classic"
        if self.ci_high < 0:
            return "below classic"
        return "no measurable difference"


def _number_at(entry: dict[str, Any], key: str) -> float | None:
    value = entry.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _difference_to_classic(name: str, sources: dict[str, dict[str, Any]]) -> tuple[float | None, ...]:
    """``delta_vs_classic`` and its interval for one source of a cell; for real, classic's
    ``delta_vs_real`` turned round (real - classic = -(classic - real), interval mirrored): what
    classical augmentation itself is worth there. None for classic, the bar."""
    if name == CLASSIC:
        return None, None, None
    if name == REAL:
        c = sources.get(CLASSIC, {})
        delta, low, high = (_number_at(c, k) for k in ("delta_vs_real", "delta_ci_low", "delta_ci_high"))
        return (
            None if delta is None else -delta,
            None if high is None else -high,
            None if low is None else -low,
        )
    e = sources[name]
    return tuple(_number_at(e, k) for k in ("delta_vs_classic", "delta_vs_classic_ci_low", "delta_vs_classic_ci_high"))


def entries(found: Sequence[Found], sources: Sequence[str] | None = None) -> list[Entry]:
    """One :class:`Entry` per cell and source (``sources``: those, in that order; default every
    source of the cell's metrics, in metrics.json's order)."""
    out = []
    for f in found:
        for s in [s for s in (sources or f.row.sources) if s in f.row.sources]:
            delta, low, high = _difference_to_classic(s, f.row.sources)
            out.append(
                Entry(
                    real_train_images=f.cell.train_size,
                    ratio=f.cell.ratio,
                    steps=f.cell.steps,
                    long=f.cell.long,
                    source=s,
                    seeds=f.seeds,
                    accuracy=float(f.row.sources[s]["accuracy"]),
                    delta_vs_classic=delta,
                    ci_low=low,
                    ci_high=high,
                    experiment=f.row.name,
                    rev=f.row.rev,
                )
            )
    return out


CSV_HEADER = [
    "real_train_images",
    "synthetic_ratio",
    "steps",
    "longer_training",
    "source",
    "seeds",
    "accuracy",
    "delta_vs_classic",
    "delta_ci_low",
    "delta_ci_high",
    "half_width",
    "verdict",
    "experiment",
    "rev",
]


def write_entries(rows: Sequence[Entry], path: str | Path) -> Path:
    """The map's CSV, one line per cell and source (fractions of accuracy, not points)."""

    def blank(value: float | None) -> str | float:
        return "" if value is None else round(value, 6)

    return write_csv(
        path,
        CSV_HEADER,
        (
            [
                e.real_train_images,
                _number(e.ratio),
                e.steps,
                int(e.long),
                e.source,
                e.seeds,
                round(e.accuracy, 6),
                blank(e.delta_vs_classic),
                blank(e.ci_low),
                blank(e.ci_high),
                blank(e.half_width),
                e.verdict,
                e.experiment,
                e.rev,
            ]
            for e in rows
        ),
    )


def column_label(cell: Cell | Entry, base_steps: int | None = None) -> str:
    """``ratio 4`` or ``ratio 4, 4x steps`` (``2000 steps`` when the base is not known)."""
    ratio = cell.ratio
    if not cell.long:
        return f"ratio {_number(ratio)}"
    if base_steps:
        return f"ratio {_number(ratio)}, {_number(cell.steps / base_steps)}x steps"
    return f"ratio {_number(ratio)}, {cell.steps} steps"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def format_map(rows: Sequence[Entry], base_steps: int | None = None) -> str:
    """A plain-text table, one line per cell and synthetic source: the delta vs classic in points,
    its 95 % interval and half-width, and the verdict; then one line saying which cells, if any,
    beat classical augmentation."""
    lines = [
        f"{'real':>6} {'column':<22} {'source':<26} {'seeds':>5} {'accuracy':>8} "
        f"{'delta vs classic (points) [95% CI]':>36} {'±':>6}  verdict"
    ]
    for e in rows:
        if e.source == CLASSIC:
            continue
        interval = f"{_points(e.delta_vs_classic)} [{_points(e.ci_low)}, {_points(e.ci_high)}]"
        half = "-" if e.half_width is None else f"{100 * e.half_width:.2f}"
        lines.append(
            f"{e.real_train_images:>6} {column_label(e, base_steps):<22} {e.source:<26} {e.seeds:>5} "
            f"{e.accuracy:>8.4f} {interval:>36} {half:>6}  {e.verdict}"
        )
    lines.append(findings(rows, base_steps))
    return "\n".join(lines)


def findings(rows: Sequence[Entry], base_steps: int | None = None) -> str:
    """One line: the cells where a synthetic source beats classic (interval above 0), or none."""
    synthetic = [e for e in rows if e.source not in (REAL, CLASSIC)]
    wins = [e for e in synthetic if e.verdict == "beats classic"]
    if not synthetic:
        return "no synthetic source in these cells"
    if not wins:
        widths = [e.half_width for e in synthetic if e.half_width is not None]
        span = f" (half-widths {100 * min(widths):.2f}-{100 * max(widths):.2f} points)" if widths else ""
        return f"no cell where a synthetic source beats classical augmentation with its interval above 0{span}"
    listed = "; ".join(
        f"{e.source} at {e.real_train_images} images, {column_label(e, base_steps)}: {_points(e.delta_vs_classic)} "
        f"[{_points(e.ci_low)}, {_points(e.ci_high)}]"
        for e in wins
    )
    return f"beats classical augmentation (interval above 0): {listed}"


def collect_map(
    doc: str,
    out: str | Path,
    csv_path: str | Path,
    base_steps: int,
    metrics_file: str,
    names: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> tuple[list[Entry], list[str]]:
    """From the text of ``dvc exp show --json``: choose the cells (experiments only; ``names``:
    only those), write the figure and the CSV together (both or neither,
    augment/core/outputs.py), return the entries and the notes. DataSizeError when no cell has results."""
    from evaluation.regime_map.figure import plot_regime_map  # it imports this module: here, not at the top

    rows = [r for r in parse_exp_show(doc, metrics_file=metrics_file) if r.kind == "experiment"]
    if names is not None:
        rows = [r for r in rows if r.name in set(names)]
    found, notes = select_cells(rows, base_steps)
    table = entries(found, sources)
    if not table:
        raise DataSizeError(
            f"no experiment with {metrics_file} and {RATIO} / {STEPS} to map (rows: {len(rows)}); run the map with "
            "`python -m pipelines.regime_map run --per-class 20,50`, see docs/regime_map.md"
        )
    with StagedOutputs() as staged:
        plot_regime_map(table, staged.path(out), base_steps)
        write_entries(table, staged.path(csv_path))
    return table, notes
