"""Differentiable augmentation of a discriminator's inputs (DiffAugment: Zhao et al., NeurIPS 2020,
"Differentiable Augmentation for Data-Efficient GAN Training").

With a few hundred real images a GAN's discriminator memorises them: it tells the training images
from anything else, and its verdict stops teaching the generator. DiffAugment shows D every image
(real and generated alike, in D's update and in the generator's) through the same random,
differentiable transforms T: D learns real vs fake on T(x) and T(G(z)), so it cannot memorise the
exact pixels of the few real images, and the generator's gradient flows back through T. Because
fakes are transformed in the generator's update too, G is not pushed to draw transformed images
(augmenting reals only would be; Zhao et al. section 3).

Kinds (``diffaugment`` in params, any of):

- ``translation``: a shift of each image by an integer (dy, dx), each in [-s, s] with s = 1/8 of
  the side (rounded; at least 1), the vacated pixels 0 (the background of the project's images);
- ``cutout``: a square of half the side (rounded; at least 1), at a uniform centre, set to 0
  (clipped at the border);
- ``colour``: brightness (+ U[-0.25, 0.25]: the paper's U[-0.5, 0.5] on its [-1, 1] images, on
  this project's [0, 1]), saturation (each pixel's distance from its own channel mean x U[0, 2])
  and contrast (distance from the image mean x U[0.5, 1.5]), the paper's three, in that order. On a one-channel image saturation is the identity (the channel mean is the
  pixel), so ``colour`` is brightness and contrast there.

Strength (``diffaugment_p``): each kind is applied to each image independently with probability
p (ADA's convention, Karras et al. 2020); p = 1 is DiffAugment's, every image every kind. The
magnitudes are the paper's, fixed. One departure: translation and cutout fill with 0, this
project's background (black, under the digits), where the paper's 0 is mid-grey on [-1, 1].

Every transform is a differentiable function of the image (an index gather, a multiplication by a
0/1 mask, additions and multiplications): gradients reach the generator through it. The draws use
torch's global generator, which training seeds, and under torchrun each rank takes its rows of one
draw for the whole batch (augment/core/distributed.py), as a single process would draw them; with
no kinds (the default) nothing is drawn, so a run without the option keeps its numbers exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from augment.core import distributed
from augment.settings.sections import DIFFAUGMENT_KINDS

TRANSLATION_RATIO = 1 / 8  # the largest shift, as a share of the side (the paper's)
CUTOUT_RATIO = 1 / 2  # the square's side, as a share of the image's side (the paper's)


def _side(share: float, size: int) -> int:
    """share x size rounded to the nearest pixel, at least 1."""
    return max(1, int(share * size + 0.5))


def _chosen(n: int, p: float, device: torch.device) -> torch.Tensor:
    """Which of n images a kind applies to: [n] bool, each True with probability p (all at p = 1)."""
    if p >= 1:
        return torch.ones(n, dtype=torch.bool, device=device)
    return distributed.rand(n, device=device) < p


def translate(x: torch.Tensor, shift: torch.Tensor, limit: int | None = None) -> torch.Tensor:
    """Images x [B, C, H, W] shifted by integer shift [B, 2] (dy, dx): out[b, :, i, j] =
    x[b, :, i - dy, j - dx] where that pixel exists, else 0. ``limit``: a bound on |shift| known
    to the caller (saves reading the shifts back from the device)."""
    b, _, h, w = x.shape
    s = limit if limit is not None else (int(shift.abs().max().item()) if b else 0)
    padded = F.pad(x, (s, s, s, s))  # [B, C, H + 2s, W + 2s], zeros around
    rows = torch.arange(h, device=x.device)[None, :] + s - shift[:, :1]  # [B, H] source rows in padded
    cols = torch.arange(w, device=x.device)[None, :] + s - shift[:, 1:]  # [B, W] source columns
    batch = torch.arange(b, device=x.device)[:, None, None]  # [B, 1, 1]
    # advanced indices around the channel slice: the result is [B, H, W, C]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)  # [B, C, H, W]


def cutout_mask(centre: torch.Tensor, size: int, height: int, width: int) -> torch.Tensor:
    """[B, 1, H, W] of 1s with a size x size square of 0s at each centre [B, 2] (row, column):
    rows centre - size // 2 .. centre - size // 2 + size - 1, clipped at the border."""
    top_left = centre - size // 2  # [B, 2]
    rows = torch.arange(height, device=centre.device)[None, :] - top_left[:, :1]  # [B, H]
    cols = torch.arange(width, device=centre.device)[None, :] - top_left[:, 1:]  # [B, W]
    inside = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :]
    return (~inside).to(torch.float32)[:, None]  # [B, 1, H, W]


def _random_translation(x: torch.Tensor, p: float) -> torch.Tensor:
    b, _, h, w = x.shape
    s = _side(TRANSLATION_RATIO, min(h, w))
    shift = distributed.randint(-s, s + 1, b, 2, device=x.device)  # [B, 2] (dy, dx)
    shift = shift * _chosen(b, p, x.device)[:, None]  # an image not chosen: shift (0, 0)
    return translate(x, shift, limit=s)


def _random_cutout(x: torch.Tensor, p: float) -> torch.Tensor:
    b, _, h, w = x.shape
    size = _side(CUTOUT_RATIO, min(h, w))
    centre = torch.stack(
        [distributed.randint(0, h, b, device=x.device), distributed.randint(0, w, b, device=x.device)], 1
    )
    mask = cutout_mask(centre, size, h, w).to(x.dtype)  # [B, 1, H, W]
    keep = ~_chosen(b, p, x.device)  # an image not chosen keeps every pixel
    mask = torch.where(keep[:, None, None, None], torch.ones_like(mask), mask)
    return x * mask


def _random_colour(x: torch.Tensor, p: float) -> torch.Tensor:
    b = x.shape[0]

    def per_image(low: float, high: float, identity: float) -> torch.Tensor:
        """A factor [B, 1, 1, 1] ~ U[low, high] for chosen images, ``identity`` for the others."""
        value = distributed.rand(b, 1, 1, 1, device=x.device).to(x.dtype) * (high - low) + low
        chosen = _chosen(b, p, x.device)[:, None, None, None]
        return torch.where(chosen, value, torch.full_like(value, identity))

    x = x + per_image(-0.25, 0.25, 0.0)  # brightness: the paper's +-0.5 on [-1, 1] images, on [0, 1]
    channel_mean = x.mean(dim=1, keepdim=True)  # [B, 1, H, W]: each pixel's grey level
    x = (x - channel_mean) * per_image(0.0, 2.0, 1.0) + channel_mean  # saturation
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)  # [B, 1, 1, 1]
    return (x - image_mean) * per_image(0.5, 1.5, 1.0) + image_mean  # contrast


_TRANSFORMS = {"translation": _random_translation, "cutout": _random_cutout, "colour": _random_colour}


class DiffAugment:
    """T: the discriminator's input transform, ``kinds`` applied in the paper's order (colour,
    translation, cutout: DIFFAUGMENT_KINDS'), whatever order params lists them in, each to each
    image with probability ``p``. No kinds: the identity, drawing nothing."""

    def __init__(self, kinds: Sequence[str] = (), p: float = 1.0) -> None:
        unknown = [k for k in kinds if k not in DIFFAUGMENT_KINDS]
        if unknown:
            raise ValueError(f"diffaugment: unknown kind {unknown[0]!r}; one of: " + ", ".join(DIFFAUGMENT_KINDS))
        self.kinds = [k for k in DIFFAUGMENT_KINDS if k in kinds]
        self.p = p

    @property
    def active(self) -> bool:
        return bool(self.kinds) and self.p > 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """T(x) for images x [B, C, H, W]: a new tensor, differentiable in x; x itself when off."""
        if not self.active:
            return x
        for kind in self.kinds:
            x = _TRANSFORMS[kind](x, self.p)
        return x
