"""Classical augmentation: the nearly free bar a generator has to clear.

The ``classic`` source trains the downstream classifier on real images that are rotated, shifted,
zoomed, partly erased (and, for data where it makes sense, mirrored or turned upside down) afresh
at every step; the ``classic+<method>`` sources do the same to real and synthetic images alike.
Labels never change.

The operations and their parameters are torchvision's ``transforms.v2`` ones
(``RandomAffine(degrees, translate, scale)``, ``RandomErasing(p, scale, value=0)``,
``RandomHorizontalFlip(p)``, ``RandomVerticalFlip(p)``), but applied to a whole batch at once with parameters drawn *per
image*: v2 transforms draw one set of parameters per call, and calling them image by image cost
12.7 ms per batch of 64 on this project's CPU (twice a digits classifier step), against well under
a millisecond here. :func:`affine_theta` reproduces ``torchvision.transforms.v2.functional.affine``'s
geometry (tests/test_classic.py compares the two on the same parameters).

Randomness comes from the ``torch.Generator`` passed in, never from the global RNG, so the
classifier's batch order (its own generator) is the same with and without augmentation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from augment.params.config import AugmentationConfig

__all__ = ["ClassicAugmentation", "affine_theta", "erase_mask"]

ERASE_RATIO = (0.3, 3.3)  # aspect ratios of the erased rectangle: RandomErasing's default
ERASE_MIN_AREA = 0.02  # smallest share of the image erased: RandomErasing's default


def affine_theta(
    angle: torch.Tensor, translate: torch.Tensor, scale: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """The sampling grids' matrices [B, 2, 3] for ``F.affine_grid(align_corners=False)``.

    angle [B] in degrees, *clockwise* on screen (torchvision's convention: y points down);
    translate [B, 2] in pixels (x right, y down); scale [B]. The image is rotated and scaled about
    its centre, then shifted. affine_grid maps each *output* pixel to where it is read from, so
    theta is the inverse transform: rotate by -angle, divide by scale, undo the shift; the pixel
    offsets are then written in the [-1, 1] coordinates of affine_grid (divided by half the side),
    and the off-diagonal terms rescaled by the aspect ratio for non-square images.
    """
    rad = torch.deg2rad(angle)  # [B]
    cos, sin = torch.cos(rad) / scale, torch.sin(rad) / scale  # inverse rotation-scale, [B]
    tx, ty = translate[:, 0], translate[:, 1]  # [B] pixels
    # inverse of (x -> R s x + t) is (x -> (R s)^-1 (x - t)); here in pixel units about the centre
    m = torch.stack(
        [
            torch.stack([cos, sin, -(cos * tx + sin * ty)], dim=1),
            torch.stack([-sin, cos, -(-sin * tx + cos * ty)], dim=1),
        ],
        dim=1,
    )  # [B, 2, 3] pixels
    theta = m.clone()
    theta[:, 0, 1] = m[:, 0, 1] * height / width
    theta[:, 1, 0] = m[:, 1, 0] * width / height
    theta[:, 0, 2] = m[:, 0, 2] * 2.0 / width
    theta[:, 1, 2] = m[:, 1, 2] * 2.0 / height
    return theta


def erase_mask(n: int, height: int, width: int, p: float, max_area: float, generator: torch.Generator) -> torch.Tensor:
    """A bool mask [n, 1, H, W]: with probability ``p`` an image gets one rectangle of
    ``U(2 %, max_area)`` of its area and aspect ratio log-uniform in (0.3, 3.3), at a uniform
    position (RandomErasing's parameters; a rectangle larger than a side is clipped to it)."""
    u = torch.rand(n, 5, generator=generator)  # [n, 5] uniforms: apply, area, ratio, top, left
    area = (ERASE_MIN_AREA + u[:, 1] * (max_area - ERASE_MIN_AREA)) * height * width
    log_lo, log_hi = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    ratio = torch.exp(log_lo + u[:, 2] * (log_hi - log_lo))
    h = torch.sqrt(area * ratio).round().clamp(1, height)  # [n]
    w = torch.sqrt(area / ratio).round().clamp(1, width)  # [n]
    top = (u[:, 3] * (height - h + 1)).floor()  # [n] in [0, H - h]
    left = (u[:, 4] * (width - w + 1)).floor()
    rows = torch.arange(height, dtype=torch.float32)  # [H]
    cols = torch.arange(width, dtype=torch.float32)  # [W]
    in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])  # [n, H]
    in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])  # [n, W]
    mask = in_rows[:, :, None] & in_cols[:, None, :]  # [n, H, W]
    return (mask & (u[:, 0] < p)[:, None, None])[:, None]  # [n, 1, H, W]


class ClassicAugmentation:
    """``augment(images, generator)``: images [B, C, H, W] in [0, 1] -> augmented, same shape.

    Each image gets its own angle ~ U(-degrees, degrees), shift ~ U(-translate, translate) x side
    on each axis, zoom ~ U(scale_min, scale_max) (bilinear resampling, zeros outside: the black
    background of digits), then erasing (set to 0), horizontal and vertical flips with their
    probabilities. The vertical flip's draws come last and only when it is on, so a configuration
    without it draws exactly what it drew before the option existed.
    """

    def __init__(self, cfg: AugmentationConfig):
        self.cfg = cfg

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        b, _, h, w = images.shape
        u = torch.rand(b, 5, generator=generator)  # [B, 5] angle, tx, ty, scale, flip
        angle = (2 * u[:, 0] - 1) * cfg.degrees  # [B] degrees
        translate = (2 * u[:, 1:3] - 1) * cfg.translate * torch.tensor([w, h], dtype=torch.float32)  # [B, 2] px
        scale = cfg.scale_min + u[:, 3] * (cfg.scale_max - cfg.scale_min)  # [B]
        erase = erase_mask(b, h, w, cfg.erasing, cfg.erasing_max_area, generator)  # [B, 1, H, W]
        flip = u[:, 4] < cfg.hflip  # [B]

        device = images.device
        theta = affine_theta(angle, translate, scale, h, w).to(device, images.dtype)  # [B, 2, 3]
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # [B, H, W, 2]
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out = out.masked_fill(erase.to(device), 0.0)
        if cfg.hflip > 0:
            out = torch.where(flip.to(device)[:, None, None, None], out.flip(-1), out)
        if cfg.vflip > 0:
            upside_down = torch.rand(b, generator=generator) < cfg.vflip  # [B]
            out = torch.where(upside_down.to(device)[:, None, None, None], out.flip(-2), out)
        return out  # [B, C, H, W]

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"ClassicAugmentation(degrees={c.degrees}, translate={c.translate}, "
            f"scale=({c.scale_min}, {c.scale_max}), erasing={c.erasing} up to "
            f"{c.erasing_max_area}, hflip={c.hflip}, vflip={c.vflip})"
        )
