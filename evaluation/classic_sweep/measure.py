"""What one augmentation setting is worth on the validation split, never the test split.

The downstream classifier (params' ``classifier`` section: its network, steps, batch size, lr
schedule) is trained on the labelled training split with the setting, once per seed. The
validation split is cut into two class-stratified halves: the first selects the kept step, as the
pipeline's validation split does, the second measures the accuracy the sweep compares, so the
images that picked the step do not also score it. The test split is not an argument of anything
here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from augment.data.labeled import DataError, LabeledImages
from augment.params.config import AccelerationConfig, AugmentationConfig, ClassifierConfig
from evaluation.classifiers.classic import ClassicAugmentation
from evaluation.classifiers.prediction import evaluate
from evaluation.classifiers.training import train_classifier

__all__ = ["halves", "Validation"]


def halves(val: LabeledImages, seed: int) -> tuple[LabeledImages, LabeledImages]:
    """Two class-stratified halves of ``val`` (a seeded permutation per class; an odd class's
    extra image goes to the second, the measuring half). DataError when a class of ``val`` has
    fewer than 2 images: it could not be in both."""
    if len(val) == 0:
        raise DataError("the validation split is empty: the classic sweep needs one; raise data.val_fraction")
    g = torch.Generator().manual_seed(seed)
    first, second = [], []
    for c in torch.unique(val.labels).tolist():
        idx = torch.nonzero(val.labels == c).flatten()
        if len(idx) < 2:
            raise DataError(
                f"the validation split has {len(idx)} image of class {c}: the classic sweep needs at "
                "least 2 of each class (one to select the step, one to measure); raise data.val_fraction "
                "(or data.labelled with a label budget)"
            )
        idx = idx[torch.randperm(len(idx), generator=g)]
        first.append(idx[: len(idx) // 2])
        second.append(idx[len(idx) // 2 :])
    return val.subset(torch.cat(first)), val.subset(torch.cat(second))


class Validation:
    """``Validation(train, val, num_classes, classifier, seeds)(cfg)`` -> one accuracy per seed of
    a classifier trained on ``train`` with ``cfg``'s augmentation (None: none), on the measuring
    half of ``val``. Seeds are the classifier's weight, batch-order and augmentation seeds."""

    def __init__(
        self,
        train: LabeledImages,
        val: LabeledImages,
        num_classes: int,
        classifier: ClassifierConfig,
        seeds: Sequence[int],
        device: torch.device | str = "cpu",
        acceleration: AccelerationConfig | None = None,
        split_seed: int = 0,
    ):
        self.train = train
        self.select, self.measure = halves(val, split_seed)
        self.num_classes = num_classes
        self.classifier = classifier
        self.seeds = list(seeds)
        self.device = device
        self.acceleration = acceleration

    def __call__(self, cfg: AugmentationConfig | None) -> list[float]:
        augment = None if cfg is None else ClassicAugmentation(cfg)
        accuracies = []
        for seed in self.seeds:
            model, _ = train_classifier(
                self.train, self.select, self.num_classes, self.classifier, seed, device=self.device,
                progress=False, augment=augment, acceleration=self.acceleration,
            )  # fmt: skip
            accuracies.append(float(evaluate(model, self.measure, self.num_classes, device=self.device)["accuracy"]))
        return accuracies
