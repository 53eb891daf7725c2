"""The real data in memory: images with labels (:class:`LabeledImages`), the three splits
(:class:`Splits`, saved by the prepare stage), and :class:`DataError`, the one error for bad
data on disk. Their torchvision-style view is augment/data/image_dataset.py (torchvision is not
imported here: every stage reads these, and torchvision costs each about 2 s of start-up).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from augment.core.labels import UNLABELLED
from augment.core.outputs import atomic_torch_save
from augment.core.pixels import quantize

PathLike = str | os.PathLike


class DataError(ValueError):
    """Bad or missing data: the message names the file or folder and what to do about it."""


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------


@dataclass
class LabeledImages:
    """Images with their integer labels, held in memory."""

    images: torch.Tensor  # [N, C, H, W] float32 in [0, 1]
    labels: torch.Tensor  # [N] int64, index into Splits.classes

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.labels.ndim != 1 or len(self.images) != len(self.labels):
            raise ValueError(
                f"LabeledImages needs images [N, C, H, W] and labels [N], got "
                f"{tuple(self.images.shape)} and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> LabeledImages:
        """The images at ``index`` (an int64 index tensor, possibly empty), in that order."""
        return LabeledImages(self.images[index], self.labels[index])

    def __add__(self, other: LabeledImages) -> LabeledImages:
        """These images followed by ``other``'s (same image shape), labels alike."""
        if tuple(other.images.shape[1:]) != tuple(self.images.shape[1:]):
            raise ValueError(
                f"cannot join images of shape {tuple(other.images.shape[1:])} to {tuple(self.images.shape[1:])}"
            )
        images = torch.cat([self.images, other.images.to(self.images.device, self.images.dtype)])
        return LabeledImages(images, torch.cat([self.labels, other.labels.to(self.labels.device, torch.int64)]))


@dataclass
class Splits:
    """The real train / val / test splits, the class names (index = label) and, with a label
    budget (``data.labelled``, ``data.unlabelled_root``), the unlabelled pool: training images
    whose every label is :data:`UNLABELLED`, so that no pool image can carry its class into any
    training (None: no pool)."""

    train: LabeledImages
    val: LabeledImages
    test: LabeledImages
    classes: list[str]
    pool: LabeledImages | None = None

    def __post_init__(self) -> None:
        if self.pool is not None and bool((self.pool.labels != UNLABELLED).any()):
            raise ValueError(f"the unlabelled pool's labels must all be UNLABELLED ({UNLABELLED})")

    @property
    def unlabelled(self) -> LabeledImages:
        """The pool, or no image ([0, C, H, W]) without one."""
        if self.pool is not None:
            return self.pool
        return LabeledImages(self.train.images[:0], torch.full((0,), UNLABELLED, dtype=torch.int64))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        c, h, w = self.train.images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def save(self, path: PathLike) -> None:
        """Write plain tensors, lists and strings with ``torch.save``, atomically.

        A temporary file in the same folder is renamed over ``path`` only once it is complete, so
        an interrupted run never leaves a half-written file that a later stage would trust.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict = {"format": 1, "classes": list(self.classes)}
        for name in ("train", "val", "test"):
            split: LabeledImages = getattr(self, name)
            payload[name] = {"images": split.images.contiguous(), "labels": split.labels.contiguous()}
        if self.pool is not None:  # images only: a pool has no labels to write
            payload["pool"] = {"images": self.pool.images.contiguous()}
        atomic_torch_save(payload, path)

    @classmethod
    def load(cls, path: PathLike) -> Splits:
        """Read a file written by :meth:`save` (``weights_only``: no code is unpickled)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(
                f"splits file not found: {path}; create it with the prepare stage (load_splits(cfg).save(path))"
            )
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
            parts = {
                name: LabeledImages(raw[name]["images"], raw[name]["labels"].long())
                for name in ("train", "val", "test")
            }
            classes = [str(c) for c in raw["classes"]]
            pool = None
            if "pool" in raw:
                images = raw["pool"]["images"]  # [P, C, H, W]
                pool = LabeledImages(images, torch.full((len(images),), UNLABELLED, dtype=torch.int64))
        except Exception as err:  # torch.load raises many types on corrupt or foreign files
            raise DataError(
                f"{path}: not a readable splits file ({type(err).__name__}: {err}); "
                f"delete it and run the prepare stage again"
            ) from err
        return cls(classes=classes, pool=pool, **parts)


# --------------------------------------------------------------------------------------------
# Torchvision-style view of in-memory images
# --------------------------------------------------------------------------------------------


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[..., C, H, W] float [0, 1] -> [..., H, W] (C == 1) or [..., H, W, 3] (C == 3) uint8."""
    if images.shape[-3] not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got shape {tuple(images.shape)}")
    pixels = quantize(images)  # [..., C, H, W] uint8
    if pixels.shape[-3] == 1:
        return pixels.squeeze(-3)  # [..., H, W]
    return pixels.movedim(-3, -1).contiguous()  # [..., H, W, 3]


def to_pil(image: torch.Tensor) -> Image.Image:
    """One [C, H, W] float image in [0, 1] as a PIL image: 'L' when C == 1, 'RGB' when C == 3."""
    if image.ndim != 3:
        raise ValueError(f"to_pil expects one image [C, H, W], got shape {tuple(image.shape)}")
    return Image.fromarray(to_uint8(image).numpy())  # 2-D uint8 -> 'L', [H, W, 3] -> 'RGB'
