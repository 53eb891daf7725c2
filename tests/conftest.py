"""Shared fixtures: small real data and tiny configs, so the suite stays fast and deterministic."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from augment.config import DataConfig, Params
from augment.data import load_splits

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


def tiny_params(tmp_path: Path, epochs: int = 2, **generator_overrides) -> Params:
    """Params with small networks and every path inside ``tmp_path``."""
    p = Params()
    for name in ("cvae", "cgan", "cvaegan"):
        cfg = dataclasses.replace(p.generator(name), epochs=epochs, latent_dim=4, width=8, **generator_overrides)
        setattr(p.generators, name, cfg)
    p.generators.grid_every = 1
    p.paths = dataclasses.replace(
        p.paths,
        splits=str(tmp_path / "data/splits"),
        generators=str(tmp_path / "models/generators"),
        synthetic=str(tmp_path / "data/synthetic"),
        classifiers=str(tmp_path / "models/classifiers"),
        reports=str(tmp_path / "reports"),
    )
    p.tracking.enabled = False
    p.device = "cpu"
    return p
