"""Image grids: one row per class, upscaled so that 8x8 digits are readable at a glance."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from augment.core.inference import module_device
from augment.core.pixels import quantize

MIN_CELL_PIXELS = 48  # images smaller than this are upscaled (nearest) to at least this side


def class_grid_inputs(
    num_classes: int, per_class: int, latent_dim: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed noise batch of progress grids: z [K*per_class, latent], y [K*per_class].

    Row k of the grid holds class k. A local generator fixes z, whatever the global RNG.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(num_classes * per_class, latent_dim, generator=g)
    y = torch.arange(num_classes).repeat_interleave(per_class)
    return z, y


def to_grid_image(images: torch.Tensor, ncols: int, min_cell: int = MIN_CELL_PIXELS) -> Image.Image:
    """[N, C, H, W] in [0, 1] -> a PIL grid with ``ncols`` columns, nearest-upscaled for small images."""
    h = images.shape[-2]
    scale = max(1, -(-min_cell // h))  # ceil(min_cell / h)
    if scale > 1:
        images = F.interpolate(images.float(), scale_factor=scale, mode="nearest")
    # imported here: torchvision costs a stage ~2 s of start-up, and most stages draw no grid
    from torchvision.utils import make_grid

    grid = make_grid(images.clamp(0, 1).cpu(), nrow=ncols, padding=2, pad_value=1.0)  # [3, H', W']
    array = quantize(grid).permute(1, 2, 0).numpy()  # [H', W', 3] uint8
    return Image.fromarray(array, mode="RGB")


def first_of_each_class(labels: torch.Tensor, per_class: int, num_classes: int) -> torch.Tensor:
    """Indices of the first ``per_class`` items of each class, class by class: the rows of a grid
    of a labeled set (a class with fewer items gives what it has)."""
    return torch.cat([torch.nonzero(labels == k).flatten()[:per_class] for k in range(num_classes)])


def save_grid(images: torch.Tensor, path: str | Path, ncols: int) -> Path:
    """Write ``images`` as a PNG grid to ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_grid_image(images, ncols).save(path)
    return path


def sample_grid(model, per_class: int = 10, seed: int = 0) -> torch.Tensor:
    """Samples of ``model`` for a fixed noise batch: [K*per_class, C, H, W], row k = class k."""
    z, y = class_grid_inputs(model.num_classes, per_class, model.latent_dim, seed)
    device = module_device(model)
    return model.generate(z.to(device), y.to(device)).cpu()
