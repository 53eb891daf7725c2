"""Judge-filtered synthesis: keep a synthetic image only when a network trained on real data
recognises it as the class it was drawn for.

A generator's worst images (a 4 that reads as a 9, a smudge) teach the downstream classifier the
wrong thing. The *filter network* is a :class:`~evaluation.classifiers.net.SmallCNN` trained on the real
training split, selected on the validation split, never shown the test split, with its own seed:
it is neither the judge of the metrics (which must stay an independent ruler) nor any downstream
classifier. A candidate image of intended class y is kept when the filter gives
``P(y | image) >= t_y``; candidates are drawn until every class has ``sample.per_class`` kept
images, and each class's acceptance rate is recorded.

The threshold is relative to what the filter gives *real* images of the class
(:func:`class_thresholds`): t_y = min(``sample.filter.threshold``, the P(y | x) that a share
``sample.filter.real_pass`` of the real validation images of class y reach). A class that real
data itself rarely passes at the fixed threshold (a hard class of another dataset) is not asked
for more than real images give. And a run never stops on the filter: a class still short after
``sample.filter.max_draws`` x ``per_class`` candidates is filled with its best rejected
candidates (highest P(y | image)), and how many were so filled is recorded per class.

Candidates are the plain sample's items first (same seed, same indices, same labels: the first
round is exactly ``data/synthetic/<method>.pt``), then further items, by index, for the classes
still short. So the filtered set is the plain set minus its rejected images plus replacements,
and threshold 0 gives the plain set itself.

The same rule filters any numbered sequence of candidates, not only the prior's: the restyle
and transfer sets (``sample.styled.filter``) pass a ``draw`` that redraws real images through the
encoder (:class:`augment.sampling.restyle.StyledDraw`), so that a rejected restyle is replaced by
the next real image of its pool, redrawn with fresh noise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from augment.core.inference import module_device
from augment.core.labels import labels_from_counts
from augment.core.pixels import dequantize, quantize
from augment.core.progress import progress_bar
from augment.data.labeled import LabeledImages, Splits
from augment.models import ConditionalGenerator
from augment.params.config import AccelerationConfig, ClassifierConfig, FilterConfig, SampleConfig
from augment.sampling.generation import generate_block
from evaluation.classifiers.net import PathLike, SmallCNN, load_classifier, save_classifier
from evaluation.classifiers.prediction import probabilities
from evaluation.classifiers.training import train_one

__all__ = [
    "FILTER_ROLE",
    "Draw",
    "FilteredSample",
    "train_filter",
    "save_filter",
    "load_filter",
    "class_thresholds",
    "filtered_sample",
    "filtered_set",
    "shortfall_lines",
]

FILTER_ROLE = "filter"  # meta["role"] of a saved filter network, checked by load_filter

# The candidates: (labels [b] int64, the first candidate's item number) -> images [b, C, H, W]
# float32 in [0, 1] on the CPU; item numbers run 0, 1, 2, ... over the calls, in call order.
Draw = Callable[[torch.Tensor, int], torch.Tensor]


def train_filter(
    splits: Splits,
    classifier: ClassifierConfig,
    cfg: FilterConfig,
    device: torch.device | str = "cpu",
    progress: bool = False,
    acceleration: AccelerationConfig | None = None,
) -> tuple[SmallCNN, dict[str, Any]]:
    """The filter network: the downstream classifier's architecture and step budget
    (``classifier``), trained once on the real training split with seed ``cfg.seed``."""
    return train_one(splits, classifier, cfg.seed, "filter network", device, progress, acceleration=acceleration)


def save_filter(path: PathLike, model: SmallCNN, info: dict[str, Any]) -> Path:
    """Write the filter network tagged ``role = "filter"`` (without the per-step history)."""
    meta = {k: v for k, v in info.items() if k != "history"}
    meta["role"] = FILTER_ROLE
    return save_classifier(path, model, meta)


def load_filter(path: PathLike, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict[str, Any]]:
    """Read a file written by :func:`save_filter`; another classifier file raises ValueError."""
    model, meta = load_classifier(path, device)
    if meta.get("role") != FILTER_ROLE:
        raise ValueError(
            f"{path}: a classifier file, but not a filter network (meta role "
            f"{meta.get('role')!r}); run the train_filter stage"
        )
    return model, meta


def class_thresholds(
    filter_net: SmallCNN, real: LabeledImages, threshold: float, real_pass: float, num_classes: int
) -> list[float]:
    """Each class's acceptance threshold: min(``threshold``, the P(c | x) that a share ``real_pass``
    of ``real``'s images of class c reach), i.e. the lower (1 - real_pass)-quantile of the filter's
    probability of the true class over those images. ``real_pass`` 0, or a class without real
    images, keeps the fixed ``threshold``."""
    if not 0 <= real_pass <= 1:
        raise ValueError(f"sample.filter.real_pass: must be in [0, 1], got {real_pass}")
    if real_pass == 0 or len(real) == 0:
        return [float(threshold)] * num_classes
    prob = probabilities(filter_net, real.images, device=module_device(filter_net))  # [N, K]
    labels = real.labels.cpu().long()
    own = prob[torch.arange(len(labels)), labels]  # [N] P(true class | real image)
    out = []
    for c in range(num_classes):
        mine = own[labels == c]
        reach = float(torch.quantile(mine, 1.0 - real_pass)) if len(mine) else float(threshold)
        out.append(min(float(threshold), reach))
    return out


@dataclasses.dataclass
class FilteredSample:
    """What :func:`filtered_sample` returns."""

    images: torch.Tensor  # [K * per_class, C, H, W] uint8, class by class
    labels: torch.Tensor  # [K * per_class] int64, class order
    drawn: list[int]  # candidates scored per class
    accepted: list[int]  # candidates accepted per class (extras are not kept)
    thresholds: list[float]  # each class's acceptance threshold t_c
    filled: list[int]  # per class: best rejected candidates kept because the budget ran out
    items: torch.Tensor  # [K * per_class] int64: the item number each kept image was drawn as

    @property
    def acceptance(self) -> list[float]:
        """Accepted / drawn, per class."""
        return [a / d if d else 0.0 for a, d in zip(self.accepted, self.drawn, strict=True)]

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drawn over all classes."""
        return sum(self.accepted) / max(sum(self.drawn), 1)

    def record(self, classes: Sequence[str]) -> dict[str, Any]:
        """The per-class account of a filtered set, keyed by class name, as the stages write it
        to ``reports/samples/<set>.json``."""

        def per_class(values: Sequence[Any]) -> dict[str, Any]:
            return dict(zip(classes, values, strict=True))

        return {
            "acceptance_rate": self.acceptance_rate,
            "per_class_threshold": per_class(self.thresholds),
            "filled_below_threshold": per_class(self.filled),
            "per_class_acceptance": per_class(self.acceptance),
            "drawn": per_class(self.drawn),
            "accepted": per_class(self.accepted),
        }


Reserve = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # images [n, C, H, W], P [n], items [n]


def _keep_best(pool: Reserve | None, images: torch.Tensor, prob: torch.Tensor, items: torch.Tensor, n: int) -> Reserve:
    """The ``n`` highest-P (images, P, item numbers) of ``pool`` and the new candidates: a class's reserve."""
    if pool is not None:
        images, prob, items = torch.cat([pool[0], images]), torch.cat([pool[1], prob]), torch.cat([pool[2], items])
    order = torch.argsort(prob, descending=True, stable=True)[:n]  # ties: the earlier candidate
    return images[order], prob[order], items[order]


def filtered_sample(
    generator: ConditionalGenerator,
    filter_net: SmallCNN,
    per_class: int,
    threshold: float | Sequence[float],
    seed: int,
    batch_size: int = 256,
    max_draws: int = 20,
    progress: bool = False,
    draw: Draw | None = None,
    desc: str | None = None,
) -> FilteredSample:
    """``per_class`` accepted images of every class (see the module docstring).

    ``draw``: the candidates (:data:`Draw`); None draws the generator's prior samples of
    ``seed`` (:func:`augment.sampling.generation.generate_block`). ``desc`` names the progress bar.
    ``threshold``: one for every class, or one per class (:func:`class_thresholds`). Round 0
    scores the items ``0 .. K * per_class - 1`` (class order: the plain set); each later round
    asks, for every class still short of ``need`` images, ``ceil(need / rate)`` more candidates
    (rate: that class's acceptance so far, at least 5 %), numbered after the last item drawn. The
    filter sees the quantised pixels, as the downstream classifier will. A class that has drawn
    ``max_draws * per_class`` candidates without enough acceptances is filled with its best
    rejected candidates, in decreasing P, and ``filled`` counts them.
    """
    k = generator.num_classes
    thresholds = [float(threshold)] * k if isinstance(threshold, (int, float)) else [float(t) for t in threshold]
    if len(thresholds) != k:
        raise ValueError(f"filtered_sample: {len(thresholds)} thresholds for {k} classes")
    candidates: Draw = (
        draw if draw is not None else (lambda block, first: generate_block(generator, block, seed, first))
    )
    t = torch.tensor(thresholds)  # [K]
    device = module_device(filter_net)
    kept: list[list[torch.Tensor]] = [[] for _ in range(k)]  # class -> uint8 [n, C, H, W] chunks
    kept_items: list[list[torch.Tensor]] = [[] for _ in range(k)]  # class -> int64 [n] item numbers
    reserve: list[Reserve | None] = [None] * k  # best rejected (images, P, items)
    have = [0] * k
    drawn = [0] * k
    accepted = [0] * k
    filled = [0] * k
    labels = labels_from_counts([per_class] * k)  # round 0: the plain sample's labels
    start = 0
    budget = max_draws * per_class
    bar = progress_bar(k * per_class, desc or f"filtered sample {generator.name}", "img", progress)
    try:
        while True:
            for lo in range(0, len(labels), batch_size):
                block = labels[lo : lo + batch_size]  # [b]
                images = quantize(candidates(block, start + lo))  # [b, C, H, W] uint8
                items = torch.arange(start + lo, start + lo + len(block))  # [b] their item numbers
                prob = probabilities(filter_net, dequantize(images), device=device)  # [b, K]
                p_own = prob[torch.arange(len(block)), block].cpu()  # [b] P(intended class)
                ok = p_own >= t[block]  # [b] P(intended) >= t_intended
                for c in block.unique().tolist():
                    mine = block == c
                    drawn[c] += int(mine.sum())
                    accepted[c] += int((mine & ok).sum())
                    take = images[mine & ok][: per_class - have[c]]
                    kept[c].append(take)
                    kept_items[c].append(items[mine & ok][: len(take)])
                    have[c] += len(take)
                    bar.update(len(take))
                    if have[c] < per_class:  # still short: remember the best of the rejected
                        no = mine & ~ok
                        reserve[c] = _keep_best(reserve[c], images[no], p_own[no], items[no], per_class - have[c])
            start += len(labels)
            short = [c for c in range(k) if have[c] < per_class]
            for c in [c for c in short if drawn[c] >= budget]:  # out of budget: fill with the best
                # a class still short after budget >= per_class draws has rejected some: a reserve
                best_rejected = reserve[c]
                assert best_rejected is not None, f"class {c}: short of images with no rejected candidate"
                best = best_rejected[0][: per_class - have[c]]
                kept[c].append(best)
                kept_items[c].append(best_rejected[2][: len(best)])
                filled[c] = len(best)
                have[c] += len(best)
                bar.update(len(best))
            short = [c for c in short if have[c] < per_class]
            if not short:
                break
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
        thresholds=thresholds,
        filled=filled,
        items=torch.cat([torch.cat(chunks) for chunks in kept_items]),
    )


def filtered_set(
    generator: ConditionalGenerator,
    filter_net: SmallCNN,
    real_val: LabeledImages,
    cfg: SampleConfig,
    draw: Draw | None = None,
    desc: str | None = None,
) -> FilteredSample:
    """A stage's filtered set, as params.yaml's ``sample`` section asks: ``cfg.per_class`` images
    per class at each class's threshold (:func:`class_thresholds` of ``cfg.filter`` on the real
    validation images ``real_val``), items of ``cfg.seed`` in blocks of ``cfg.batch_size``, with
    progress. ``draw``: the candidates (None: the prior samples, the sample stage's)."""
    f = cfg.filter
    thresholds = class_thresholds(filter_net, real_val, f.threshold, f.real_pass, generator.num_classes)
    return filtered_sample(
        generator, filter_net, cfg.per_class, thresholds, cfg.seed, cfg.batch_size, f.max_draws, True, draw, desc
    )


def shortfall_lines(kept: FilteredSample, classes: Sequence[str], what: str, record: PathLike) -> list[str]:
    """One line per class filled with best rejected candidates: ``class 6: 12 of 800 <what> are
    the best rejected candidates ...``, naming the ``record`` that holds the numbers."""
    per_class = len(kept.labels) // max(len(classes), 1)
    return [
        f"class {c}: {n} of {per_class} {what} are the best rejected candidates (sample.filter.max_draws spent); "
        f"recorded in {record}"
        for c, n in zip(classes, kept.filled, strict=True)
        if n
    ]
