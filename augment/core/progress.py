"""Progress of long loops: a live tqdm bar on a terminal, a few plain lines anywhere else.

A tqdm bar redraws itself with carriage returns, which is right on a terminal and wrong in a log
file (``dvc repro > log``, CI, a queued DVC experiment's log): there every redraw becomes text.
:func:`progress_bar` returns tqdm only when stderr is a terminal; otherwise a
:class:`PlainProgress` that prints one line each time another tenth of the work is done, and one
at the end, with the same ``update`` / ``set_postfix`` / ``close`` interface:

    train cvae: 30 % (180/600 batch) epoch=9, loss=22.4
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm.auto import tqdm

__all__ = ["progress_bar", "PlainProgress", "PLAIN_STEPS"]

PLAIN_STEPS = 10  # a plain line every 1/PLAIN_STEPS of the total


class PlainProgress:
    """tqdm's interface, printing a plain line (no carriage return) every tenth and at the end."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO | None = None):
        self.total = max(int(total), 0)
        self.desc, self.unit = desc, unit
        self.stream = stream
        self.n = 0
        self.postfix = ""
        self._printed = 0  # tenths already reported
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total:
            tenths = min(PLAIN_STEPS, self.n * PLAIN_STEPS // self.total)
            if tenths > self._printed and tenths < PLAIN_STEPS:
                self._printed = tenths
                self._print()

    def set_postfix(self, postfix: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(postfix or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def _print(self) -> None:
        share = 100 * self.n // self.total if self.total else 100
        tail = f" {self.postfix}" if self.postfix else ""
        print(
            f"{self.desc}: {share} % ({self.n}/{self.total} {self.unit}){tail}",
            file=self.stream or sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self.n:
                self._print()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True):
    """A tqdm bar when ``enabled`` and stderr is a terminal; a :class:`PlainProgress` when
    ``enabled`` and it is not; a disabled tqdm (silent) when not ``enabled``."""
    if enabled and not sys.stderr.isatty():
        return PlainProgress(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True)
