"""The logging process: a stage's MLflow calls, run beside its work instead of inside it.

Importing MLflow, opening a run and logging took about 3.5 s of a tracked digits stage on this
project's 2-core machine, and MLflow's work is Python that holds the GIL, so a thread could not
overlap it with the stage's own Python (tried and measured: 6963f44). A child process can
(docs/cost.md measures it: train_classifier@real 0.75x, sample@cvae 0.86x):

    stage process                                 logging process (python -m augment.tracking.worker)
    Tracker.__enter__ -> LoggingProcess.start --> imports MLflow, opens the run (RunSession.start)
    tracker.log_*     -> send (returns at once) --> the same call on RunSession, in order
    tracker.log_generator -> call (waits)      <-- the model's URI
    Tracker.__exit__  -> close (waits)         <-- the run ended, FINISHED or FAILED

Messages are pickles of plain data framed by the standard library's
``multiprocessing.connection.Connection`` (each preceded by its length) on the child's stdin
(requests) and on a pipe of its own (replies): the child's stdout and stderr stay the stage's,
for MLflow's own messages. A request is ``(call_id, method, args)``; ``call_id`` is
None for a call the stage does not wait for. Replies are ``("ok", call_id, value)`` for a waited
call and ``("error", line)`` for the first call that failed: after it the child runs nothing
more, and the stage raises that line (TrackingError: one line, exit 2) at its next tracker call
or at the end of the block, so a store that fails mid-stage still fails the stage, and DVC
records nothing. Only the parent process is trusted to write the requests (it started the child).

A request is pickled when the stage makes the call (a file it names is logged as it was then)
and a background thread writes it, so a large one (a dataset's arrays) never makes the stage wait
for the child to finish its import.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from augment.params.config import one_line
from augment.tracking.store import TrackingError


def _pickled(message: Any) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


class LoggingProcess:
    """The stage's side: starts the child, sends it calls, reads its replies."""

    def __init__(self) -> None:
        requests_read, requests_write = os.pipe()
        replies_read, replies_write = os.pipe()
        env = dict(os.environ)
        # The child imports this package from where the stage imported it (an editable install,
        # a source tree on PYTHONPATH, the working directory of `python -m pipelines.<stage>`).
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "augment.tracking.worker", str(replies_write)],
                stdin=requests_read,
                pass_fds=(replies_write,),
                env=env,
            )
        finally:
            os.close(requests_read)
            os.close(replies_write)
        self.requests = Connection(requests_write, readable=False)
        self.replies = Connection(replies_read, writable=False)
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, name="augment-logging-writer", daemon=True)
        self.writer.start()
        self.calls = 0
        self.failure: str | None = None

    def _write(self) -> None:
        """The writer thread: requests to the child in order; None closes the pipe."""
        while (request := self.outbox.get()) is not None:
            try:
                self.requests.send_bytes(request)
            except OSError:  # the child is gone: the reply pipe says why
                break
        self.requests.close()

    def _read_reply(self) -> Any:
        try:
            message = self.replies.recv()
        except EOFError:
            code = self.process.wait()
            self.failure = self.failure or f"the MLflow logging process ended unexpectedly (exit code {code})"
            raise TrackingError(self.failure) from None
        if message[0] == "error":
            self.failure = message[1]
            raise TrackingError(message[1])
        return message

    def check(self) -> None:
        """Raise the child's first failure, if it has reported one; never waits."""
        if self.failure is not None:
            raise TrackingError(self.failure)
        if self.replies.poll(0):
            self._read_reply()  # an error (nothing else is sent unasked), or the end of the pipe

    def send(self, method: str, *args: Any) -> None:
        """Queue ``method(*args)`` for the child; returns at once."""
        self.check()
        self.outbox.put(_pickled((None, method, args)))

    def call(self, method: str, *args: Any) -> Any:
        """Run ``method(*args)`` in the child after everything queued before it; its result."""
        self.check()
        self.calls += 1
        self.outbox.put(_pickled((self.calls, method, args)))
        while True:
            kind, call_id, value = self._read_reply()
            if kind == "ok" and call_id == self.calls:
                return value

    def close(self, status: str) -> None:
        """End the run with ``status``, wait for the child, and raise its failure if any."""
        try:
            if self.failure is None and self.process.poll() is None:
                self.call("end", status)
        finally:
            self.outbox.put(None)
            self.writer.join()
            self.process.wait()
            self.replies.close()

    def abandon(self) -> None:
        """End the run FAILED if the child still can, without raising: the stage's own error is
        the one to report."""
        try:
            self.close("FAILED")
        except TrackingError:
            pass


def main(argv: list[str]) -> None:
    """The child: run each request on one RunSession until stdin closes, then exit."""
    from augment.tracking.session import RunSession

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the stage's: it ends the run FAILED
    requests = Connection(sys.stdin.fileno(), writable=False)
    replies = Connection(int(argv[0]), readable=False)
    session = RunSession()
    failure: str | None = None

    def reply(message: Any) -> None:
        replies.send_bytes(_pickled(message))

    def next_request() -> Any:
        try:
            return requests.recv()
        except EOFError:  # the stage closed the pipe, or died
            return None

    while (request := next_request()) is not None:
        call_id, method, args = request
        if failure is None:
            try:
                value = getattr(session, method)(*args)
            except TrackingError as err:
                failure = str(err)
            except Exception as err:  # noqa: BLE001 - a bug here must still reach the stage as one line
                failure = f"MLflow logging failed in {method}: {type(err).__name__}: {one_line(err)[:300]}"
            else:
                if call_id is not None:
                    reply(("ok", call_id, value))
                continue
            reply(("error", failure))
            session.abandon("FAILED")
        elif call_id is not None:
            reply(("error", failure))
    session.abandon("KILLED")  # the stage ended without ending its run: it died
    # Every call has returned and the run is ended: leave without the interpreter's shutdown
    # (MLflow's and torch's exit handlers, module teardown), which took about 2 s here and which
    # the stage waits for.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
