"""Synthetic sets drawn from *real* images through a model's encoder: restyle and transfer.

The plain synthetic set decodes codes drawn from the prior, z_p ~ N(0, I). A model with an
encoder Q(z | x, y) (CVAE, CVAE-GAN) can instead start from a real training image x of class y
and its posterior N(mu, diag(sigma^2)) = Q(z | x, y):

- **restyle** (within-class variation of real images; cf. DAGAN, Antoniou et al. 2017): item j of
  class c redraws a real image of class c, in class c, from z = mu + noise * sigma * eps_j;
- **transfer** (a class borrows the variation of the others; cf. BAGAN, Mariani et al. 2018):
  item j of class c redraws a real image of *another* class as class c, from the same kind of
  code. With ``classifier.synthetic_mode: top_up`` the rare classes are filled with the majority
  classes' writing.

``noise`` (params ``sample.styled.noise``) scales the posterior's spread: 1 draws from the
posterior itself, 0 decodes its mean (a restyle is then the deterministic reconstruction, a
transfer the stylisation of augment/sampling/stylize.py).

Which real image item j of class c starts from: the class's pool (its own images for restyle,
every other class's for transfer) in an order shuffled once by (seed, kind, c); item j takes
pool[j mod len(pool)], so a pool smaller than ``per_class`` is cycled, each pass with new noise.
eps_j is item j's code of :func:`augment.sampling.generation.item_codes` (its own seed sequence), and
items are decoded in fixed blocks of ``batch_size``: the same (model, real images, seed) give the
same images whatever else is drawn. :class:`StyledDraw` is that numbering as a sequence of
candidates, so the filter network can screen a styled set as it screens prior samples
(``sample.styled.filter``): a rejected item is replaced by the next image of its class's pool. Only the real *training* images are used (docs/design.md:
a generator sees only the training data the downstream classifier sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from augment.core.inference import inference, module_device
from augment.core.labels import labels_from_counts
from augment.core.progress import progress_bar
from augment.data.labeled import LabeledImages
from augment.models import ConditionalGenerator, NoEncoder
from augment.params.sources import NOT_APPLICABLE, RESTYLE, STYLED_KINDS, TRANSFER
from augment.sampling.generation import item_codes

__all__ = [
    "RESTYLE",
    "TRANSFER",
    "STYLED_KINDS",
    "NOT_APPLICABLE",
    "StyledSet",
    "StyledDraw",
    "source_indices",
    "styled_set",
]


@dataclass
class StyledSet:
    """What :func:`styled_set` returns."""

    images: torch.Tensor  # [K * per_class, C, H, W] float32 in [0, 1], class by class
    labels: torch.Tensor  # [K * per_class] int64: the class each image is drawn as
    sources: torch.Tensor  # [K * per_class] int64: the index into the real images it started from


def _pools(labels: torch.Tensor, kind: str, num_classes: int, seed: int) -> list[torch.Tensor]:
    """Each class's pool of real-image indices, in its order shuffled once by (seed, kind, c):
    its own images for restyle, every other class's for transfer. Raises ValueError naming the
    class whose pool is empty."""
    if kind not in STYLED_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(STYLED_KINDS)}, got {kind!r}")
    labels = labels.long().cpu()
    pools = []
    for c in range(num_classes):
        pool = torch.nonzero(labels == c if kind == RESTYLE else labels != c).flatten()  # [n_pool]
        if len(pool) == 0:
            raise ValueError(
                f"{kind}: class {c} has no real {'images' if kind == RESTYLE else 'images of other classes'} "
                f"in the training split to start from"
            )
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STYLED_KINDS.index(kind), c)))
        pools.append(pool[torch.from_numpy(rng.permutation(len(pool)))])  # [n_pool], fixed by (seed, kind, c)
    return pools


def source_indices(
    labels: torch.Tensor, kind: str, per_class: int, num_classes: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(target labels [K * per_class], real-image index [K * per_class]) in class order: item j
    of class c starts from pool[j mod len(pool)] (cycled when the pool is small).

    ``labels`` [N] are the real images' labels. Raises ValueError naming the class whose pool is
    empty (a class without real images cannot be restyled; one class alone cannot be transferred).
    """
    pools = _pools(labels, kind, num_classes, seed)
    targets = labels_from_counts([per_class] * num_classes)  # [K * per_class]
    return targets, torch.cat([pool[torch.arange(per_class) % len(pool)] for pool in pools])


class StyledDraw:
    """The candidates of a restyle or transfer set, one numbered item after another.

    Called with (labels [b], first item number), it returns the items' images [b, C, H, W]
    float32 in [0, 1] on the CPU: the n-th item of class c asked for starts from the real image
    pool_c[n mod len(pool_c)] (:func:`_pools`) and is decoded as c from z = mu + noise * sigma *
    eps_i, eps_i the code of its item number i (:func:`augment.sampling.generation.item_codes`).
    Asked in class order, ``per_class`` of each, that is :func:`styled_set` itself; asked again
    for a class (the filter's later rounds, evaluation/classifiers/filtering.py), it continues
    that class's pool with fresh noise. Calls must number items 0, 1, 2, ... without gaps;
    ``origins[i]`` is the real image item i started from, ``targets[i]`` the class it was drawn as.
    """

    def __init__(self, model: ConditionalGenerator, real: LabeledImages, kind: str, noise: float = 1.0, seed: int = 0):
        if not model.can_encode:
            raise NoEncoder(model.name, NOT_APPLICABLE)
        if noise < 0:
            raise ValueError(f"sample.styled.noise: must be >= 0, got {noise}")
        if tuple(real.images.shape[1:]) != tuple(model.image_shape):
            raise ValueError(
                f"real images of shape {tuple(real.images.shape[1:])} do not fit a {model.name} "
                f"trained on {tuple(model.image_shape)}"
            )
        self.model, self.real, self.kind, self.noise, self.seed = model, real, kind, noise, seed
        self.pools = _pools(real.labels, kind, model.num_classes, seed)
        self.asked = [0] * model.num_classes  # items asked for so far, per class
        self.origins: list[int] = []  # item number -> index into real
        self.targets: list[int] = []  # item number -> the class it is drawn as

    def __call__(self, labels: torch.Tensor, first: int) -> torch.Tensor:
        if first != len(self.origins):
            raise ValueError(f"StyledDraw: items are numbered without gaps: expected {len(self.origins)}, got {first}")
        labels = labels.long().cpu()
        index = []
        for c in labels.tolist():
            pool = self.pools[c]
            index.append(int(pool[self.asked[c] % len(pool)]))
            self.asked[c] += 1
        self.origins += index
        self.targets += labels.tolist()
        model, device = self.model, module_device(self.model)
        with inference(model):
            x = self.real.images[index].to(device).float()  # [b, C, H, W] the sources
            y = self.real.labels[index].to(device).long()  # [b] their own classes
            mu, logvar = model.encode(x, y)  # [b, latent] each: Q(z | x, y)
            eps = item_codes(self.seed, first, len(labels), model.latent_dim).to(device)  # [b, latent]
            z = mu + self.noise * torch.exp(0.5 * logvar) * eps  # [b, latent]; noise 0: z = mu exactly
            return model.decode(z, labels.to(device)).float().clamp(0, 1).cpu()


def styled_set(
    model: ConditionalGenerator,
    real: LabeledImages,
    kind: str,
    per_class: int,
    noise: float = 1.0,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> StyledSet:
    """``per_class`` images of every class, each a real image of ``real`` redrawn (module docstring):
    items ``0 .. K * per_class - 1`` of :class:`StyledDraw`, in fixed blocks of ``batch_size``.

    Raises :class:`NoEncoder` for a model without an encoder, ValueError for a negative
    ``noise`` or images that do not fit the model.
    """
    draw = StyledDraw(model, real, kind, noise, seed)
    targets = labels_from_counts([per_class] * model.num_classes)  # [K * per_class] class order
    out = torch.empty(len(targets), *model.image_shape, dtype=torch.float32)  # [N, C, H, W]
    with progress_bar(len(targets), f"{kind} {model.name}", "img", progress) as bar:
        for start in range(0, len(targets), batch_size):
            stop = min(start + batch_size, len(targets))
            out[start:stop] = draw(targets[start:stop], start)
            bar.update(stop - start)
    return StyledSet(out, targets, torch.tensor(draw.origins, dtype=torch.int64))
