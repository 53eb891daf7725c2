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

Frames are pickles of plain data, each preceded by its length (4 bytes, big-endian), on the
child's stdin (requests) and on a pipe of its own (replies): the child's stdout and stderr stay
the stage's, for MLflow's own messages. A request is ``(call_id, method, args)``; ``call_id`` is
None for a call the stage does not wait for. Replies are ``("ok", call_id, value)`` for a waited
call and ``("error", line)`` for the first call that failed: after it the child runs nothing
more, and the stage raises that line (TrackingError: one line, exit 2) at its next tracker call
or at the end of the block, so a store that fails mid-stage still fails the stage, and DVC
records nothing. Only the parent process is trusted to write the requests (it started the child).

A background thread writes the frames, so a large one (a dataset's arrays) never makes the stage
wait for the child to finish its import.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, BinaryIO

from augment.params.config import one_line
from augment.tracking.store import TrackingError

HEADER = struct.Struct(">I")  # a frame's length in bytes


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def _read_exact(read: Any, size: int) -> bytes | None:
    """``size`` bytes from ``read`` (a file's read or a fd reader), None at end of file."""
    chunks, left = [], size
    while left:
        chunk = read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(read: Any) -> Any:
    """The next message, or None at end of file (the other side closed or died)."""
    header = _read_exact(read, HEADER.size)
    if header is None:
        return None
    data = _read_exact(read, HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


class LoggingProcess:
    """The stage's side: starts the child, sends it calls, reads its replies."""

    def __init__(self) -> None:
        reply_read, reply_write = os.pipe()
        env = dict(os.environ)
        # The child imports this package from where the stage imported it (an editable install,
        # a source tree on PYTHONPATH, the working directory of `python -m pipelines.<stage>`).
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "augment.tracking.worker", str(reply_write)],
                stdin=subprocess.PIPE,
                pass_fds=(reply_write,),
                env=env,
            )
        finally:
            os.close(reply_write)
        self.replies = reply_read
        self.stdin: IO[bytes] = self.process.stdin  # type: ignore[assignment]
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.writer = threading.Thread(target=self._write, name="augment-logging-writer", daemon=True)
        self.writer.start()
        self.calls = 0
        self.failure: str | None = None

    def _write(self) -> None:
        """The writer thread: frames to the child's stdin in order; None closes it."""
        while (frame := self.outbox.get()) is not None:
            try:
                self.stdin.write(frame)
                self.stdin.flush()
            except (BrokenPipeError, OSError):  # the child is gone: the reply pipe says why
                break
        try:
            self.stdin.close()
        except OSError:
            pass

    def _read_reply(self) -> Any:
        message = _read_frame(lambda n: os.read(self.replies, n))
        if message is None:
            code = self.process.wait()
            self.failure = self.failure or f"the MLflow logging process ended unexpectedly (exit code {code})"
            raise TrackingError(self.failure)
        if message[0] == "error":
            self.failure = message[1]
            raise TrackingError(message[1])
        return message

    def check(self) -> None:
        """Raise the child's first failure, if it has reported one; never waits."""
        if self.failure is not None:
            raise TrackingError(self.failure)
        import select

        if select.select([self.replies], [], [], 0)[0]:
            self._read_reply()  # an error (nothing else is sent unasked), or the end of the pipe

    def send(self, method: str, *args: Any) -> None:
        """Queue ``method(*args)`` for the child; returns at once."""
        self.check()
        self.outbox.put(_frame((None, method, args)))

    def call(self, method: str, *args: Any) -> Any:
        """Run ``method(*args)`` in the child after everything queued before it; its result."""
        self.check()
        self.calls += 1
        self.outbox.put(_frame((self.calls, method, args)))
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
            os.close(self.replies)

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
    reply_fd = int(argv[0])
    requests: BinaryIO = sys.stdin.buffer
    session = RunSession()
    failure: str | None = None

    def reply(message: Any) -> None:
        os.write(reply_fd, _frame(message))

    while (request := _read_frame(requests.read)) is not None:
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
