"""Judge-filtered synthesis: keep a synthetic image only when a network trained on real data
recognises it as the class it was drawn for.

A generator's worst images (a 4 that reads as a 9, a smudge) teach the downstream classifier the
wrong thing. The *filter network* is a :class:`~evaluation.classifier_net.SmallCNN` trained on the real
training split, selected on the validation split, never shown the test split, with its own seed:
it is neither the judge of the metrics (which must stay an independent ruler) nor any downstream
classifier. A candidate image of intended class y is kept when the filter gives
``P(y | image) >= sample.filter.threshold``; candidates are drawn until every class has
``sample.per_class`` kept images, and each class's acceptance rate is recorded.

Candidates are the plain sample's items first (same seed, same indices, same labels: the first
round is exactly ``data/synthetic/<method>.pt``), then further items, by index, for the classes
still short. So the filtered set is the plain set minus its rejected images plus replacements,
and threshold 0 gives the plain set itself.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from augment.config import AccelerationConfig, ClassifierConfig, FilterConfig
from augment.generation import generate_block
from augment.inference import module_device
from augment.labeled import Splits
from augment.labels import labels_from_counts
from augment.models import ConditionalGenerator
from augment.pixels import dequantize, quantize
from augment.progress import progress_bar
from evaluation.classifier import train_classifier
from evaluation.classifier_net import PathLike, SmallCNN, load_classifier, save_classifier
from evaluation.prediction import probabilities

__all__ = ["FILTER_ROLE", "FilteredSample", "train_filter", "save_filter", "load_filter",
           "filtered_sample"]

FILTER_ROLE = "filter"  # meta["role"] of a saved filter network, checked by load_filter


def train_filter(splits: Splits, classifier: ClassifierConfig, cfg: FilterConfig,
                 device: torch.device | str = "cpu", progress: bool = False,
                 acceleration: AccelerationConfig | None = None) -> tuple[SmallCNN, dict[str, Any]]:
    """The filter network: the downstream classifier's architecture and step budget
    (``classifier``), trained once on the real training split with seed ``cfg.seed``."""
    one = dataclasses.replace(classifier, seeds=[cfg.seed], synthetic_ratio=0.0)
    return train_classifier(splits.train, splits.val, splits.num_classes, one, seed=cfg.seed,
                            device=device, progress=progress, desc="filter network",
                            acceleration=acceleration)


def save_filter(path: PathLike, model: SmallCNN, info: dict[str, Any]) -> Path:
    """Write the filter network tagged ``role = "filter"`` (without the per-step history)."""
    meta = {k: v for k, v in info.items() if k != "history"}
    meta["role"] = FILTER_ROLE
    return save_classifier(path, model, meta)


def load_filter(path: PathLike, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict[str, Any]]:
    """Read a file written by :func:`save_filter`; another classifier file raises ValueError."""
    model, meta = load_classifier(path, device)
    if meta.get("role") != FILTER_ROLE:
        raise ValueError(f"{path}: a classifier file, but not a filter network (meta role "
                         f"{meta.get('role')!r}); run the train_filter stage")
    return model, meta


@dataclasses.dataclass
class FilteredSample:
    """What :func:`filtered_sample` returns."""

    images: torch.Tensor  # [K * per_class, C, H, W] uint8, class by class
    labels: torch.Tensor  # [K * per_class] int64, class order
    drawn: list[int]  # candidates scored per class
    accepted: list[int]  # candidates accepted per class (>= per_class; extras are not kept)

    @property
    def acceptance(self) -> list[float]:
        """Accepted / drawn, per class."""
        return [a / d if d else 0.0 for a, d in zip(self.accepted, self.drawn)]

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drawn over all classes."""
        return sum(self.accepted) / max(sum(self.drawn), 1)


def filtered_sample(
    generator: ConditionalGenerator,
    filter_net: SmallCNN,
    per_class: int,
    threshold: float,
    seed: int,
    batch_size: int = 256,
    max_draws: int = 20,
    progress: bool = False,
) -> FilteredSample:
    """``per_class`` accepted images of every class (see the module docstring).

    Round 0 scores the plain sample's items ``0 .. K * per_class - 1`` (class order); each later
    round asks, for every class still short of ``need`` images, ``ceil(need / rate)`` more
    candidates (rate: that class's acceptance so far, at least 5 %), numbered after the last item
    drawn. The filter sees the quantised pixels, as the downstream classifier will. A class that
    has drawn ``max_draws * per_class`` candidates without enough acceptances raises ValueError
    naming ``sample.filter.threshold`` and ``sample.filter.max_draws``.
    """
    k = generator.num_classes
    device = module_device(filter_net)
    kept: list[list[torch.Tensor]] = [[] for _ in range(k)]  # class -> uint8 [n, C, H, W] chunks
    have = [0] * k
    drawn = [0] * k
    accepted = [0] * k
    labels = labels_from_counts([per_class] * k)  # round 0: the plain sample's labels
    start = 0
    budget = max_draws * per_class
    bar = progress_bar(k * per_class, f"filtered sample {generator.name}", "img", progress)
    try:
        while True:
            for lo in range(0, len(labels), batch_size):
                block = labels[lo:lo + batch_size]  # [b]
                images = quantize(generate_block(generator, block, seed, start + lo))  # [b, C, H, W] uint8
                prob = probabilities(filter_net, dequantize(images), device=device)  # [b, K]
                ok = prob[torch.arange(len(block)), block] >= threshold  # [b] P(intended) >= t
                for c in block.unique().tolist():
                    mine = block == c
                    drawn[c] += int(mine.sum())
                    accepted[c] += int((mine & ok).sum())
                    take = images[mine & ok][: per_class - have[c]]
                    kept[c].append(take)
                    have[c] += len(take)
                    bar.update(len(take))
            start += len(labels)
            short = [c for c in range(k) if have[c] < per_class]
            if not short:
                break
            out = [c for c in short if drawn[c] >= budget]
            if out:
                c = out[0]
                raise ValueError(
                    f"sample.filter: class {c} of {generator.name}: only {have[c]} of {per_class} "
                    f"images reached P >= {threshold} after {drawn[c]} candidates; lower "
                    f"sample.filter.threshold or raise sample.filter.max_draws")
            asks = []
            for c in short:
                rate = max(accepted[c] / drawn[c], 0.05)
                asks.append(min(math.ceil((per_class - have[c]) / rate), budget - drawn[c]))
            labels = labels_from_counts([asks[short.index(c)] if c in short else 0 for c in range(k)])
    finally:
        bar.close()
    return FilteredSample(
        images=torch.cat([torch.cat(chunks) for chunks in kept]),
        labels=labels_from_counts([per_class] * k),
        drawn=drawn,
        accepted=accepted,
    )
