"""Shared fixtures: small real data and tiny configs, so the suite stays fast and deterministic."""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from augment.data.splits import load_splits
from augment.params.config import DataConfig, Params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits():
    """The bundled digits, split as the pipeline splits them (1x8x8, 10 classes)."""
    return load_splits(DataConfig())


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks run fastest, and bit-for-bit reproducibly, on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# cfm's tiny settings for a tiny project's params.yaml: 10 optimizer steps over two epochs (so the
# progress grid of epoch 2 exists), a narrow U-Net (generators.cfm); 2 sampling steps
# (sample.generators.cfm)
TINY_CFM = {"epochs": 2, "steps_per_epoch": 5, "width": 8}
TINY_CFM_SAMPLING = {"sample_steps": 2}


def tiny_params(tmp_path: Path, epochs: int = 2, **generator_overrides) -> Params:
    """Params with small networks and every path inside ``tmp_path``."""
    p = Params()
    # one pass over the data an epoch (steps_per_epoch 0) unless a test says otherwise
    generator_overrides = {"steps_per_epoch": 0, **generator_overrides}
    for name in ("cvae", "cgan", "cvaegan"):
        cfg = dataclasses.replace(p.generator(name), epochs=epochs, latent_dim=4, width=8, **generator_overrides)
        setattr(p.generators, name, cfg)
    p.generators.cfm = dataclasses.replace(p.generators.cfm, epochs=epochs, steps_per_epoch=5, width=8)
    p.sample.generators.sections["cfm"] = dataclasses.replace(p.sampling("cfm"), **TINY_CFM_SAMPLING)
    p.generators.grid_every = 1
    p.generators.cvaegan.init_from = "none"  # a CVAE-GAN on its own; the warm start has its own tests
    p.paths = dataclasses.replace(
        p.paths,
        splits=str(tmp_path / "data/splits"),
        generators=str(tmp_path / "models/generators"),
        synthetic=str(tmp_path / "data/synthetic"),
        sources=str(tmp_path / "data/sources"),
        classifiers=str(tmp_path / "models/classifiers"),
        reports=str(tmp_path / "reports"),
    )
    p.tracking.enabled = False
    p.device = "cpu"
    return p


def merge(base: dict, extra: dict) -> dict:
    """Deep-merge ``extra`` into ``base`` (nested params sections), in place; returns ``base``."""
    for key, value in extra.items():
        if isinstance(value, dict):
            merge(base.setdefault(key, {}), value)
        else:
            base[key] = value
    return base


def copy_project(project: Path, params_overrides: dict) -> dict:
    """Copy the git-tracked project (without committed results) into ``project``, apply
    ``params_overrides`` to its params.yaml, and make it a git repository of its own, as DVC
    needs. Returns the environment to run ``dvc`` there: this venv on PATH, no MLflow or augment
    variables of the caller, one thread, a git identity."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        src = ROOT / name
        if src.is_file() and not name.startswith(("reports/", "dvc.lock")):
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, project / name)
    params = merge(yaml.safe_load((project / "params.yaml").read_text()), copy.deepcopy(params_overrides))
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AUGMENT_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=project, env=env, check=True, capture_output=True)
    return env
