"""What the experiment commands share (data_size.py, regime_map.py): the ``run`` / ``collect``
dispatch, the options of a DVC queue, and the tails that turn expected failures into one line.

Both commands queue DVC experiments, wait for them and draw a figure from them; their own files
say which experiments and which figure. An expected failure (:class:`DataSizeError`: bad options,
a failed experiment, dvc missing) prints ``<command>: error: <one line>`` and exits 2; Ctrl-C while
waiting exits 130 and says that the queued experiments keep running and how to draw the figure
once they finish.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from evaluation.data_size.points import DataSizeError
from evaluation.data_size.queue import DEFAULT_POLL_S, DEFAULT_STALL_S, Runner

__all__ = ["EXIT_USAGE", "EXIT_INTERRUPTED", "check_jobs", "dispatch", "guarded", "queue_options"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Main = Callable[[list[str], "Runner | None"], int]


def dispatch(argv: list[str] | None, runner: Runner | None, run: Main, collect: Main) -> int:
    """``[collect] [options]`` -> ``collect``, ``run [options]`` -> ``run`` (argv: sys.argv's by default)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"]:
        return run(args[1:], runner)
    if args[:1] == ["collect"]:
        args = args[1:]
    return collect(args, runner)


def queue_options(parser: argparse.ArgumentParser) -> None:
    """The options of running a DVC queue: --jobs, --set, --copy, --poll-seconds, --stall-seconds."""
    parser.add_argument(
        "--jobs", "-j", type=int, default=1, help="experiments run at a time (dvc queue start -j; default 1)"
    )
    parser.add_argument(
        "--set",
        "-S",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another param for every experiment (dvc exp run -S), e.g. cpu_threads=1 with --jobs 2; repeatable",
    )
    parser.add_argument(
        "--copy",
        "-C",
        action="append",
        default=[],
        metavar="PATH",
        help="an untracked or git-ignored path the experiments need (a dataset under data/raw), "
        "copied into each (dvc exp run -C); repeatable",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=DEFAULT_POLL_S,
        help=f"seconds between two `dvc queue status` (default {DEFAULT_POLL_S:g})",
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        default=DEFAULT_STALL_S,
        help=f"give up when no worker is active for this long while experiments wait (default {DEFAULT_STALL_S:g})",
    )


def check_jobs(jobs: int) -> None:
    """--jobs must be a whole number >= 1."""
    if jobs < 1:
        raise DataSizeError(f"--jobs: expected a whole number >= 1, got {jobs}")


def guarded(name: str, prog: str, product: str, body: Callable[[], None]) -> int:
    """Run ``body``; a :class:`DataSizeError` is one line and exit 2, Ctrl-C exit 130 with what
    to do next (``product``: what ``prog`` draws from the experiments once they finish)."""
    try:
        body()
    except DataSizeError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            f"{name}: interrupted; queued experiments keep running in the background (`dvc queue status`); "
            f"draw {product} once they finish with `{prog}`",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0
