"""Pixels: float images in [0, 1] <-> uint8, the one rounding rule of the project.

Every image that is stored (synthetic sets, grids, PIL items) or handed to a classifier as the
user's loader would give it goes through :func:`quantize`; every uint8 image read back goes
through :func:`dequantize`. So a synthetic item, its PNG and the tensor the classifier sees hold
the same 256 levels.
"""

from __future__ import annotations

import torch


def quantize(images: torch.Tensor) -> torch.Tensor:
    """float [..., C, H, W] in [0, 1] -> uint8 [..., C, H, W] on the CPU: ``round(clamp(x, 0, 1) * 255)``.
    uint8 input is returned as it is."""
    if images.dtype == torch.uint8:
        return images
    return (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def dequantize(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 [..., C, H, W] -> float32 in [0, 1]: ``x / 255`` (what torchvision's ``ToTensor`` gives)."""
    return pixels.float().div_(255.0)
