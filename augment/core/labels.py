"""The labels of a synthetic dataset: class-balanced, from per-class counts, or given, checked.

:func:`resolve_labels` is the one place that turns ``num_samples`` / ``per_class`` / ``labels``
(the arguments of :class:`augment.synthesis.synthetic.SyntheticDataset` and :func:`augment.sampling.generation.sample_images`)
into labels [N] int64, with a one-line error naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from augment.settings.sections import MAX_IMAGES

DEFAULT_NUM_SAMPLES = 1000  # size of a SyntheticDataset when no size is given

# The label of an unlabelled image (a label budget's pool, data.labelled): the pool's labels in
# the splits, and the y a generator that takes unlabelled images sees for them in train_step.
UNLABELLED = -1


def balanced_labels(num_classes: int, n: int) -> torch.Tensor:
    """Class-balanced labels [n] int64: item i has label ``i % num_classes``.

    Interleaving (rather than sorting) keeps every prefix balanced too, so the first 10 * K
    items of a dataset are as balanced as the whole.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes: must be an integer >= 1, got {num_classes}")
    if n < 0:
        raise ValueError(f"num_samples: must be an integer >= 0, got {n}")
    return torch.arange(n, dtype=torch.int64) % num_classes  # [n]


def labels_from_counts(counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Labels [sum(counts)] int64: class k repeated ``counts[k]`` times, in class order."""
    counts_t = torch.as_tensor(list(counts) if not isinstance(counts, torch.Tensor) else counts)
    if counts_t.ndim != 1 or (counts_t.numel() and counts_t.dtype.is_floating_point):
        raise ValueError(f"per_class: must be a list of integer counts, got {counts!r}")
    counts_t = counts_t.long()
    if bool((counts_t < 0).any()):
        raise ValueError(f"per_class: counts must be integers >= 0, got {counts_t.tolist()}")
    return torch.repeat_interleave(torch.arange(len(counts_t)), counts_t)  # [sum(counts)]


def check_int(value: Any, name: str, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in [``minimum``, ``maximum``] (no upper bound when None); a one-line
    ValueError naming ``name`` otherwise."""
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: must be {allowed}, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name}: must be {allowed}, got {value}")
    return int(value)


def resolve_labels(
    num_classes: int,
    num_samples: int | None = None,
    per_class: int | Sequence[int] | None = None,
    labels: Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """The labels [N] int64 of a synthetic dataset from whichever of the three was given.

    * nothing: ``DEFAULT_NUM_SAMPLES`` class-balanced items;
    * ``num_samples``: ``balanced_labels(K, num_samples)`` (item i has label i % K);
    * ``per_class``: an int (the same count for every class) or K counts; class k repeated
      ``per_class[k]`` times, in class order;
    * ``labels``: explicit, each in [0, K).

    ``per_class`` and ``labels`` exclude each other; ``num_samples`` may accompany either only
    if it agrees with the size they define.
    """
    k = num_classes
    if per_class is not None and labels is not None:
        raise ValueError("per_class and labels: give only one of them (each defines the labels)")
    if num_samples is not None:
        num_samples = check_int(num_samples, "num_samples", 0, MAX_IMAGES)

    if labels is not None:
        y = torch.as_tensor(labels if isinstance(labels, torch.Tensor) else list(labels))
        if y.ndim != 1 or (y.numel() and (y.dtype.is_floating_point or y.dtype == torch.bool)):
            raise ValueError(f"labels: must be a 1-D sequence of integers in [0, {k}), got {labels!r}")
        y = y.long().cpu()
        bad = torch.nonzero((y < 0) | (y >= k)).flatten()
        if len(bad):
            i = int(bad[0])
            raise ValueError(
                f"labels: values must be in [0, {k}) (the model has {k} classes), got {int(y[i])} at index {i}"
            )
        source = "labels"
    elif per_class is not None:
        if isinstance(per_class, (int, np.integer)) and not isinstance(per_class, bool):
            counts = [check_int(per_class, "per_class", 0)] * k
        else:
            if isinstance(per_class, (str, bytes)) or not isinstance(per_class, (Sequence, torch.Tensor, np.ndarray)):
                raise ValueError(f"per_class: must be an integer or a list of {k} integers, got {per_class!r}")
            values = per_class.tolist() if isinstance(per_class, (torch.Tensor, np.ndarray)) else list(per_class)
            counts = [check_int(c, "per_class", 0) for c in values]
            if len(counts) != k:
                raise ValueError(f"per_class: must have one count per class ({k} values), got {len(counts)}")
        if sum(counts) > MAX_IMAGES:
            raise ValueError(f"per_class: {sum(counts)} images in all; at most {MAX_IMAGES} (MAX_IMAGES)")
        y = labels_from_counts(counts)
        source = "per_class"
    else:
        return balanced_labels(k, DEFAULT_NUM_SAMPLES if num_samples is None else num_samples)

    if num_samples is not None and num_samples != len(y):
        raise ValueError(
            f"num_samples: {num_samples} conflicts with {source}, which defines {len(y)} items; "
            f"give only one of num_samples / per_class / labels"
        )
    return y
