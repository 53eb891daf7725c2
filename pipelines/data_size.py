"""Command: value vs data size, rerun the comparison at several real training sizes and draw one figure.

Does synthetic data (or classical augmentation) help more when there is little real data? One
command answers it as a pipeline product (docs/data_size.md)::

    python -m pipelines.data_size run --per-class 20,50,200,720   # or: make data-size

``run`` reads the number of classes K from the prepared splits file, queues one DVC experiment per
size (``dvc exp run --queue -S data.train_size=<per_class * K>``; a count > 1 is a number of
images), starts the queue (``dvc queue start -j <jobs>``), waits for every one of those
experiments by polling ``dvc queue status``, stops with one error line (exit 2) if any of them
failed, then collects: ``reports/data_size.png`` and ``reports/data_size.csv``. ``--sizes N,N,...``
queues the ``data.train_size`` values as given instead. With a label budget in params.yaml
(``data.labelled``), the sizes are label budgets: each experiment sets ``data.labelled`` and keeps
the rest of the training split as its unlabelled pool (evaluation/data_size/sizes.py). Collecting
alone, from experiments queued by hand, is ``python -m pipelines.data_size`` (or ``... collect``).

This file only parses the arguments; pipelines/experiment.py (shared with the regime map) turns
expected failures into one line and an exit code (2; 130 on Ctrl-C while waiting). The work is in the library: which sizes
(evaluation/data_size/sizes.py), the DVC queue (evaluation/data_size/queue.py), the points
(evaluation/data_size/points.py), the figure and CSV (evaluation/data_size/figure.py) and collecting
them (evaluation/data_size/collect.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluation.data_size.collect import DEFAULT_CSV, DEFAULT_OUT, collect
from evaluation.data_size.figure import format_table
from evaluation.data_size.points import DEFAULT_PARAMS, PARAM, Point
from evaluation.data_size.queue import (
    Runner,
    check_failures,
    dvc_runner,
    queue_experiments,
    start_queue,
    wait_for_queue,
)
from evaluation.data_size.sizes import check_available, parse_per_class, parse_sizes, per_class_sizes, prepared_splits
from pipelines.experiment import check_jobs, dispatch, guarded, queue_options

NAME = "data_size"
PROG = "python -m pipelines.data_size"


def _report(points: list[Point], figure: Path, table: Path) -> None:
    print(format_table(points))
    print(f"data_size: {len(points)} size{'s' if len(points) > 1 else ''} -> {figure}, {table}")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"figure to write (default {DEFAULT_OUT})")
    parser.add_argument("--csv", default=DEFAULT_CSV, help=f"CSV of the points (default {DEFAULT_CSV})")
    parser.add_argument(
        "--metrics-file",
        default=None,
        help="compare's DVC metrics as dvc names them: the folder of headline files (default: from params.yaml, reports/metrics) or, for runs made before it, a metrics.json",
    )


def _main_collect(argv: list[str], runner: Runner | None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} [collect]",
        description="Test accuracy vs real training size, from the DVC experiments that vary "
        f"{PARAM}: one figure (one line per source, 95%% CI band, up to three panels) and a "
        "CSV of the points.",
        epilog="To queue, run and then collect the experiments in one go: "
        f"{PROG} run --per-class 20,50,200,720 (see run --help).",
    )
    _output_options(parser)
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="read a saved `dvc exp show --json` output ('-' for stdin) instead of running dvc",
    )
    parser.add_argument(
        "--all-commits",
        action="store_true",
        help="also experiments based on older commits (dvc exp show --all-commits)",
    )
    parser.add_argument(
        "--experiments-only",
        action="store_true",
        help="leave out the workspace and the commit itself (their reports may be of other data)",
    )
    args = parser.parse_args(argv)

    def body() -> None:
        points, figure, table = collect(
            args.out,
            args.csv,
            from_json=args.from_json,
            all_commits=args.all_commits,
            metrics_file=args.metrics_file,
            runner=runner,
            experiments_only=args.experiments_only,
        )
        _report(points, figure, table)

    return guarded(NAME, PROG, "the figure", body)


def _main_run(argv: list[str], runner: Runner | None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} run",
        description="Queue one DVC experiment per real training size (dvc exp run --queue -S "
        f"{PARAM}=...), run them (dvc queue start), wait for all of them (dvc queue status), "
        f"then write the figure and the CSV as `{PROG}` does.",
    )
    sizes = parser.add_mutually_exclusive_group(required=True)
    sizes.add_argument(
        "--per-class",
        metavar="N,N,...",
        help="real training images per class; times the number of classes K of the prepared "
        "splits (needs `dvc repro` first) gives each experiment's data.train_size",
    )
    sizes.add_argument(
        "--sizes",
        metavar="N,N,...",
        help=f"{PARAM} values as given: a whole number > 1 is a count of images in total, "
        "a value <= 1 a fraction of the training split",
    )
    queue_options(parser)
    _output_options(parser)
    args = parser.parse_args(argv)

    def body() -> None:
        check_jobs(args.jobs)
        if args.per_class is not None:
            per_class = parse_per_class(args.per_class)
            prepared = prepared_splits(DEFAULT_PARAMS)
            assert prepared is not None  # required: a missing splits file raises instead
            todo: list[tuple[float, str]] = [
                (float(n), note) for n, note in per_class_sizes(per_class, prepared.num_classes)
            ]
        else:
            todo = [(size, "") for size in parse_sizes(args.sizes)]
            prepared = prepared_splits(DEFAULT_PARAMS, required=False) if Path(DEFAULT_PARAMS).is_file() else None
        check_available(todo, prepared)
        queue_runner = runner or dvc_runner()
        param = prepared.size_param if prepared is not None else PARAM  # data.labelled with a label budget
        queued = queue_experiments(todo, queue_runner, copy_paths=args.copy, overrides=args.overrides, param=param)
        start_queue(args.jobs, queue_runner)
        states = wait_for_queue(queued, queue_runner, poll_s=args.poll_seconds, stall_s=args.stall_seconds)
        check_failures(queued, states)
        # the sizes just run: experiments only (the workspace's reports may be of other data)
        points, figure, table = collect(
            args.out, args.csv, metrics_file=args.metrics_file, runner=queue_runner, experiments_only=True
        )
        _report(points, figure, table)

    return guarded(NAME, PROG, "the figure", body)


def main(argv: list[str] | None = None, runner: Runner | None = None) -> int:
    """``python -m pipelines.data_size [collect] [options]`` or ``... run --per-class N,N,...``.

    ``runner`` replaces the dvc subprocess (tests); by default the installed dvc runs."""
    return dispatch(argv, runner, _main_run, _main_collect)


if __name__ == "__main__":
    sys.exit(main())
