"""DVC for the data-size product and the regime map: run ``dvc`` as a subprocess, queue experiments, wait.

Every DVC call goes through a :data:`Runner` (``dvc`` arguments -> completed process), so tests can
fake DVC and the command (pipelines/data_size.py) runs the installed one (:func:`dvc_runner`):

- ``dvc exp run --queue -S data.train_size=<size>`` (:func:`queue_experiments`; any settings:
  :func:`queue_runs`), ``dvc queue start -j <jobs>`` (:func:`start_queue`) and ``dvc queue status`` (:func:`wait_for_queue`,
  :func:`parse_queue_status`) have no Python API in ``dvc.api`` (DVC 3.67 offers ``exp_save`` and
  ``exp_show`` only), so they are DVC's command line;
- ``dvc exp show --json`` (:func:`dvc_exp_show`) too: ``dvc.api.exp_show()`` returns a table that
  lacks the full revs, the ISO timestamps and the metrics file of each column (the list is in
  evaluation/data_size/points.py, which parses the JSON document).

The outputs of ``dvc queue`` parsed here (DVC 3): ``dvc exp run --queue`` prints one ``Queued
experiment '<name>' for future execution.`` per experiment; ``dvc queue status`` a table ``Task Name
Created Status`` (status: Queued, Running, Success, Failed) and a last line ``Worker status: <n>
active, <m> idle``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.data_size.points import PARAM, DataSizeError

DEFAULT_POLL_S = 10.0
DEFAULT_STALL_S = 300.0
_QUEUED_RE = re.compile(r"Queued experiment '([^']+)'")
_WORKERS_RE = re.compile(r"Worker status:\s*(\d+)\s+active,\s*(\d+)\s+idle")
QUEUE_STATES = ("Queued", "Running", "Success", "Failed")
FINISHED_STATES = ("Success", "Failed")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
"""Runs ``dvc <args>`` and returns the completed process (``returncode``, ``stdout``, ``stderr``)."""


def _last_line(done: subprocess.CompletedProcess[str], prefer: str = "stderr") -> str:
    """The last non-blank line of ``prefer`` (stderr or stdout), else of the other stream."""
    streams = (done.stderr, done.stdout) if prefer == "stderr" else (done.stdout, done.stderr)
    for text in streams:
        lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
        if lines:
            return lines[-1]
    return "no message"


def _dvc_executable() -> str:
    """The dvc on PATH, else the one next to this Python (the venv's, when it is not activated)."""
    exe = shutil.which("dvc")
    if exe is None:
        candidate = Path(sys.executable).with_name("dvc")
        exe = str(candidate) if candidate.is_file() else None
    if exe is None:
        raise DataSizeError(
            "dvc is not available: activate the project's venv (`source .venv/bin/activate`) "
            "or install dvc, or pass --from-json FILE"
        )
    return exe


def dvc_runner(cwd: str | Path | None = None) -> Runner:
    """A :data:`Runner` for the installed dvc, run in ``cwd`` with dvc's folder first on PATH: the
    queue worker that ``dvc queue start`` spawns runs ``dvc``, and the stages run ``python``, both
    looked up on PATH, so this works from a venv that is not activated (``make data-size``).

    Output goes through temporary files, not pipes: the worker that ``dvc queue start`` leaves
    behind inherits them, and a pipe would keep that command waiting until the worker exits."""
    exe = _dvc_executable()
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(exe).parent), os.environ.get("PATH", "")]))

    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                done = subprocess.run([exe, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            except OSError as error:
                raise DataSizeError(f"dvc is not available: {error}") from None
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())

    return run


def _dvc(runner: Runner, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``dvc <args>`` through ``runner``; a non-zero exit is a DataSizeError naming the command."""
    done = runner(list(args))
    if done.returncode != 0:
        raise DataSizeError(f"`dvc {' '.join(args)}` failed (exit {done.returncode}): {_last_line(done)}")
    return done


def dvc_exp_show(all_commits: bool = False, cwd: str | Path | None = None, runner: Runner | None = None) -> str:
    """The text of ``dvc exp show --json`` (run in ``cwd`` unless a ``runner`` is given). Raises
    DataSizeError when DVC is missing or fails (not a DVC repository, ...)."""
    args = ["exp", "show", "--json"] + (["--all-commits"] if all_commits else [])
    return _dvc(runner or dvc_runner(cwd), args).stdout


@dataclass
class Queued:
    """One experiment queued by :func:`queue_runs` (or :func:`queue_experiments`)."""

    name: str  # as ``dvc queue status`` and ``dvc queue logs`` name it
    train_size: float  # the data.train_size it runs with
    note: str = ""  # how the size was asked for ("20 per class x 10 classes")
    sets: tuple[str, ...] = ()  # its own -S KEY=VALUE settings (those of every experiment left out)

    def describe(self) -> str:
        """How a message names the experiment: ``adult-rues (data.train_size=200)``."""
        return f"{self.name} ({', '.join(self.sets) or f'{PARAM}={size_text(self.train_size)}'})"


@dataclass
class Run:
    """One experiment to queue: its own -S settings (data.train_size first) and a note for the log."""

    train_size: float
    sets: tuple[str, ...]  # KEY=VALUE, as dvc exp run -S takes them
    note: str = ""


@dataclass
class QueueTask:
    """One line of ``dvc queue status``."""

    task: str  # the first 7 characters of the queued stash revision
    name: str  # the experiment name ("" when DVC has none)
    status: str  # Queued | Running | Success | Failed (| Unknown)


@dataclass
class QueueStatus:
    """``dvc queue status`` parsed: its tasks and the worker counts (None when not printed)."""

    tasks: list[QueueTask]
    active: int | None = None
    idle: int | None = None

    def state_of(self, name: str) -> str | None:
        """The status of the experiment ``name`` (or task id), None when the queue does not list it."""
        for task in self.tasks:
            if name in (task.name, task.task):
                return task.status
        return None


def parse_queue_status(text: str) -> QueueStatus:
    """Parse ``dvc queue status`` (DVC 3)::

        Task     Name        Created    Status
        3619d4f  adult-rues  09:05 AM   Success
        3b799f9  light-hows  09:05 AM   Failed

        Worker status: 0 active, 1 idle

    Columns are cut at the header's positions (a name may be empty, a date has spaces); ``No
    experiment tasks in the queue.`` gives no tasks."""
    status = QueueStatus(tasks=[])
    columns: list[int] | None = None
    for line in text.splitlines():
        tokens = line.split()
        workers = _WORKERS_RE.search(line)
        if workers:
            status.active, status.idle = int(workers.group(1)), int(workers.group(2))
        elif tokens[:2] == ["Task", "Name"] and tokens[-1] == "Status":
            columns = [line.index(word) for word in ("Task", "Name", "Created", "Status")]
        elif len(tokens) >= 2 and (tokens[-1] in QUEUE_STATES or tokens[-1] == "Unknown"):
            if columns is not None and len(line) > columns[3]:
                name = line[columns[1] : columns[2]].strip()
            else:  # no header: take the second word as the name
                name = tokens[1] if len(tokens) >= 3 else ""
            status.tasks.append(QueueTask(task=tokens[0], name=name, status=tokens[-1]))
    return status


def size_text(size: float) -> str:
    """A data.train_size value as -S takes it: ``200``, ``0.25``."""
    return str(int(size)) if float(size).is_integer() else f"{size:g}"


def say(message: str) -> None:
    """One plain progress line of the command (no carriage returns: it also goes to logs)."""
    print(f"data_size: {message}", flush=True)


def queue_runs(
    runs: Sequence[Run],
    runner: Runner,
    copy_paths: Sequence[str] = (),
    log: Callable[[str], None] = say,
    overrides: Sequence[str] = (),
) -> list[Queued]:
    """``dvc exp run --queue -S KEY=VALUE ...`` for each run (its own settings, then each of
    ``overrides``, the same for every run), with ``-C PATH`` for each of ``copy_paths`` (untracked
    or ignored paths the experiment needs, such as a dataset under data/raw); the names DVC gave.

    Raises DataSizeError on a failure, naming the experiments already queued."""
    queued: list[Queued] = []
    copies = [arg for path in copy_paths for arg in ("-C", path)]
    common = [arg for override in overrides for arg in ("-S", override)]
    for run in runs:
        own = [arg for setting in run.sets for arg in ("-S", setting)]
        args = ["exp", "run", "--queue", *own, *common, *copies]
        try:
            done = _dvc(runner, args)
            names = _QUEUED_RE.findall((done.stdout or "") + "\n" + (done.stderr or ""))
            if not names:
                raise DataSizeError(
                    f"`dvc {' '.join(args)}` printed no \"Queued experiment '<name>'\" line: {_last_line(done)}"
                )
        except DataSizeError as err:
            if queued:
                names_so_far = " ".join(q.name for q in queued)
                raise DataSizeError(
                    f"{err}; already queued: {names_so_far} (drop them with `dvc queue remove {names_so_far}`)"
                ) from None
            raise
        queued.append(Queued(name=names[-1], train_size=float(run.train_size), note=run.note, sets=tuple(run.sets)))
        log(f"queued {names[-1]} ({', '.join(run.sets)}{', ' + run.note if run.note else ''})")
    return queued


def queue_experiments(
    sizes: Sequence[tuple[float, str]],
    runner: Runner,
    copy_paths: Sequence[str] = (),
    log: Callable[[str], None] = say,
    overrides: Sequence[str] = (),
    param: str = PARAM,
) -> list[Queued]:
    """``dvc exp run --queue -S data.train_size=<size>`` for each ``(size, note)`` (the data-size
    product), through :func:`queue_runs`; ``param`` ``data.labelled`` sizes label budgets instead."""
    runs = [Run(train_size=size, sets=(f"{param}={size_text(size)}",), note=note) for size, note in sizes]
    queued = queue_runs(runs, runner, copy_paths=copy_paths, log=log, overrides=overrides)
    for q in queued:  # messages name a size by the size alone, as before
        q.sets = ()
    return queued


def start_queue(jobs: int, runner: Runner, log: Callable[[str], None] = say) -> None:
    """``dvc queue start -j <jobs>``: returns at once; the worker runs in the background."""
    done = _dvc(runner, ["queue", "start", "-j", str(jobs)])
    log(f"dvc queue start -j {jobs}: {_last_line(done, prefer='stdout')}")


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s"


def wait_for_queue(
    queued: Sequence[Queued],
    runner: Runner,
    poll_s: float = DEFAULT_POLL_S,
    stall_s: float = DEFAULT_STALL_S,
    log: Callable[[str], None] = say,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    collect_command: str = "python -m pipelines.data_size",
) -> dict[str, str]:
    """Poll ``dvc queue status`` until every experiment of ``queued`` is Success or Failed; their
    states by name. One plain line each time the count of finished ones changes.

    Raises DataSizeError when, for ``stall_s`` seconds, none of them runs and no worker is active
    (the worker died or never started), or one of them is no longer listed (removed)."""
    names = [q.name for q in queued]
    start = clock()
    reported = None
    stalled_since = None
    while True:
        status = parse_queue_status(_dvc(runner, ["queue", "status"]).stdout)
        states = {n: status.state_of(n) for n in names}
        finished = [n for n in names if states[n] in FINISHED_STATES]
        failed = [n for n in names if states[n] == "Failed"]
        running = [n for n in names if states[n] == "Running"]
        if len(finished) != reported:
            reported = len(finished)
            waiting = len(names) - len(finished) - len(running)
            log(
                f"{len(finished)}/{len(names)} experiments finished ({len(running)} running, {waiting} waiting"
                f"{', failed: ' + ', '.join(failed) if failed else ''}) after {_elapsed(clock() - start)}"
            )
        if len(finished) == len(names):
            return {n: s for n, s in states.items() if s is not None}  # every one is listed
        missing = [n for n in names if states[n] is None]
        stalled = bool(missing) or (status.active == 0 and not running)
        if not stalled:
            stalled_since = None
        else:
            stalled_since = clock() if stalled_since is None else stalled_since
            if clock() - stalled_since >= stall_s:
                later = f"; once they finish, draw the figure with `{collect_command}`"
                if missing:
                    raise DataSizeError(
                        f"experiment {missing[0]} is no longer listed by `dvc queue status` (removed?){later}"
                    )
                raise DataSizeError(
                    f"no queue worker has been active for {stall_s:g} s while "
                    f"{len(names) - len(finished)} experiment(s) wait: check `dvc queue status`, "
                    f"start a worker with `dvc queue start`{later}"
                )
        sleep(poll_s)


def check_failures(
    queued: Sequence[Queued], states: dict[str, str], collect_command: str = "python -m pipelines.data_size"
) -> None:
    """One DataSizeError line naming every failed experiment and how to read its log."""
    failed = [q for q in queued if states.get(q.name) == "Failed"]
    if not failed:
        return
    which = ", ".join(q.describe() for q in failed)
    others = " (and likewise for the others)" if len(failed) > 1 else ""
    done = len(queued) - len(failed)
    rest = f"; the {done} that succeeded can still be drawn with `{collect_command}`" if done else ""
    raise DataSizeError(
        f"{len(failed)} of {len(queued)} experiments failed: {which}; see "
        f"`dvc queue logs {failed[0].name}`{others}{rest}"
    )
