"""Real data sources and deterministic, stratified train/val/test splits.

:func:`load_splits` is the one entry point: it reads the dataset named by ``DataConfig.dataset``
into memory as float tensors and splits it, every choice seeded by ``DataConfig.seed``:

1. the test split: the official one where the dataset has one (the MNIST family), otherwise
   ``test_fraction`` of everything (digits, imagefolder);
2. the validation split: ``val_fraction`` of the remaining training pool (model selection only);
3. the training split: what is left, optionally subsampled by ``train_size`` (this subsample is what
   both the generators and the downstream classifier see);
4. optionally, rare classes: ``imbalance.classes`` keep only ``imbalance.keep`` of their training
   images (at least one), so that generators and classifiers see an imbalanced training split;
   validation and test splits keep every class whole.

Every split is stratified by class, the three are disjoint, and every class keeps at least one
training image. Each stage draws from its own local RNG (never the global one), so the test and
validation splits do not depend on ``train_size``, and a smaller ``train_size`` picks a subset of
the images a larger one picks.

Anything wrong with the data on disk raises :class:`DataError`, whose message names the file or
folder and says what to do.
"""

from __future__ import annotations

from augment.data.datasets import load_sources
from augment.data.labeled import Splits
from augment.data.splitting import split_indices
from augment.params.config import DataConfig


def load_splits(cfg: DataConfig) -> Splits:
    """Load ``cfg.dataset`` and split it into train / val / test (see the module docstring)."""
    pool, official_test, classes = load_sources(cfg)
    train, val, test = split_indices(pool.labels, len(classes), cfg, holdout_test=official_test is None)
    return Splits(
        train=pool.subset(train),
        val=pool.subset(val),
        test=pool.subset(test) if official_test is None else official_test,
        classes=classes,
    )
