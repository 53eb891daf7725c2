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
   validation and test splits keep every class whole;
5. optionally, a label budget: ``labelled`` = N keeps the labels of N class-balanced training
   images; the others become the unlabelled **pool** (their labels are dropped here, before
   anything is saved, so no stage can read them), joined by the images of ``unlabelled_root``;
   the validation split keeps N labelled images (augment/data/splitting.py ``label_budget``).

Every split is stratified by class, the three are disjoint, and every class keeps at least one
training image. Each stage draws from its own local RNG (never the global one), so the test and
validation splits do not depend on ``train_size``, and a smaller ``train_size`` picks a subset of
the images a larger one picks.

Anything wrong with the data on disk raises :class:`DataError`, whose message names the file or
folder and says what to do.
"""

from __future__ import annotations

import torch

from augment.core.labels import UNLABELLED
from augment.data.datasets import load_sources, load_unlabelled_folder
from augment.data.labeled import LabeledImages, Splits
from augment.data.splitting import label_budget, split_indices
from augment.params.config import DataConfig


def load_splits(cfg: DataConfig) -> Splits:
    """Load ``cfg.dataset`` and split it into train / val / test, and the unlabelled pool when
    there is a label budget (see the module docstring)."""
    data, official_test, classes = load_sources(cfg)
    train, val, test = split_indices(data.labels, len(classes), cfg, holdout_test=official_test is None)
    folder = None
    if cfg.unlabelled_root:
        _, c, h, w = data.images.shape
        folder = load_unlabelled_folder(cfg.unlabelled_root, c, h, w)  # [P, C, H, W]
    train, val, pool_index = label_budget(
        data.labels, train, val, len(classes), cfg, extra_pool=0 if folder is None else len(folder)
    )
    pool = None
    if cfg.labelled or folder is not None:
        images = data.images[pool_index]  # [P, C, H, W]: the images alone, never their labels
        if folder is not None:
            images = torch.cat([images, folder])
        pool = LabeledImages(images, torch.full((len(images),), UNLABELLED, dtype=torch.int64))
    return Splits(
        train=data.subset(train),
        val=data.subset(val),
        test=data.subset(test) if official_test is None else official_test,
        classes=classes,
        pool=pool,
    )
