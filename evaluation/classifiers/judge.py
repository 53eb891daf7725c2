"""The judge network: a fixed classifier whose penultimate features define the feature space of
FID, KID, precision/recall/density/coverage and intra-class diversity, and whose predictions give
label fidelity.

Inception-v3 plays this role for natural images, but its weights would have to be downloaded and
it has never seen 8x8 digits; a :class:`~evaluation.classifiers.net.SmallCNN` trained on the real
training split (validation split for model selection, never the test split) is available offline
for every dataset this project reads.

The judge is deliberately *separate* from the downstream classifier: it has its own config and
seed, it is trained once, on real data only, and it is never trained on synthetic images, so every
method is measured with the same ruler.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from augment.data.labeled import Splits
from augment.params.config import AccelerationConfig, ClassifierConfig, JudgeConfig
from evaluation.classifiers.net import PathLike, SmallCNN, load_classifier, save_classifier
from evaluation.classifiers.prediction import evaluate
from evaluation.classifiers.training import train_classifier

__all__ = ["JudgeConfig", "train_judge", "save_judge", "load_judge", "judge_at", "JUDGE_ROLE"]

JUDGE_ROLE = "judge"  # meta["role"] of a saved judge, checked by load_judge


def _classifier_config(cfg: JudgeConfig) -> ClassifierConfig:
    """The judge's settings in the form train_classifier reads (no synthetic data, one seed)."""
    return ClassifierConfig(
        synthetic_ratio=0.0,
        seeds=[cfg.seed],
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        width=cfg.width,
        lr_schedule=cfg.lr_schedule,
    )


def train_judge(
    splits: Splits,
    cfg: JudgeConfig,
    device: torch.device | str = "cpu",
    progress: bool = False,
    acceleration: AccelerationConfig | None = None,
) -> tuple[SmallCNN, dict[str, Any]]:
    """Train the judge on ``splits.train`` (model selection on ``splits.val``).

    Returns ``(model in eval mode, info)``: ``info`` is train_classifier's (best_step,
    val_accuracy, history, ...) plus ``test_accuracy``, the judge's accuracy on the real test
    split, measured after training (it is reported, never used for selection: it is the ceiling
    against which label fidelity is read), and ``config``, the JudgeConfig as a dict.
    """
    model, info = train_classifier(
        splits.train,
        splits.val,
        splits.num_classes,
        _classifier_config(cfg),
        seed=cfg.seed,
        device=device,
        progress=progress,
        desc="judge",
        acceleration=acceleration,
    )
    info["test_accuracy"] = evaluate(model, splits.test, splits.num_classes, device=device)["accuracy"]
    info["config"] = dataclasses.asdict(cfg)
    return model, info


def save_judge(path: PathLike, model: SmallCNN, info: dict[str, Any] | None = None) -> Path:
    """Write the judge with :func:`save_classifier`, tagged ``role = "judge"`` so that a downstream
    classifier file cannot be loaded as a judge by mistake. ``info`` (train_judge's) is stored
    without its per-step history."""
    meta = {k: v for k, v in (info or {}).items() if k != "history"}
    meta["role"] = JUDGE_ROLE
    return save_classifier(path, model, meta)


def load_judge(path: PathLike, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict[str, Any]]:
    """Read a file written by :func:`save_judge`: ``(model in eval mode, info)``.

    Raises ValueError if the file is a classifier that was not saved as a judge.
    """
    model, meta = load_classifier(path, device)
    if meta.get("role") != JUDGE_ROLE:
        raise ValueError(
            f"{path}: a classifier file, but not a judge (meta role "
            f"{meta.get('role')!r}); train it with evaluation.classifiers.judge.train_judge"
        )
    return model, meta


def judge_at(
    path: PathLike | None, splits: Splits, cfg: JudgeConfig, device: torch.device | str = "cpu"
) -> tuple[SmallCNN, dict[str, Any]]:
    """The judge of a benchmark: loaded from ``path`` when that file exists (the judge stage's, so
    a sweep measures with the pipeline's ruler), else trained and, when ``path`` is given, written
    there for the next run."""
    if path is not None and Path(path).is_file():
        return load_judge(path, device=device)
    model, info = train_judge(splits, cfg, device=device)
    if path is not None:
        save_judge(path, model, info)
    return model, info
