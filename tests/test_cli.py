"""The `augment` command: train, sample, info, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml

from augment.cli import main
from augment.synthesis.synthetic_files import load_synthetic
from tests.conftest import ROOT


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A params.yaml with tiny generators in a fresh working directory."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name in ("cvae", "cgan", "cvaegan"):
        params["generators"][name].update(epochs=1, latent_dim=4, width=8)
    params["data"]["train_size"] = 200
    params["tracking"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_train_sample_info_round_trip(project, capsys):
    assert (
        main(
            [
                "train",
                "cgan",
                "--no-progress",
                "--set",
                "generators.cgan.d_steps=2",
                "--set",
                "generators.cgan.epochs=2",
            ]
        )
        == 0
    )
    ckpt = project / "models/generators/cgan.pt"
    assert ckpt.is_file()
    assert "cgan: 2 epochs" in capsys.readouterr().out

    assert main(["info", str(ckpt), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "cgan" and info["image_shape"] == [1, 8, 8]
    assert info["config"]["d_steps"] == 2 and info["epochs_trained"] == 2
    assert info["classes"] == [str(k) for k in range(10)]

    assert main(["info", str(ckpt)]) == 0
    assert "model: cgan" in capsys.readouterr().out

    out = project / "data/synthetic/cgan.pt"
    assert (
        main(["sample", "cgan", "-n", "50", "--seed", "3", "--out", str(out), "--grid", str(project / "grid.png")]) == 0
    )
    images, classes, meta = load_synthetic(out)
    assert images.images.shape == (50, 1, 8, 8)
    assert torch.bincount(images.labels).tolist() == [5] * 10
    assert meta["seed"] == 3 and meta["model"] == "cgan"
    assert (project / "grid.png").is_file()


def test_train_writes_to_out_and_resumes(project):
    out = project / "elsewhere/cvae.pt"
    assert main(["train", "cvae", "--no-progress", "--out", str(out)]) == 0
    assert (
        main(["train", "cvae", "--no-progress", "--out", str(out), "--resume", "--set", "generators.cvae.epochs=2"])
        == 0
    )
    assert torch.load(out, weights_only=True)["training"]["epoch"] == 2


def test_train_out_elsewhere_keeps_the_default_runs_curves(project, capsys):
    assert main(["train", "cvae", "--no-progress"]) == 0
    default = project / "reports/generators/cvae"
    before = {p: p.read_bytes() for p in default.rglob("*") if p.is_file()}
    assert (default / "losses.csv").is_file()
    out = project / "elsewhere/mine.pt"
    assert main(["train", "cvae", "--no-progress", "--out", str(out), "--set", "generators.cvae.lr=0.002"]) == 0
    assert {p: p.read_bytes() for p in default.rglob("*") if p.is_file()} == before
    assert (project / "elsewhere/mine-training/losses.csv").is_file()
    assert any((project / "elsewhere/mine-training/progress").glob("*.png"))


def test_resume_rewrites_a_damaged_loss_table_from_the_checkpoint(project):
    out = project / "run/cvae.pt"
    assert main(["train", "cvae", "--no-progress", "--out", str(out)]) == 0
    table = project / "run/cvae-training/losses.csv"
    table.write_text("epoch,loss\nnot a number,\x00\x01\n")
    assert (
        main(["train", "cvae", "--no-progress", "--out", str(out), "--resume", "--set", "generators.cvae.epochs=2"])
        == 0
    )
    lines = table.read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch", "1", "2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "cvae", "--set", "generators.cvae.epochs=0"], "generators.cvae.epochs: must be an integer >= 1"),
        (["train", "cvae", "--set", "generators.cvae.epoch=3"], "did you mean 'generators.cvae.epochs'"),
        (["train", "cvae", "--params", "missing.yaml"], "params file not found: missing.yaml"),
        (["sample", "cvaegan", "-n", "10"], "augment train cvaegan"),
        (["sample", "gan", "-n", "10"], "cvae, cgan, cvaegan"),
        (["sample", "cvae", "-n", "0"], "-n: must be an integer in [1, 10000000]"),
        (["info", "nope.pt"], "checkpoint not found: nope.pt"),
    ],
)
def test_expected_errors_are_one_line_with_exit_code_2(project, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (project / "models").exists() or not any((project / "models").rglob("*.pt"))


def test_unknown_model_is_one_line_with_the_nearest_name(project, capsys):
    assert main(["train", "gan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown generator 'gan' (did you mean 'cgan'?)" in err and len(err.splitlines()) == 1


def test_console_script_prints_no_traceback(project):
    result = subprocess.run(
        [sys.executable, "-m", "augment.cli", "info", "nope.pt"], capture_output=True, text=True, cwd=project
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "augment info: error: checkpoint not found: nope.pt"
