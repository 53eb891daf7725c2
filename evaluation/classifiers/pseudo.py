"""Self-training, the plain form (Lee 2013, "Pseudo-label"): the bar a generator that learns from
unlabelled images has to clear.

With a label budget (``data.labelled``) a *teacher* — the downstream classifier's architecture and
step budget, trained on the labelled images with classical augmentation, selected on the
validation split, seeded with ``classifier.pseudo.seed`` — labels every image of the unlabelled
pool. The images whose top class probability reaches ``classifier.pseudo.threshold`` keep that
class as their label: the pseudo-labelled set. Two sources train on it (augment/params/sources.py:
``pseudo``, ``classic+pseudo``), and so does every generator without its own way of learning from
unlabelled images (``generators.unlabelled``).

The pool has no labels (augment/data/splits.py drops them before anything is saved): how many
pseudo-labels are right is not knowable here, and the record says so; the teacher's validation
accuracy is the estimate a user has.
"""

from __future__ import annotations

from typing import Any

import torch

from augment.data.labeled import LabeledImages, Splits
from augment.params.config import AccelerationConfig, AugmentationConfig, ClassifierConfig, PseudoConfig
from evaluation.classifiers.classic import ClassicAugmentation
from evaluation.classifiers.net import SmallCNN
from evaluation.classifiers.prediction import probabilities
from evaluation.classifiers.training import train_one

__all__ = ["train_teacher", "pseudo_label"]


def train_teacher(
    splits: Splits,
    classifier: ClassifierConfig,
    augmentation: AugmentationConfig,
    cfg: PseudoConfig,
    device: torch.device | str = "cpu",
    progress: bool = False,
    acceleration: AccelerationConfig | None = None,
) -> tuple[SmallCNN, dict[str, Any]]:
    """The teacher: ``classifier``'s network and steps, trained with classical augmentation on the
    labelled training images (``splits.train``) with seed ``cfg.seed``, selected on ``splits.val``."""
    augment = ClassicAugmentation(augmentation)
    return train_one(splits, classifier, cfg.seed, "pseudo-label teacher", device, progress, augment, acceleration)


def pseudo_label(
    teacher: SmallCNN, pool: LabeledImages, threshold: float, device: torch.device | str = "cpu"
) -> tuple[LabeledImages, dict[str, Any]]:
    """The pool's images whose teacher probability of its top class is >= ``threshold``, labelled
    with that class (in pool order), and a record: how many the pool held, how many were kept,
    per class, and the mean top probability of the kept and of all images."""
    probs = probabilities(teacher, pool.images, device=device)  # [P, K]
    k = teacher.num_classes
    if len(probs) == 0:
        probs = torch.zeros(0, k)
    top, label = probs.max(dim=1) if len(probs) else (torch.zeros(0), torch.zeros(0, dtype=torch.int64))  # [P] each
    keep = top >= threshold  # [P]
    kept = LabeledImages(pool.images[keep], label[keep].long())
    record = {
        "pool_images": len(pool),
        "kept": int(keep.sum()),
        "kept_share": float(keep.float().mean()) if len(pool) else 0.0,
        "kept_per_class": torch.bincount(kept.labels, minlength=k).tolist(),
        "threshold": threshold,
        "mean_confidence_kept": float(top[keep].mean()) if bool(keep.any()) else None,
        "mean_confidence_all": float(top.mean()) if len(top) else None,
    }
    return kept, record
