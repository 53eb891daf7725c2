"""What every stage script shares: argument parsing, params loading and error handling.

Expected errors (bad params, missing inputs, unreachable tracking store) print one line and
exit with code 2, without a traceback; DVC then stops the pipeline at that stage. A diverged
training exits 1, Ctrl-C 130. Stages write their outputs all or nothing
(:class:`augment.core.outputs.StagedOutputs`), so a failed stage leaves no partial output behind.
"""

from __future__ import annotations

import argparse
import difflib
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from augment.errors import OneLineArgumentParser, report_errors
from augment.params.config import DEFAULT_PARAMS_FILE, ConfigError, Params
from augment.params.file import load_params
from augment.training.device import configure_torch


@dataclass(frozen=True)
class ParamsChoices:
    """The items of a stage that the params list (dvc.yaml's foreach over a params key)."""

    key: str  # the dotted params key, named in the error for an item it does not list
    read: Callable[[Params], Sequence[str]]


def run_stage(
    name: str,
    body: Callable[[Params, argparse.Namespace], None],
    argv: Sequence[str] | None = None,
    choices: Sequence[str] | ParamsChoices | None = None,
) -> int:
    """Parse ``[ITEM] [--params FILE] [--set KEY=VALUE ...]``, load params, run ``body``.

    ``choices``: the items the stage takes (dvc.yaml's foreach), fixed, or read from the params
    (:class:`ParamsChoices`, e.g. the methods of generators.methods): an item outside them is one
    line, exit 2."""
    parser = OneLineArgumentParser(prog=f"pipelines/{name}.py", description=body.__doc__)
    if isinstance(choices, ParamsChoices):
        parser.add_argument("item", metavar=choices.key.rsplit(".", 1)[-1].upper())
    elif choices is not None:
        parser.add_argument("item", choices=list(choices))
    parser.add_argument("--params", default=DEFAULT_PARAMS_FILE, metavar="FILE")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def run() -> None:
        params = load_params(args.params, args.overrides)
        if isinstance(choices, ParamsChoices) and args.item not in choices.read(params):
            listed = list(choices.read(params))
            near = difflib.get_close_matches(args.item, listed, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(
                f"{args.item!r} is not in {choices.key} ({', '.join(listed) or 'empty'}); {hint}"
                f"a stage runs only what the params list"
            )
        configure_torch(params)
        body(params, args)

    code = report_errors(name, run)
    if code:
        return code
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    label = f"{name}@{args.item}" if choices is not None else name
    total = time.time() - psutil.Process().create_time()  # including Python and torch start-up
    print(
        f"{label}: done in {total:.1f} s ({time.perf_counter() - started:.1f} s of work), peak memory {peak_mb:.0f} MB"
    )
    return 0
