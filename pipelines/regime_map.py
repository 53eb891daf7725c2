"""Command: the regime map, where (if anywhere) a synthetic source beats classical augmentation.

Small real training sets, several synthetic ratios, one longer-training column, five seeds
(docs/regime_map.md)::

    python -m pipelines.regime_map run --per-class 20,50      # or: make regime-map

``run`` reads the number of classes K and the profile's ``classifier.steps`` from params.yaml and
the prepared splits, plans one DVC experiment per cell (evaluation/regime_map/cells.py): at each size
``per_class * K``, ``classifier.synthetic_ratio`` in ``--ratios`` (1, 4, 10) at the profile's
steps, and ``--long-ratio`` (4) at ``--long-factor`` (4) times the steps; each with ``--seeds``
(5) classifier seeds and only the map's ``--sources``. It queues and runs them in two waves: first
one cell per size (it trains that size's generators), then the rest, which find the generators,
samples and restyled sets in DVC's run-cache instead of training them again. It waits for each
wave (``dvc queue status``), stops with one error line (exit 2) if any experiment failed, then
writes ``reports/regime_map.png`` and ``reports/regime_map.csv`` and prints the table and which
cells, if any, beat classical augmentation with an interval above 0. ``collect`` (or no
subcommand) draws the map from experiments run earlier.

This file parses the arguments; pipelines/experiment.py (shared with the data-size command) turns
expected failures into one line and exit code 2 (130 on Ctrl-C while waiting); the work is in evaluation/regime_map/cells.py, evaluation/regime_map/figure.py
and evaluation/data_size/queue.py (shared with the data-size product).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from augment.params.config import ConfigError, Params, one_line
from augment.params.file import load_params
from augment.params.sources import SELF_TRAINING
from augment.settings.paths import headline_dir
from evaluation.data_size.collect import read_exp_show
from evaluation.data_size.points import DEFAULT_PARAMS, PARAM, DataSizeError
from evaluation.data_size.queue import (
    Queued,
    Run,
    Runner,
    check_failures,
    dvc_runner,
    queue_runs,
    start_queue,
    wait_for_queue,
)
from evaluation.data_size.sizes import LABELLED, check_available, parse_per_class, prepared_splits
from evaluation.regime_map.cells import (
    DEFAULT_CSV,
    DEFAULT_LONG_FACTOR,
    DEFAULT_LONG_RATIO,
    DEFAULT_OUT,
    DEFAULT_RATIOS,
    DEFAULT_SEEDS,
    RATIO,
    SEEDS,
    SOURCES_KEY,
    STEPS,
    Cell,
    cell_settings,
    check_sample_budget,
    collect_map,
    default_map_sources,
    format_map,
    parse_map_sources,
    parse_ratios,
    plan_cells,
)
from pipelines.experiment import check_jobs, dispatch, guarded, queue_options

NAME = "regime_map"
PROG = "python -m pipelines.regime_map"
# Keys each cell sets itself, and what to use instead of --set for them.
SET_BY_THE_MAP = {
    PARAM: "--per-class",
    LABELLED: "--per-class (with a label budget, it sizes data.labelled)",
    RATIO: "--ratios and --long-ratio",
    STEPS: "params.yaml's classifier.steps (the base) and --long-factor",
    SEEDS: "--seeds",
    SOURCES_KEY: "--sources",
}


def say(message: str) -> None:
    """One plain progress line (no carriage returns: it also goes to logs)."""
    print(f"regime_map: {message}", flush=True)


def _profile(overrides: Sequence[str]) -> Params:
    """The profile (params.yaml with the --set overrides)."""
    try:
        return load_params(DEFAULT_PARAMS, list(overrides))
    except (ConfigError, OSError, ValueError) as err:
        raise DataSizeError(f"{DEFAULT_PARAMS}: {one_line(err)}") from None


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"figure to write (default {DEFAULT_OUT})")
    parser.add_argument("--csv", default=DEFAULT_CSV, help=f"CSV of the cells (default {DEFAULT_CSV})")


def _collect(args: argparse.Namespace, doc: str, names: Sequence[str] | None, params: Params) -> None:
    """The map from ``doc`` (dvc exp show's rows), with the profile's steps and metrics folder."""
    steps, metrics_file = params.classifier.steps, headline_dir(params).as_posix()
    table, notes = collect_map(doc, args.out, args.csv, steps, metrics_file, names=names)
    for note in notes:
        print(f"regime_map: {note}", file=sys.stderr)
    print(format_map(table, steps))
    cells = len({(e.real_train_images, e.ratio, e.steps) for e in table})
    say(f"{cells} cell{'s' if cells != 1 else ''} -> {args.out}, {args.csv}")


def _main_collect(argv: list[str], runner: Runner | None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} [collect]",
        description="The regime map from DVC experiments that vary data.train_size, "
        f"{RATIO} and {STEPS}: a figure of each cell's difference to classic (95%% CI) and a CSV.",
        epilog=f"To queue, run and then collect the map in one go: {PROG} run --per-class 20,50.",
    )
    _output_options(parser)
    parser.add_argument("--from-json", metavar="FILE", help="a saved `dvc exp show --json` output ('-': stdin)")
    args = parser.parse_args(argv)
    return guarded(
        NAME, PROG, "the map", lambda: _collect(args, read_exp_show(args.from_json, False, runner), None, _profile(()))
    )


def _wave(
    cells: Sequence[Cell],
    args: argparse.Namespace,
    runner: Runner,
    log: Callable[[str], None],
) -> list[Queued]:
    param = getattr(args, "size_param", PARAM)  # data.labelled with a label budget
    runs = [Run(c.train_size, cell_settings(c, args.seeds, args.sources, param), note=c.note) for c in cells]
    queued = queue_runs(runs, runner, copy_paths=args.copy, log=log, overrides=args.overrides)
    start_queue(args.jobs, runner, log=log)
    states = wait_for_queue(
        queued, runner, poll_s=args.poll_seconds, stall_s=args.stall_seconds, log=log, collect_command=PROG
    )
    check_failures(queued, states, collect_command=PROG)
    return queued


def _main_run(argv: list[str], runner: Runner | None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} run",
        description="Queue one DVC experiment per cell of the map (size x synthetic ratio, plus a "
        "longer-training column), run them in two waves (one cell per size first: it trains the "
        "generators), wait, then write the figure and the CSV.",
    )
    parser.add_argument(
        "--per-class",
        metavar="N,N,...",
        required=True,
        help="real training images per class; times the number of classes K (needs `dvc repro prepare` first)",
    )
    parser.add_argument("--ratios", default=",".join(f"{r:g}" for r in DEFAULT_RATIOS), metavar="R,R,...")
    parser.add_argument(
        "--long-ratio",
        default=f"{DEFAULT_LONG_RATIO:g}",
        metavar="R",
        help="the synthetic ratio of the longer-training column ('none': no such column)",
    )
    parser.add_argument("--long-factor", type=int, default=DEFAULT_LONG_FACTOR, metavar="F", help="its steps x F")
    parser.add_argument(
        "--seeds", type=int, default=DEFAULT_SEEDS, help=f"classifier seeds 0..N-1 (default {DEFAULT_SEEDS})"
    )
    parser.add_argument(
        "--sources",
        metavar="S,S,...",
        help="classifier.sources of every cell (default: real, classic, the self-training bars and "
        "every classic+<method> source of params.yaml's classifier.sources)",
    )
    queue_options(parser)
    _output_options(parser)
    args = parser.parse_args(argv)

    def body() -> None:
        check_jobs(args.jobs)
        if args.seeds < 2:
            raise DataSizeError(f"--seeds: an interval needs >= 2 seeds, got {args.seeds}")
        for override in args.overrides:
            key = override.split("=", 1)[0].strip()
            if key in SET_BY_THE_MAP:
                raise DataSizeError(f"--set {key}: the map sets it per cell; use {SET_BY_THE_MAP[key]}")
        ratios = parse_ratios(args.ratios)
        long_ratio = None if args.long_ratio.lower() == "none" else parse_ratios(args.long_ratio, "--long-ratio")[0]
        profile = _profile(args.overrides)
        steps, sample_budget = profile.classifier.steps, profile.sample.per_class
        prepared = prepared_splits(DEFAULT_PARAMS)
        assert prepared is not None  # required=True raises instead
        if args.sources is None:
            args.sources = default_map_sources(profile.classifier.sources, prepared.size_param == LABELLED)
        else:
            args.sources = parse_map_sources(args.sources)
        cells = plan_cells(
            parse_per_class(args.per_class), prepared.num_classes, ratios, steps, long_ratio, args.long_factor
        )
        check_available([(c.train_size, c.note) for c in cells], prepared)
        args.size_param = prepared.size_param  # with a label budget each cell sizes data.labelled
        if prepared.size_param == LABELLED and not set(SELF_TRAINING) <= set(args.sources):
            raise DataSizeError(
                f"--sources: with a label budget (data.labelled) the map needs the self-training bars "
                f"{' and '.join(SELF_TRAINING)}; add them"
            )
        check_sample_budget(cells, prepared.num_classes, sample_budget)
        queue_runner = runner or dvc_runner()
        first: dict[int, Cell] = {}
        for c in cells:  # one cell per size trains its generators; the others reuse them (run-cache)
            first.setdefault(c.train_size, c)
        rest = [c for c in cells if c not in first.values()]
        say(f"{len(cells)} cells: wave 1 ({len(first)}, trains the generators), then wave 2 ({len(rest)})")
        queued = _wave(list(first.values()), args, queue_runner, say)
        if rest:
            queued += _wave(rest, args, queue_runner, say)
        names = [q.name for q in queued]
        _collect(args, read_exp_show(None, False, queue_runner), names, profile)

    return guarded(NAME, PROG, "the map", body)


def main(argv: list[str] | None = None, runner: Runner | None = None) -> int:
    """``python -m pipelines.regime_map [collect] [options]`` or ``... run --per-class N,N,...``.

    ``runner`` replaces the dvc subprocess (tests); by default the installed dvc runs."""
    return dispatch(argv, runner, _main_run, _main_collect)


if __name__ == "__main__":
    sys.exit(main())
