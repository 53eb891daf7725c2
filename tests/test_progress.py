"""Progress output: a tqdm bar only on a terminal; plain lines, never a carriage return, elsewhere."""

from __future__ import annotations

import io
import sys

from tqdm.auto import tqdm

from augment.core.progress import PlainProgress, progress_bar
from augment.training.generator_training import train_generator
from tests.conftest import tiny_params


def test_plain_progress_prints_a_line_per_tenth_and_no_carriage_return():
    out = io.StringIO()
    bar = PlainProgress(1000, "train cvae", "batch", stream=out)
    for step in range(1000):
        bar.update(1)
        bar.set_postfix({"loss": f"{1 / (step + 1):.3g}"}, refresh=False)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10  # 10 %, 20 %, ... 90 %, then the end
    assert lines[0].startswith("train cvae: 10 % (100/1000 batch) loss=")
    assert lines[-1] == "train cvae: 100 % (1000/1000 batch) loss=0.001"


def test_progress_bar_is_tqdm_only_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert isinstance(progress_bar(10, "x", "step"), PlainProgress)
    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = progress_bar(10, "x", "step")
    assert isinstance(bar, tqdm)
    bar.close()
    silent = progress_bar(10, "x", "step", enabled=False)
    assert isinstance(silent, tqdm) and silent.disable


def test_training_without_a_terminal_writes_no_carriage_return(digits, tmp_path, capsys):
    params = tiny_params(tmp_path, epochs=2)
    train_generator(params, "cvae", splits=digits, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "train cvae: 100 %" in err
