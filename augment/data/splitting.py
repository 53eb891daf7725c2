"""Deterministic, stratified train / validation / test splits (the rules are in augment/data/splits.py's
docstring): largest-remainder allocation per class, one local RNG per stage, rare classes thinned
after the split, and the label budget (:func:`label_budget`) last."""

from __future__ import annotations

import numpy as np
import torch

from augment.data.labeled import DataError
from augment.params.config import DataConfig


def _rng(seed: int, stage: int) -> np.random.Generator:
    """A local generator per (seed, stage); the mask maps negative seeds to valid entropy."""
    return np.random.default_rng([stage, seed & 0xFFFF_FFFF_FFFF_FFFF])


def _allocate(counts: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share ``total`` among classes in proportion to ``counts`` within [lo, hi] per class.

    Largest-remainder rounding: each class gets floor or ceil of its exact share unless a bound
    forces otherwise, so every split's class proportions match the pool's to within one image.
    Needs lo.sum() <= total <= hi.sum().
    """
    ideal = total * counts / max(int(counts.sum()), 1)  # [K] exact shares
    take = np.clip(np.floor(ideal), lo, hi).astype(np.int64)  # [K]
    while take.sum() < total:
        take[np.argmax(np.where(take < hi, ideal - take, -np.inf))] += 1
    while take.sum() > total:
        take[np.argmin(np.where(take > lo, ideal - take, np.inf))] -= 1
    return take


def _pick(labels: np.ndarray, amounts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mask [N] of ``amounts[c]`` random members of each class c (one permutation per class)."""
    mask = np.zeros(len(labels), dtype=bool)
    for c, amount in enumerate(amounts):
        members = np.flatnonzero(labels == c)
        mask[rng.permutation(members)[:amount]] = True
    return mask


def _train_count(train_size: float, available: int) -> int:
    """How many training images ``data.train_size`` asks for, out of ``available``."""
    if train_size <= 1.0:
        return int(round(train_size * available))
    if train_size != int(train_size):
        raise DataError(
            f"data.train_size: a value > 1 is a count of images and must be a whole number, got {train_size}"
        )
    if int(train_size) > available:
        raise DataError(
            f"data.train_size: asks for {int(train_size)} training images but only {available} "
            f"are available after the test and validation splits; lower it (or use a fraction <= 1)"
        )
    return int(train_size)


def rare_class_counts(counts: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Training images per class [K] after ``data.imbalance``: each listed class keeps
    ``max(1, round(keep * n_c))`` of its ``n_c`` images, every other class all of them."""
    kept = counts.copy()
    for c in cfg.imbalance.classes:
        kept[c] = max(1, int(round(cfg.imbalance.keep * counts[c])))
    return kept


def _thin_rare_classes(train: np.ndarray, y: np.ndarray, num_classes: int, cfg: DataConfig) -> np.ndarray:
    """``data.imbalance``: keep only :func:`rare_class_counts` of the listed classes' training
    images (a seeded choice, its own RNG stage), so that they become rare. The validation and
    test splits are untouched: accuracy on a rare class is still measured on all its test images."""
    rare = cfg.imbalance.classes
    if not rare:
        return train
    bad = [c for c in rare if c >= num_classes]
    if bad:
        raise DataError(
            f"data.imbalance.classes: class index {bad[0]} does not exist; "
            f"{cfg.dataset} has classes 0..{num_classes - 1}"
        )
    counts = np.bincount(y[train], minlength=num_classes)  # [K]
    keep = _pick(y[train], rare_class_counts(counts, cfg), _rng(cfg.seed, stage=3))  # [len(train)]
    return train[keep]


def split_indices(
    labels: torch.Tensor, num_classes: int, cfg: DataConfig, *, holdout_test: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sorted int64 indices into ``labels`` [N] of the train, val and test splits.

    ``holdout_test`` False (datasets with an official test set): the test indices are empty and
    everything is the training pool. Deterministic from ``cfg.seed``; see the module docstring.
    """
    y = labels.cpu().numpy().astype(np.int64)  # [N]
    pool = np.ones(len(y), dtype=bool)  # [N] not yet held out

    def hold_out(n: int, stage: int) -> np.ndarray:
        counts = np.bincount(y[pool], minlength=num_classes)  # [K]
        hi = np.maximum(counts - 1, 0)  # leave every class at least one image in the pool
        amounts = _allocate(counts, min(n, int(hi.sum())), np.zeros_like(hi), hi)
        chosen = np.flatnonzero(pool)[_pick(y[pool], amounts, _rng(cfg.seed, stage))]
        pool[chosen] = False
        return chosen

    test = np.zeros(0, dtype=np.int64)
    if holdout_test:
        test = hold_out(max(1, int(round(cfg.test_fraction * len(y)))), stage=0)
        if len(test) == 0:
            raise DataError(
                f"{cfg.dataset}: {len(y)} images are too few to hold out a test split that "
                f"leaves every class a training image; add images"
            )
    val = hold_out(int(round(cfg.val_fraction * int(pool.sum()))), stage=1)

    counts = np.bincount(y[pool], minlength=num_classes)  # [K] training images per class
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise DataError(
            f"{cfg.dataset}: class index {empty.tolist()} has no training images; every class needs at least one"
        )
    n_train = _train_count(cfg.train_size, int(counts.sum()))
    if n_train < num_classes:
        raise DataError(
            f"data.train_size: {cfg.train_size} keeps {n_train} training images but there are "
            f"{num_classes} classes; every class needs at least one training image"
        )
    amounts = _allocate(counts, n_train, np.ones_like(counts), counts)
    train = np.flatnonzero(pool)[_pick(y[pool], amounts, _rng(cfg.seed, stage=2))]
    train = _thin_rare_classes(train, y, num_classes, cfg)

    as_tensor = lambda idx: torch.from_numpy(np.sort(idx)).long()  # noqa: E731
    return as_tensor(train), as_tensor(val), as_tensor(test)


def label_budget(
    labels: torch.Tensor, train: torch.Tensor, val: torch.Tensor, num_classes: int, cfg: DataConfig, extra_pool: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``data.labelled``: (labelled train, val, pool) int64 indices into ``labels`` [N], the first
    two sorted, the pool shuffled.

    Off (0): (train, val, empty). With N > 0, N training images keep their labels, class-balanced
    (every class ``N // K`` or one more, the extra ones to the lowest class indices; a
    class with fewer images gives all it has; seeded, its own RNG stage), and the other training images become the unlabelled pool. The
    validation split keeps as many labelled images as the training split, class-balanced (a
    stage of its own): a validation set larger than the label budget would be a hidden label
    budget (Oliver et al. 2018), and one this size is what a user who labelled 2N images and
    kept half for model selection has. ``extra_pool`` images (``data.unlabelled_root``) join the
    pool, so the pool may be empty here only when there are some.
    """
    n = cfg.labelled
    empty = torch.zeros(0, dtype=torch.long)
    if n == 0:
        return train, val, empty
    if cfg.imbalance.classes:
        raise DataError(
            "data.labelled: a label budget cannot be combined with data.imbalance.classes "
            "(which labelled images would a rare class keep?); set one of them off"
        )
    if n < num_classes:
        raise DataError(
            f"data.labelled: {n} labelled images for {num_classes} classes; every class needs at "
            f"least one, so use >= {num_classes} (or 0: every training image labelled)"
        )
    if n > len(train):
        raise DataError(
            f"data.labelled: asks for {n} labelled images but the training split holds "
            f"{len(train)} (data.train_size: {cfg.train_size:g}); lower it"
        )
    if n == len(train) and extra_pool == 0:
        raise DataError(
            f"data.labelled: {n} keeps every training image labelled, so the unlabelled pool is "
            f"empty; lower it, add data.unlabelled_root, or set 0 (no label budget)"
        )
    y = labels.cpu().numpy().astype(np.int64)  # [N]

    def balanced(index: np.ndarray, total: int, stage: int) -> np.ndarray:
        counts = np.bincount(y[index], minlength=num_classes)  # [K]
        amounts = _allocate(np.ones(num_classes), min(total, int(counts.sum())), np.zeros_like(counts), counts)
        return index[_pick(y[index], amounts, _rng(cfg.seed, stage))]

    train_np, val_np = train.numpy(), val.numpy()
    labelled = balanced(train_np, n, stage=4)
    # the pool in a seeded random order (its own stage), not in index order: a dataset stored
    # class by class (an ImageFolder) would otherwise tell the pool's classes by position
    pool = _rng(cfg.seed, stage=6).permutation(np.setdiff1d(train_np, labelled))
    kept_val = balanced(val_np, n, stage=5) if len(val_np) else val_np
    as_tensor = lambda idx: torch.from_numpy(np.sort(idx)).long()  # noqa: E731
    return as_tensor(labelled), as_tensor(kept_val), torch.from_numpy(pool).long()
