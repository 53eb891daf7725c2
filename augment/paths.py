"""Paths derived from ``params.yaml``'s ``paths`` section: the one place they are spelled.

``dvc.yaml`` templates the same names (``${paths.generators}/${item}.pt``, ...); keep the two in
step when adding a file here.
"""

from __future__ import annotations

from pathlib import Path


def splits_file(params) -> Path:
    """prepare's output: the real train/val/test tensors."""
    return Path(params.paths.splits) / "splits.pt"


def generator_checkpoint(params, name: str) -> Path:
    """train_generator's output: ``models/generators/<name>.pt`` (DESIGN.md's contract)."""
    return Path(params.paths.generators) / f"{name}.pt"


def generator_report_dir(params, name: str) -> Path:
    """Loss curve and progress grids of one generator's training."""
    return Path(params.paths.reports) / "generators" / name


def synthetic_file(params, name: str) -> Path:
    """sample's output: the labeled synthetic dataset of one method."""
    return Path(params.paths.synthetic) / f"{name}.pt"
