"""``augment train --nproc N``: start N ranks on this machine and report their outcome as one
command would — one line and the project's exit code (augment/errors.py), not torchrun's report.

The ranks are started by torch's own elastic launcher (what ``torchrun --standalone
--nproc-per-node N -m augment.cli ...`` runs), called in this process so that its failure comes
back as an object instead of a printed report:

- every rank runs ``python -m augment.cli`` with the same arguments, minus ``--nproc``; it sees
  ``WORLD_SIZE`` and trains instead of launching again (augment/cli.py ``cmd_train``);
- a rank that meets an expected error does not print it: it writes ``CODE`` and its one line to
  ``$AUGMENT_RANK_ERRORS/RANK`` (augment/errors.py) and exits with CODE; the launcher then prints
  the lowest failed rank's line, once, and exits with its code (2 for bad input, 1 for a diverged
  training, 130 for Ctrl-C), whatever torchrun would have said;
- a rank that dies any other way (a bug, a signal) keeps its own traceback on stderr, and the
  launcher adds one line naming the rank and its exit code, exiting 1.

torchrun's agent logs (rendezvous, "failed (exitcode: 2) local_rank: ...") are silenced; the
ranks' own stdout/stderr pass through unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import uuid
from pathlib import Path

from augment.errors import EXIT_FAILED, EXIT_INTERRUPTED, RANK_ERRORS_ENV


def strip_nproc(command: list[str]) -> list[str]:
    """``command`` without ``--nproc N`` in any spelling argparse accepts (--nproc=N, --npr N, ...)."""
    argv, skip = [], False
    for arg in command:
        flag = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif len(flag) >= 4 and "--nproc".startswith(flag):
            skip = "=" not in arg
        else:
            argv.append(arg)
    return argv


def launch_ranks(nproc: int, command: list[str], label: str) -> int:
    """Run ``augment`` ``command`` (without ``--nproc``) as ``nproc`` local ranks; return the exit
    code, having printed the first failed rank's one-line error as ``LABEL: error: ...``."""
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc > 1:  # torchrun's default: one OpenMP thread per rank unless the user set one
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = LaunchConfig(  # torchrun --standalone: a local c10d store on a free port, no restarts
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
    )
    agent_log = logging.getLogger("torch.distributed.elastic")
    level = agent_log.level
    with tempfile.TemporaryDirectory(prefix="augment-ranks-") as errors:
        os.environ[RANK_ERRORS_ENV] = errors  # inherited by the ranks only through this launch
        agent_log.setLevel(logging.CRITICAL)
        try:
            elastic_launch(config, entrypoint=sys.executable)("-u", "-m", "augment.cli", *strip_nproc(command))
            return 0
        except ChildFailedError as err:
            return _report(Path(errors), label) or _died(err, label)
        except SignalException:  # Ctrl-C (or SIGTERM) reached the launcher; the ranks were stopped
            return _report(Path(errors), label) or _interrupted(label)
        finally:
            agent_log.setLevel(level)
            del os.environ[RANK_ERRORS_ENV]


def _report(errors: Path, label: str) -> int | None:
    """Print the lowest failed rank's recorded one-line error and return its code (None: none)."""
    for path in sorted(errors.iterdir(), key=lambda p: int(p.name)):
        code, _, message = path.read_text().partition("\n")
        print(message.rstrip("\n"), file=sys.stderr)
        return int(code)
    return None


def _died(err, label: str) -> int:
    """No rank recorded an expected error: name the first rank that died (its traceback is above)."""
    rank, failure = min(err.failures.items())  # {global rank: ProcessFailure}
    print(f"{label}: error: rank {rank} exited with code {failure.exitcode} (its output is above)", file=sys.stderr)
    return EXIT_FAILED


def _interrupted(label: str) -> int:
    print(f"{label}: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED
