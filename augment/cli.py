"""The ``augment`` command: train, sample, inspect.

    augment train MODEL [--params FILE] [--set KEY=VALUE ...] [--out PATH] [--resume]
    augment sample MODEL -n N [--seed S] [--out PATH] [--grid PNG]
    augment info CHECKPOINT
    augment stylize MODEL [--out DIR]
    augment ui [--port P]

MODEL is a generator's name (cvae, cgan, cvaegan, cfm or an installed plugin's), a checkpoint file or an MLflow model URI
(``models:/augment-cvaegan/1``); CHECKPOINT a checkpoint file or such a URI.

Expected errors (bad parameters or arguments, missing, corrupt or unsafe files, outputs that
cannot be written) print one line naming the problem and exit with code 2; no traceback, and no
partial output. A training whose loss turns NaN or infinite exits 1, keeping the checkpoint of
its last finished epoch; Ctrl-C exits 130 and keeps it too (continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from augment.errors import OneLineArgumentParser, report_errors
from augment.params.config import DEFAULT_PARAMS_FILE, GENERATOR_NAMES
from augment.settings.version import __version__


def _add_params_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=DEFAULT_PARAMS_FILE, metavar="FILE", help="params file (default: %(default)s)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a params.yaml key by its dotted name, e.g. generators.cgan.d_steps=2 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="augment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a generator on the real training split")
    p.add_argument(
        "model", help=f"which generator: {', '.join(GENERATOR_NAMES)} or an installed plugin's name (docs/plugins.md)"
    )
    _add_params_args(p)
    p.add_argument(
        "--out",
        type=Path,
        help="checkpoint path (default: <paths.generators>/<model>.pt); elsewhere, its loss table and "
        "progress grids go beside it, to <out without .pt>-training/",
    )
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint's last finished epoch")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel over N processes on this machine: runs this command under "
        "torchrun --nproc-per-node N (augment/core/distributed.py; default: 1, no torchrun)",
    )
    p.set_defaults(func="cmd_train")

    p = sub.add_parser("sample", help="sample a labeled, class-balanced synthetic dataset")
    p.add_argument(
        "model",
        help=f"a model name ({', '.join(GENERATOR_NAMES)} or a plugin's), a checkpoint path, or an MLflow "
        "model URI (models:/augment-cvaegan/1)",
    )
    p.add_argument("-n", "--num-samples", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, help="fixes every image by (seed, index) (default: sample.seed)")
    p.add_argument("--out", type=Path, help="output file (default: <paths.synthetic>/<model>.pt)")
    p.add_argument("--grid", type=Path, help="also write a PNG grid of the first images of each class")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_params_args(p)
    p.set_defaults(func="cmd_sample")

    p = sub.add_parser("info", help="describe a generator checkpoint")
    p.add_argument(
        "checkpoint",
        help="a checkpoint path, or an MLflow model URI (models:/augment-cvaegan/1; "
        "the store of MLFLOW_TRACKING_URI, else the project's mlflow.db)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func="cmd_info")

    p = sub.add_parser("stylize", help="stylisation and latent interpolation grids of a generator")
    p.add_argument(
        "model",
        help=f"a model name ({', '.join(GENERATOR_NAMES)} or a plugin's), a checkpoint path or an MLflow model URI",
    )
    _add_params_args(p)
    p.add_argument("--out", type=Path, help="output folder (default: <paths.reports>/stylize/<model>/)")
    p.add_argument("--rows", type=int, help="real images in the stylisation grid (default: one per class)")
    p.add_argument("--seed", type=int, default=0, help="picks the real images and prior codes (default: %(default)s)")
    p.add_argument(
        "--split",
        choices=("test", "val", "train"),
        default="test",
        help="real split the images come from (default: %(default)s)",
    )
    p.add_argument("--steps", type=int, default=8, help="images per interpolation row (default: %(default)s)")
    p.add_argument(
        "--pairs",
        type=int,
        default=4,
        help="interpolation rows within a class, and as many across classes (default: %(default)s)",
    )
    p.add_argument(
        "--only",
        choices=("stylize", "interpolate"),
        help="write only this figure (stylize fails for a cgan: it has no encoder)",
    )
    p.set_defaults(func="cmd_stylize")

    p = sub.add_parser("ui", help="start `mlflow ui` on this project's runs and print the runs page's address")
    _add_params_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=5000, help="port (default: %(default)s)")
    p.set_defaults(func="cmd_ui")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``augment`` console script.

    Expected errors print one line, ``augment COMMAND: error: ...``, and return 2 (bad
    parameters, files, data; a path that cannot be written) or 1 (training diverged); Ctrl-C
    returns 130. Anything else is a bug and keeps its traceback.
    """
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for a relaunch under torchrun
    command = getattr(importlib.import_module("augment.commands"), args.func)  # torch is imported here
    return report_errors(f"augment {args.command}", lambda: command(args))


if __name__ == "__main__":
    sys.exit(main())
