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

__all__ = ["ClassicAugmentation", "affine_theta", "color_jitter", "erase_mask", "rgb_to_hsv", "hsv_to_rgb"]

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


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB in [0, 1] -> HSV, each in [0, 1] (hue as a share of a turn; the
    hexcone model of Python's colorsys and torchvision's ``adjust_hue``)."""
    r, g, b = rgb.unbind(1)  # [B, H, W] each
    top, bottom = rgb.max(1).values, rgb.min(1).values  # [B, H, W]
    chroma = top - bottom
    saturation = chroma / torch.where(top > 0, top, torch.ones_like(top))
    c = torch.where(chroma > 0, chroma, torch.ones_like(chroma))  # no division by 0 for greys
    hue = torch.where(
        top == r,
        (g - b) / c,  # between yellow and magenta
        torch.where(top == g, 2.0 + (b - r) / c, 4.0 + (r - g) / c),
    )
    hue = torch.where(chroma > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))  # greys have hue 0
    return torch.stack([hue, saturation, top], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_hsv`: [B, 3, H, W] HSV in [0, 1] -> RGB."""
    h, s, v = hsv.unbind(1)  # [B, H, W] each
    sector = torch.floor(h * 6.0)
    f = h * 6.0 - sector  # position inside the sector
    i = sector.long() % 6  # [B, H, W] in 0..5
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # for each sector, which of (v, q, p, t) is r, g and b
    table = torch.stack([v, q, p, t], dim=1)  # [B, 4, H, W]
    pick = torch.tensor([[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=hsv.device)
    index = pick[i].permute(0, 3, 1, 2)  # [B, 3, H, W]: the row of table each channel takes
    return torch.gather(table, 1, index)


def _factors(n: int, strength: float, generator: torch.Generator) -> torch.Tensor:
    """[n, 1, 1, 1] factors ~ U[max(0, 1 - strength), 1 + strength] (ColorJitter's range)."""
    low = max(0.0, 1.0 - strength)
    return (low + torch.rand(n, generator=generator) * (1.0 + strength - low))[:, None, None, None]


def _grey(images: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> [B, 1, H, W] luma (ITU-R 601, torchvision's rgb_to_grayscale); grey stays."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b)[:, None]


def color_jitter(
    images: torch.Tensor, brightness: float, contrast: float, saturation: float, hue: float, generator: torch.Generator
) -> torch.Tensor:
    """ColorJitter drawn per image, batched: [B, C, H, W] in [0, 1] -> same shape, in [0, 1].

    In this fixed order (torchvision draws a random order per call): brightness scales the
    image; contrast blends it with its mean luma; saturation with its own luma image; hue turns
    the hue by a shift in [-hue, hue]. A strength of 0 draws nothing, so an augmentation without
    jitter draws what it drew before jitter existed; saturation and hue leave grey images alone.
    """
    b, device = images.shape[0], images.device
    out = images
    if brightness > 0:
        out = (out * _factors(b, brightness, generator).to(device)).clamp(0, 1)
    if contrast > 0:
        mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)  # [B, 1, 1, 1]
        out = (mean + (out - mean) * _factors(b, contrast, generator).to(device)).clamp(0, 1)
    if out.shape[1] == 3 and saturation > 0:
        grey = _grey(out)  # [B, 1, H, W]
        out = (grey + (out - grey) * _factors(b, saturation, generator).to(device)).clamp(0, 1)
    if out.shape[1] == 3 and hue > 0:
        shift = ((2 * torch.rand(b, generator=generator) - 1) * hue).to(device)  # [B] turns
        hsv = rgb_to_hsv(out)
        hsv = torch.stack([(hsv[:, 0] + shift[:, None, None]) % 1.0, hsv[:, 1], hsv[:, 2]], dim=1)
        out = hsv_to_rgb(hsv)
    return out


class ClassicAugmentation:
    """``augment(images, generator)``: images [B, C, H, W] in [0, 1] -> augmented, same shape.

    Each image gets its own angle ~ U(-degrees, degrees), shift ~ U(-translate, translate) x side
    on each axis, zoom ~ U(scale_min, scale_max) (bilinear resampling, zeros outside: the black
    background of digits), then erasing (set to 0), horizontal and vertical flips with their
    probabilities, then colour jitter (:func:`color_jitter`). The vertical flip's draws come last and only when it is on, so a configuration
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
        return color_jitter(out, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, generator)  # [B, C, H, W]

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"ClassicAugmentation(degrees={c.degrees}, translate={c.translate}, "
            f"scale=({c.scale_min}, {c.scale_max}), erasing={c.erasing} up to "
            f"{c.erasing_max_area}, hflip={c.hflip}, vflip={c.vflip}, brightness={c.brightness}, "
            f"contrast={c.contrast}, saturation={c.saturation}, hue={c.hue})"
        )
