"""Command: the classic sweep, the strongest simple classical augmentation for this data.

Every verdict of the report is "against classical augmentation", so that bar must be the best
simple augmentation for the data at hand, not settings chosen on digits::

    python -m pipelines.classic_sweep --write        # or: make classic-sweep

It loads the splits params.yaml describes (with ``--set`` overrides), trains the downstream
classifier on the labelled training split with each setting for ``--seeds`` seeds, and scores
it on the validation split only (one half selects the step, the other measures:
evaluation/classic_sweep/measure.py); the test split is never read. The settings are tried one
axis at a time from params.yaml's (flips, rotation, shift, zoom, erasing:
evaluation/classic_sweep/search.py), each axis's candidates an option (``--degrees 0,5,10,20``).
It prints the table of what it tried, the winner against the runner-up with the paired
interval, and writes one CSV row per setting and seed (``--csv``). With ``--write`` the winner and
its record (``augmentation.swept``, which the report reads: evaluation/classic_sweep/record.py)
go into the params file in place, comments kept; without it, the ``-S`` overrides to pass to
``dvc exp run`` are printed. Bad options or params are one line, exit 2 (docs/classic_sweep.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from augment.core.outputs import StagedOutputs, check_writable_file, write_csv
from augment.data.splits import load_splits
from augment.errors import OneLineArgumentParser, report_errors
from augment.params.config import DEFAULT_PARAMS_FILE, AugmentationConfig, ConfigError
from augment.params.edit import edited_text, set_values, yaml_scalar
from augment.params.file import load_params
from augment.training.device import configure_torch, resolve_device
from evaluation.classic_sweep.axes import DEFAULT_AXES, JITTER, SWEPT_FIELDS, Axis, axes_named, parse_values
from evaluation.classic_sweep.measure import Validation
from evaluation.classic_sweep.record import data_description, record
from evaluation.classic_sweep.search import NONE, SweepResult, sweep
from evaluation.quality.stats import paired_delta, summarize

PROG = "python -m pipelines.classic_sweep"
DEFAULT_CSV = "reports/classic_sweep.csv"
DEFAULT_SEEDS = 3


def say(message: str) -> None:
    """One plain progress line (no carriage returns: it also goes to logs)."""
    print(f"classic_sweep: {message}", flush=True)


def _points(d: dict) -> str:
    return f"{100 * d['mean']:+.2f} [{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}]"


def table(result: SweepResult) -> str:
    """What the sweep tried, in order: mean validation accuracy with its 95 % interval and the
    paired difference to no augmentation; the winner in bold."""
    lines = [
        "| # | varied | setting | validation accuracy [95% CI] | vs none (points, paired) | seconds |",
        "|---|---|---|---|---|---|",
    ]
    none = result.reference
    for i, t in enumerate(result.trials, 1):
        s = summarize(t.accuracies)
        acc = f"{s['mean']:.4f} [{s['ci_low']:.4f}, {s['ci_high']:.4f}]"
        versus = "" if t is none else _points(paired_delta(t.accuracies, none.accuracies))
        label = f"**{t.label}**" if t is result.winner else t.label
        lines.append(f"| {i} | {t.axis} | {label} | {acc} | {versus} | {t.seconds:.0f} |")
    return "\n".join(lines)


def verdict_line(result: SweepResult) -> str:
    """The winner against the runner-up, and what the seeds can resolve."""
    if result.runner_up is None or result.delta is None:
        return f"one setting tried: {result.winner.label}"
    d = result.delta
    half = 100 * (d["ci_high"] - d["ci_low"]) / 2
    if d["ci_low"] > 0:
        reading = (
            "the winner is ahead beyond the interval (an optimistic reading: these images also picked it "
            f"as the best of {len(result.trials)} settings)"
        )
    else:
        reading = (
            f"the validation split cannot tell the two apart (differences under about {half:.2f} points "
            "are below what these seeds resolve; more --seeds or a larger validation split would)"
        )
    return (
        f"winner {result.winner.label} ({result.winner.mean:.4f}) vs runner-up {result.runner_up.label} "
        f"({result.runner_up.mean:.4f}): {_points(d)} points, paired over {d['n']} seeds: {reading}"
    )


def changes(start: AugmentationConfig, winner: AugmentationConfig, swept: str) -> dict[str, float | str]:
    """The ``augmentation.*`` values to set: the fields the winner changed, and the record."""
    values: dict[str, float | str] = {
        f"augmentation.{name}": float(getattr(winner, name))
        for name in SWEPT_FIELDS
        if getattr(winner, name) != getattr(start, name)
    }
    values["augmentation.swept"] = swept
    return values


def _rows(result: SweepResult) -> list[dict]:
    return [
        {
            "trial": i,
            "varied": t.axis,
            "setting": t.label,
            **{name: getattr(t.config, name) for name in SWEPT_FIELDS},
            "seed_index": k,
            "val_accuracy": acc,
            "seconds": round(t.seconds, 1),
        }
        for i, t in enumerate(result.trials, 1)
        for k, acc in enumerate(t.accuracies)
    ]


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROG,
        description="Sweep the classical augmentation's settings on the validation split and keep the best "
        "(docs/classic_sweep.md).",
    )
    parser.add_argument("--params", default=DEFAULT_PARAMS_FILE, metavar="FILE")
    parser.add_argument("--set", "-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--seeds", type=int, default=DEFAULT_SEEDS, help=f"classifier seeds per setting (default {DEFAULT_SEEDS})"
    )
    parser.add_argument(
        "--axes",
        default=None,
        metavar="A,A,...",
        help=f"the axes to sweep, in this order (default: all; {JITTER} on RGB data only)",
    )
    for axis in DEFAULT_AXES:
        parser.add_argument(
            f"--{axis.name}",
            default=",".join(f"{v:g}" for v in axis.values),
            metavar="V,V,...",
            help=f"{axis.help}: candidates (default {','.join(f'{v:g}' for v in axis.values)})",
        )
    parser.add_argument(
        "--write", action="store_true", help="write the winner into the params file (else print the -S overrides)"
    )
    parser.add_argument("--csv", default=DEFAULT_CSV, help=f"one row per setting and seed (default {DEFAULT_CSV})")
    return parser


def _axes(args: argparse.Namespace, channels: int) -> list[Axis]:
    """The axes of --axes, in its order, with their candidates (by default every axis, colour
    jitter on RGB data only); every axis option is checked, swept or not, so a bad value is
    never silently ignored."""
    parsed = {a.name: parse_values(a, getattr(args, a.name)) for a in DEFAULT_AXES}
    default = [a.name for a in DEFAULT_AXES if a.name != JITTER or channels == 3]
    names = [n.strip() for n in (args.axes if args.axes is not None else ",".join(default)).split(",") if n.strip()]
    if not names:
        raise ConfigError("--axes: name at least one axis")
    return [parsed[a.name] for a in axes_named(names)]


def run(args: argparse.Namespace) -> None:
    if args.seeds < 2:
        raise ConfigError(f"--seeds: an interval needs >= 2 seeds, got {args.seeds}")
    _axes(args, 3)  # the options, checked before anything is loaded
    params = load_params(args.params, args.overrides)
    # Every output is checked before the work, not after it.
    check_writable_file(args.csv, "--csv")
    if args.write:
        _check_write(args, params.augmentation)
    configure_torch(params)
    device = resolve_device(params.device)
    started = time.perf_counter()
    splits = load_splits(params.data)
    axes = _axes(args, splits.image_shape[0])
    measure = Validation(
        splits.train, splits.val, splits.num_classes, params.classifier, range(args.seeds), device,
        params.acceleration, split_seed=params.data.seed,
    )  # fmt: skip
    c = params.classifier
    say(
        f"{data_description(params.data)}: {len(splits.train)} labelled training images; validation "
        f"{len(measure.select)} to select the step + {len(measure.measure)} to measure (the test split is not "
        f"read); {c.steps} steps a classifier, {args.seeds} seeds a setting; axes "
        + "; ".join(f"{a.name} " + ",".join(f"{v:g}" for v in a.values) for a in axes)
    )
    result = sweep(params.augmentation, axes, measure, log=say)
    print(table(result))
    say(verdict_line(result))
    swept = record(params.data, result.winner.config, args.seeds)
    values = changes(params.augmentation, result.winner.config, swept)
    if result.winner.axis == NONE and result.winner.config != params.augmentation:
        say("no augmentation measured best: the bar is then the real data alone")
    rows = _rows(result)
    with StagedOutputs() as staged:  # the CSV and the params file land together
        write_csv(staged.path(args.csv), list(rows[0]), rows)
        if args.write:
            set_values(args.params, values, staged)
    if args.write:
        say(f"wrote {len(values)} value{'s' if len(values) != 1 else ''} into {args.params}: " + _assignments(values))
    else:
        say("to use it: dvc exp run " + " ".join(f"-S '{k}={yaml_scalar(v)}'" for k, v in values.items()))
        say(f"or run again with --write to put it into {args.params}")
    say(f"{len(result.trials)} settings in {time.perf_counter() - started:.0f} s -> {args.csv}")


# What --write cannot honour: an override of these would be measured but not be in the file,
# and the record would then describe params the file does not hold.
_NOT_WITH_WRITE = ("data.", "augmentation.")


def _check_write(args: argparse.Namespace, start: AugmentationConfig) -> None:
    """Before any training: --write can put a result into the params file."""
    for override in args.overrides:
        key = override.split("=", 1)[0].strip()
        if key.startswith(_NOT_WITH_WRITE):
            raise ConfigError(
                f"--write with --set {key}: the sweep would measure a value {args.params} does not hold; "
                "put it into the file first, or drop --write and use the printed -S overrides"
            )
    if not os.access(args.params, os.W_OK):
        raise ConfigError(f"--write: {args.params} is not writable")
    every = {f"augmentation.{name}": getattr(start, name) for name in SWEPT_FIELDS}
    edited_text(args.params, {**every, "augmentation.swept": "a record"})  # the file can take the edit


def _assignments(values: dict) -> str:
    return ", ".join(f"{k.split('.', 1)[1]}={yaml_scalar(v)}" for k, v in values.items() if not k.endswith(".swept"))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return report_errors("classic_sweep", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
