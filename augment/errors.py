"""Expected errors -> one line on stderr and an exit code: one mapping for the ``augment``
command and every pipeline stage.

    2    bad parameters or arguments; missing, corrupt or unsafe files; an output that cannot be
         written; an unusable tracking store (nothing was written)
    1    a training diverged (the last good checkpoint is kept)
    130  interrupted with Ctrl-C
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from augment.params.config import ConfigError, one_line

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
# Set by ``augment train --nproc N`` (augment/launcher.py) for its ranks: a rank records its
# one-line error in this folder, in a file named after its rank, for the launcher to print once.
RANK_ERRORS_ENV = "AUGMENT_RANK_ERRORS"


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (``PROG: error: MESSAGE; see PROG --help``) and exit
    code 2, like every other expected error, instead of the usage block followed by the error."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}; see {self.prog} --help\n")


def report_errors(label: str, run: Callable[[], int | None]) -> int:
    """Call ``run``; turn the expected errors into ``LABEL: error: ...`` and their exit code."""
    # imported here, not above: the parser of `augment --help` / `--version` needs none of them
    # (they bring torch, about seconds to import)
    from augment.data.labeled import DataError
    from augment.tracking.store import TrackingError
    from augment.training.checkpoint import CheckpointError
    from augment.training.loop import TrainingDiverged

    def fail(message: str, code: int) -> int:
        folder, rank = os.environ.get(RANK_ERRORS_ENV), os.environ.get("RANK")
        if folder and rank is not None:  # a rank of a launch: the launcher prints it, once
            Path(folder, rank).write_text(f"{code}\n{label}: {message}\n")
        else:
            print(f"{label}: {message}", file=sys.stderr)
        return code

    try:
        return run() or 0
    except (ConfigError, DataError, CheckpointError, TrackingError, FileNotFoundError, ValueError) as err:
        return fail(f"error: {one_line(err)}", EXIT_USAGE)
    except OSError as err:  # an output that cannot be written: no space, no permission, ...
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        return fail(f"error: {one_line(err.strerror or err)}{where}", EXIT_USAGE)
    except TrainingDiverged as err:
        return fail(f"error: {one_line(err)}", EXIT_FAILED)
    except KeyboardInterrupt as err:
        return fail(f"interrupted: {one_line(err) or 'no output was written'}", EXIT_INTERRUPTED)
