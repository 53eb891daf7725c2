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
    """train_generator's output: ``models/generators/<name>.pt`` (docs/design.md, contracts)."""
    return Path(params.paths.generators) / f"{name}.pt"


def generator_report_dir(params, name: str, checkpoint: Path | None = None) -> Path:
    """Loss curve and progress grids of one generator's training: ``reports/generators/<name>/``
    for the checkpoint at its default path (the train_generator stage's), else a folder beside the
    checkpoint, ``<checkpoint without .pt>-training/`` (``augment train M --out elsewhere.pt``
    must not overwrite the default run's curves)."""
    if checkpoint is None or Path(checkpoint) == generator_checkpoint(params, name):
        return Path(params.paths.reports) / "generators" / name
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}-training")


def synthetic_file(params, name: str) -> Path:
    """sample's output: the labeled synthetic dataset of one method."""
    return Path(params.paths.synthetic) / f"{name}.pt"


def source_manifest(params, source: str) -> Path:
    """What train_classifier@<source> depends on: the set it trains on and its hash
    (augment/data/source_files.py)."""
    return Path(params.paths.sources) / f"{source}.json"


def sample_grid_file(params, name: str) -> Path:
    """sample's picture: the first images of every class of one method's synthetic dataset."""
    return Path(params.paths.reports) / "samples" / f"{name}.png"


def classifier_dir(params, source: str) -> Path:
    """train_classifier's weights: one file per seed."""
    return Path(params.paths.classifiers) / source


def classifier_result(params, source: str) -> Path:
    """train_classifier's measurements on the test split: per seed and mean."""
    return Path(params.paths.reports) / "classifiers" / f"{source}.json"


def classifier_predictions(params, source: str) -> Path:
    """Test-split (actual, predicted) pairs of the first seed, for DVC's confusion plot."""
    return Path(params.paths.reports) / "classifiers" / f"{source}_predictions.csv"


def metrics_file(params) -> Path:
    """compare's record of every number: one object per source, per-seed values and verdicts
    included (docs/design.md, contracts)."""
    return Path(params.paths.reports) / "metrics.json"


def headline_dir(params) -> Path:
    """compare's DVC metrics: one file per source, ``<source>.json``, its headline numbers only
    (accuracy and the deltas with their intervals), so that ``dvc metrics show`` and
    ``dvc metrics diff`` read one row per source."""
    return Path(params.paths.reports) / "metrics"


def figures_dir(params) -> Path:
    """compare's pictures: accuracy bars, sample grids side by side, confusion matrices."""
    return Path(params.paths.reports) / "figures"


def stylize_dir(params, name: str) -> Path:
    """Stylisation and interpolation grids of one generator (``augment stylize``, evaluate)."""
    return Path(params.paths.reports) / "stylize" / name


def judge_file(params) -> Path:
    """judge's network: the classifier whose features define the quality metrics' space."""
    return Path(params.paths.classifiers) / "judge.pt"


def quality_file(params, name: str) -> Path:
    """evaluate's numbers for one method (and judge's real reference as ``real``)."""
    return Path(params.paths.reports) / "quality" / f"{name}.json"


def comparison_report(params) -> Path:
    """compare's written report."""
    return Path(params.paths.reports) / "comparison.md"


def filter_file(params) -> Path:
    """train_filter's network: decides which synthetic images the ``<method>-filtered`` sets keep."""
    return Path(params.paths.classifiers) / "filter.pt"


def sample_record(params, name: str) -> Path:
    """sample's record of one synthetic set: counts, and for a filtered set its acceptance rates."""
    return Path(params.paths.reports) / "samples" / f"{name}.json"
