"""Images from a class-conditional generator: the one code path of the Dataset, the sample stage
and the filtered sets.

Determinism (the contract both share)
-------------------------------------
Item ``i`` is fixed by ``(seed, i)`` alone: whatever the access order, the DataLoader's batch
size, shuffling or number of workers, and whether it came from the Dataset or from
:func:`sample_images` (with the same ``batch_size``), it is the same image.

* The code ``z_i`` of item ``i`` is drawn from its own local generator,
  ``numpy.random.SeedSequence(seed, spawn_key=(i,))`` — exactly the ``i``-th child of
  ``SeedSequence(seed).spawn(...)`` — never from the global RNG. (Not a ``torch.Generator``
  seeded with ``seed * 2**32 + i``: torch's CPU generator keeps only the low 32 bits of its seed,
  so that scheme would make every seed give the same images; a 32-bit hash of (seed, i) would let
  two items collide. ``SeedSequence`` mixes the whole pair into a 128-bit state.)
* Indices are grouped into fixed blocks of ``batch_size`` consecutive items; a block is always
  decoded in one forward pass of the same items, in eval mode (batch norm uses its running
  statistics), so not even floating-point summation order depends on how items are asked for.
* Pixels are quantised once, ``round(clamp(x, 0, 1) * 255)`` to uint8, the same rule as
  :func:`augment.data.labeled.to_pil`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from augment.core.inference import module_device
from augment.core.labels import check_int, resolve_labels
from augment.core.progress import progress_bar
from augment.models import ConditionalGenerator
from augment.settings.sections import MAX_SEED


def item_codes(seed: int, start: int, n: int, latent_dim: int) -> torch.Tensor:
    """The codes z of items ``start .. start + n - 1``: [n, latent_dim] float32, z_i ~ N(0, I).

    Each item has its own local generator seeded from (seed, i) (see the module docstring), so
    z_i does not depend on which other items are drawn with it, nor on the global RNG.
    """
    z = np.empty((n, latent_dim), dtype=np.float32)  # [n, latent]
    for k in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(start + k,)))
        z[k] = rng.standard_normal(latent_dim, dtype=np.float32)
    return torch.from_numpy(z)


def generate_block(model: ConditionalGenerator, labels: torch.Tensor, seed: int, start: int) -> torch.Tensor:
    """Items ``start .. start + len(labels) - 1`` decoded in one forward pass.

    labels [n] int64 -> images [n, C, H, W] float32 in [0, 1] on the CPU. ``model.generate``
    runs in eval mode without gradients.
    """
    device = module_device(model)
    z = item_codes(seed, start, len(labels), model.latent_dim).to(device)  # [n, latent]
    images = model.generate(z, labels.to(device))  # [n, C, H, W]
    return images.float().clamp(0, 1).cpu()


def check_seed(seed: Any) -> int:
    """``seed`` as an int in [0, MAX_SEED]; a one-line ValueError naming ``seed`` otherwise."""
    return check_int(seed, "seed", 0, MAX_SEED)


def sample_images(
    model: ConditionalGenerator, labels: torch.Tensor, seed: int, batch_size: int = 256, progress: bool = False
) -> torch.Tensor:
    """Images for ``labels`` [N]: [N, C, H, W] float32 in [0, 1] on the CPU.

    Item i is fixed by (seed, i); batches are the fixed blocks ``[b * batch_size, (b + 1) *
    batch_size)`` that :class:`SyntheticDataset` uses, so with the same ``batch_size`` this gives
    the same pixels, after :func:`augment.core.pixels.quantize`, as ``SyntheticDataset(model, labels=labels,
    seed=seed, batch_size=batch_size)``.
    """
    seed = check_seed(seed)
    batch_size = check_int(batch_size, "batch_size", 1)
    labels = resolve_labels(model.num_classes, labels=labels)  # [N] int64, checked in [0, K)
    n = len(labels)
    out = torch.empty(n, *model.image_shape, dtype=torch.float32)  # [N, C, H, W]
    with progress_bar(n, f"sample {getattr(model, 'name', 'model')}", "img", progress) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            out[start:stop] = generate_block(model, labels[start:stop], seed, start)
            bar.update(stop - start)
    return out
