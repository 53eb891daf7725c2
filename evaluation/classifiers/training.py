"""The downstream classifier: what a synthetic dataset is worth is measured by training this small CNN
on real data alone and on real + synthetic data, and comparing test accuracy.

Fairness and reproducibility rules, all enforced here:

- every source trains for exactly ``ClassifierConfig.steps`` optimizer steps (Adam, fixed batch
  size), whatever the size of its training set: more data must not mean more training;
- batches come from a local ``torch.Generator`` seeded with ``seed`` (a fresh permutation per pass
  through the data), and the weights are initialised, and dropout drawn, from ``seed`` inside
  ``torch.random.fork_rng``, so the global RNG is neither used nor changed; on CPU the same (data, config, seed) gives
  bit-identical weights and metrics;
- model selection (which step's weights are kept) looks at the validation split only; the test
  split is passed to :func:`evaluate` alone, after training.

The network is in evaluation/classifiers/net.py, the training set's mixing in evaluation/classifiers/mixing.py,
prediction and metrics in evaluation/classifiers/prediction.py.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from augment.core.acceleration import batch_layout, outside_autocast, prepare_networks, training_precision
from augment.core.progress import progress_bar
from augment.data.labeled import LabeledImages, Splits
from augment.params.config import AccelerationConfig, ClassifierConfig
from evaluation.classifiers.net import SmallCNN, build_classifier
from evaluation.classifiers.prediction import predict


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless index batches: a fresh permutation per pass through the data. A partial last batch
    of a pass is dropped when the pass has a full one, so batch norm never sees a tiny batch."""
    while True:
        perm = torch.randperm(n, generator=generator)  # [n]
        chunks = list(perm.split(batch_size))
        if len(chunks) > 1 and len(chunks[-1]) < batch_size:
            chunks.pop()
        yield from chunks


def classifier_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    acceleration: AccelerationConfig | None = None,
) -> torch.Tensor:
    """One Adam step of the cross-entropy on the batch x [B, C, H, W], y [B]; returns the loss
    (a 0-d tensor, not yet synchronised). train_classifier and benchmarks/gpu_check.py call it."""
    with training_precision(x.device, acceleration):
        logits = model(batch_layout(x, acceleration))  # [B, K]
        loss = F.cross_entropy(logits.float(), y)  # float32, as every loss (augment/models/losses.py)
        optimizer.zero_grad(set_to_none=True)
        with outside_autocast(x.device.type):
            loss.backward()
        optimizer.step()
    return loss


def train_classifier(
    train: LabeledImages,
    val: LabeledImages,
    num_classes: int,
    cfg: ClassifierConfig,
    seed: int,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "",
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    acceleration: AccelerationConfig | None = None,
) -> tuple[SmallCNN, dict[str, Any]]:
    """Train a :class:`SmallCNN` for exactly ``cfg.steps`` Adam steps and keep the best weights.

    ``augment(images, generator)`` (e.g. :class:`evaluation.classifiers.classic.ClassicAugmentation`), when
    given, transforms every training batch's images (never the labels, never the validation
    images), drawing from its own generator seeded with ``seed``: the batch order is the same
    with and without it, so ``classic`` differs from ``real`` only by the augmentation.

    ``acceleration`` (bf16 autocast, channels_last, compile: augment/core/acceleration.py) changes
    how each step runs; validation and the returned model's predictions stay float32.

    ``cfg.lr_schedule``: ``constant`` keeps ``cfg.lr``; ``cosine`` decays it to 0 over the steps
    (torch's CosineAnnealingLR), which settles the weights at the end instead of leaving them
    where the last large step threw them.

    Validation accuracy is measured every ``max(1, steps // 10)`` steps and after the last step;
    the returned model (eval mode, on ``device``) holds the weights of the best measurement, the
    later one on ties. With an empty ``val`` the final weights are kept. Returns ``(model, info)``
    with ``info = {best_step, val_accuracy, history, steps, eval_every, train_size}``; ``history``
    is a list of ``{step, loss, val_accuracy}`` where ``loss`` is the mean training loss since
    the previous measurement (``val_accuracy`` is None without a validation split).
    """
    if len(train) < 2:
        raise ValueError(f"train_classifier needs at least 2 training images, got {len(train)}")
    for name, split in (("train", train), ("val", val)):
        if len(split) and (int(split.labels.min()) < 0 or int(split.labels.max()) >= num_classes):
            raise ValueError(
                f"{name} labels must lie in [0, {num_classes}), got "
                f"[{int(split.labels.min())}, {int(split.labels.max())}]"
            )
    device = torch.device(device)
    steps = int(cfg.steps)
    eval_every = max(1, steps // 10)

    model = build_classifier(train.images.shape[1:], num_classes, cfg.width, seed).to(device)
    prepare_networks([model], acceleration)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps) if cfg.lr_schedule == "cosine" else None
    )
    g = torch.Generator().manual_seed(seed)  # batch order only
    g_augment = torch.Generator().manual_seed(seed)  # augmentation parameters only
    batches = _batches(len(train), int(cfg.batch_size), g)
    x_all = train.images.to(device)  # [N, C, H, W]
    y_all = train.labels.to(device, torch.int64)  # [N]

    history: list[dict[str, Any]] = []
    best_acc, best_step, best_state = -math.inf, steps, None
    loss_sum, loss_count = 0.0, 0
    bar = progress_bar(steps, desc or "classifier", "step", progress)
    postfix: dict[str, str] = {}
    # Dropout (the dense head) draws from the global generator: fork it and seed it, so that the
    # same (data, config, seed) gives the same weights in any process, and the caller's RNG stays.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        try:
            model.train()
            for step in range(1, steps + 1):
                idx = next(batches).to(device)  # [B]
                x = x_all[idx] if augment is None else augment(x_all[idx], g_augment)  # [B, C, H, W]
                loss = classifier_step(model, optimizer, x, y_all[idx], acceleration)
                if schedule is not None:
                    schedule.step()

                value = loss.item()
                if not math.isfinite(value):
                    raise RuntimeError(f"classifier: non-finite loss at step {step}; lower classifier.lr")
                loss_sum, loss_count = loss_sum + value, loss_count + 1
                postfix["loss"] = f"{value:.3f}"
                bar.update(1)

                if step % eval_every == 0 or step == steps:
                    acc = _accuracy(model, val, device) if len(val) else None
                    history.append({"step": step, "loss": loss_sum / loss_count, "val_accuracy": acc})
                    loss_sum, loss_count = 0.0, 0
                    if acc is not None:
                        postfix["val_acc"] = f"{acc:.3f}"
                        if acc >= best_acc:  # ties -> the later step
                            best_acc, best_step = acc, step
                            best_state = copy.deepcopy(model.state_dict())
                    model.train()
                bar.set_postfix(postfix, refresh=False)
        finally:
            bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    info = {
        "best_step": best_step,
        "val_accuracy": None if best_state is None else float(best_acc),
        "history": history,
        "steps": steps,
        "eval_every": eval_every,
        "train_size": len(train),
    }
    return model, info


def _accuracy(model: nn.Module, data: LabeledImages, device) -> float:
    pred = predict(model, data.images, device=device)  # [N]
    return float((pred == data.labels.cpu()).double().mean())


def train_one(
    splits: Splits,
    classifier: ClassifierConfig,
    seed: int,
    desc: str,
    device: torch.device | str = "cpu",
    progress: bool = False,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    acceleration: AccelerationConfig | None = None,
) -> tuple[SmallCNN, dict[str, Any]]:
    """One network of the downstream classifier's architecture and step budget (``classifier``),
    trained on the labelled training split with a seed of its own, selected on the validation
    split: the filter network, self-training's teacher (with ``augment``)."""
    one = dataclasses.replace(classifier, seeds=[seed], synthetic_ratio=0.0)
    return train_classifier(
        splits.train, splits.val, splits.num_classes, one, seed=seed, device=device, progress=progress,
        desc=desc, augment=augment, acceleration=acceleration,
    )  # fmt: skip
