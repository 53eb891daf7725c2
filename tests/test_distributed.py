"""Data-parallel training (augment/core/distributed.py) with torchrun, gloo and 2 CPU processes, on
tiny networks: it finishes, writes once, loads everywhere, resumes exactly, and 2 ranks x half
batches train the CVAE as 1 process x whole batches (same losses to 1e-4, images to 1e-3)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from augment.synthesis.synthetic import SyntheticDataset
from augment.training.checkpoint import load_generator, read_checkpoint
from tests.conftest import ROOT

pytestmark = pytest.mark.distributed

AUGMENT = str(Path(sys.executable).parent / "augment")


def _train(
    tmp_path: Path, name: str, out: str, *extra: str, nproc: int = 1, spelling: tuple[str, ...] = ("--nproc", "{n}")
) -> subprocess.CompletedProcess:
    sets = {
        "data.train_size": 256,
        f"generators.{name}.epochs": 2,
        f"generators.{name}.steps_per_epoch": 0,  # one pass over the 256 images an epoch
        f"generators.{name}.width": 8,
        f"generators.{name}.latent_dim": 4,
        f"generators.{name}.batch_size": 32,
        "generators.grid_every": 1,
        "generators.cvaegan.init_from": "none",
        "tracking.enabled": "false",
        "device": "cpu",
        "cpu_threads": 1,
        "paths.reports": str(tmp_path / "reports"),
    }
    argv = [
        AUGMENT,
        "train",
        name,
        "--params",
        str(ROOT / "params.yaml"),
        "--out",
        str(tmp_path / out),
        "--no-progress",
        *(s.format(n=nproc) for s in spelling),
    ]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    return subprocess.run([*argv, *extra], cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _images(path: Path) -> torch.Tensor:
    model, _ = load_generator(path)
    z = model.sample_noise(20, torch.Generator().manual_seed(0))
    return model.generate(z, torch.arange(20) % 10)


def test_two_cvae_ranks_with_half_batches_train_as_one_process_with_whole_batches_and_resume_exactly(tmp_path):
    _ok(_train(tmp_path, "cvae", "one.pt"))
    two = _ok(_train(tmp_path, "cvae", "two.pt", nproc=2))
    assert two.stdout.count("checkpoint") == 1  # rank 0 reports, rank 1 does not
    one_history = read_checkpoint(tmp_path / "one.pt")["training"]["history"]
    two_history = read_checkpoint(tmp_path / "two.pt")["training"]["history"]
    assert len(two_history) == 2
    for a, b in zip(one_history, two_history, strict=True):  # per-epoch mean losses
        assert b == pytest.approx(a, rel=1e-4)
    # Stated tolerance: the images agree to 1e-3. (Single weights need not: Adam divides by
    # sqrt(v), so a conv bias before batch norm, whose true gradient is 0, moves by up to lr on
    # the rounding of an all-reduce; batch norm removes such a bias from the output.)
    assert torch.allclose(_images(tmp_path / "one.pt"), _images(tmp_path / "two.pt"), atol=1e-3)

    # --resume under 2 ranks: one epoch, then the second, gives the 2 epochs straight bit for bit.
    first = _ok(_train(tmp_path, "cvae", "resumed.pt", "--set", "generators.cvae.epochs=1", nproc=2))
    assert "1 epochs" in first.stdout
    _ok(_train(tmp_path, "cvae", "resumed.pt", "--resume", nproc=2))
    a, b = (load_generator(tmp_path / f)[0].state_dict() for f in ("two.pt", "resumed.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name, spelling", [("cgan", ("--nproc={n}",)), ("cvaegan", ("--npr", "{n}"))])
def test_two_ranks_train_a_gan_whose_checkpoint_loads_and_samples_anywhere(tmp_path, name, spelling):
    """(Also two other spellings of --nproc that argparse accepts: the ranks must not relaunch.)"""
    result = _ok(_train(tmp_path, name, f"{name}.pt", nproc=2, spelling=spelling))
    assert result.stdout.count("checkpoint") == 1
    payload = read_checkpoint(tmp_path / f"{name}.pt")
    assert payload["training"]["epoch"] == 2
    for state in payload["training"]["optimizers"].values():  # no process-group or device state
        assert all(
            t.device.type == "cpu" for s in state["state"].values() for t in s.values() if isinstance(t, torch.Tensor)
        )
    images, labels = SyntheticDataset(str(tmp_path / f"{name}.pt"), per_class=3, seed=0).tensors()
    assert images.shape == (30, 1, 8, 8) and torch.isfinite(images).all()
    rows = list(csv.DictReader(open(tmp_path / f"{name}-training" / "losses.csv")))  # beside --out's checkpoint
    assert [r["epoch"] for r in rows] == ["1", "2"]  # written once, by rank 0


def test_a_batch_that_does_not_split_over_the_processes_is_refused_before_any_start(tmp_path):
    result = _train(tmp_path, "cvae", "x.pt", "--set", "generators.cvae.batch_size=33", nproc=2)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "augment train: error: generators.cvae.batch_size: 33 images per step cannot be split evenly "
        "over 2 processes; use a multiple of 2"
    ]
    assert not (tmp_path / "x.pt").exists()


def test_an_error_inside_the_ranks_is_one_line_and_exit_2_not_torchruns_report(tmp_path):
    """The checkpoint path is checked by train_generator, i.e. inside each rank after the launch."""
    (tmp_path / "afile").write_text("")
    result = _train(tmp_path, "cvae", "afile/x.pt", nproc=2)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        f"augment train: error: checkpoint {tmp_path}/afile/x.pt: {tmp_path}/afile is a file, not a folder"
    ]  # printed once for both ranks; no torchrun 'ChildFailedError' report


def test_a_rank_that_dies_without_a_recorded_error_is_named_and_exits_1(tmp_path, capsys):
    """(The launcher's report when no rank wrote its one line: a bug or a signal; faked here.)"""
    from types import SimpleNamespace

    from augment.launcher import _died, _report

    assert _report(tmp_path, "augment train") is None  # nothing recorded
    failed = SimpleNamespace(failures={1: SimpleNamespace(exitcode=-9), 0: SimpleNamespace(exitcode=3)})
    assert _died(failed, "augment train") == 1
    assert capsys.readouterr().err == "augment train: error: rank 0 exited with code 3 (its output is above)\n"
    (tmp_path / "1").write_text("2\naugment train: error: one\n")
    (tmp_path / "0").write_text("1\naugment train: error: zero\n")
    assert _report(tmp_path, "augment train") == 1  # the lowest rank's line and code
    assert capsys.readouterr().err == "augment train: error: zero\n"
