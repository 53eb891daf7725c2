"""The downstream classifier's network, :class:`SmallCNN`, and its weights file.

The same network is the classifier of every source, the filter network of the filtered sets and
the judge of the feature-space metrics (:func:`evaluation.classifiers.prediction.features`). Its initial
weights are fixed by a seed without touching the global RNG (:func:`build_classifier`); the file
holds plain tensors and numbers, so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from augment.core.outputs import atomic_torch_save

PathLike = Union[str, "os.PathLike[str]"]
FORMAT = 1  # version of the file written by save_classifier
MIN_POOLED_SIDE = 4  # max-pool only while the feature map keeps at least this side
DENSE_HEAD_SIDE = 7  # a final feature map at least this wide gets a dense head (28x28 images and up)
DROPOUT = 0.3  # before the output layer of a dense head


class ConvBlock(nn.Module):
    """3x3 conv (same padding) -> BatchNorm -> ReLU, then an optional 2x2 max-pool."""

    def __init__(self, c_in: int, c_out: int, pool: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.bn(self.conv(x))))  # [B, c_out, H or H/2, W or W/2]


class SmallCNN(nn.Module):
    """Two conv blocks (``width`` then ``2 * width`` channels), then a head sized by the image.

    Each block halves the side with a max-pool only while the result stays >= 4, so the same
    class serves 1x8x8 (8 -> 4 -> 4), 1x28x28 (28 -> 14 -> 7) and 3x32x32 (32 -> 16 -> 8).

    The head depends on the final feature map's side s:

    - s < 7 (8x8 digits): global average pool, linear layer. Features: ``2 * width``. No dropout:
      the only regularisation is early stopping on the validation split.
    - s >= 7 (28x28 and larger): flatten, dense layer of ``4 * width`` units with ReLU (the
      features), dropout 0.3, linear layer. Two 3x3 convolutions see only 10x10 pixels of a
      28x28 digit, and averaging their map away discards where strokes are: on real MNIST
      (7,200 training images, 300 steps) the pooled head reached 0.71 test accuracy, the dense
      head 0.98, at the same cost per step (docs/profile-28x28.md).
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32):
        super().__init__()
        c, h, w = (int(v) for v in image_shape)
        if num_classes < 2:
            raise ValueError(f"SmallCNN needs at least 2 classes, got {num_classes}")
        self.image_shape = (c, h, w)
        self.num_classes = int(num_classes)
        self.width = int(width)

        hs, ws = h, w
        blocks = []
        for c_in, c_out in ((c, self.width), (self.width, 2 * self.width)):
            pool = min(hs, ws) // 2 >= MIN_POOLED_SIDE
            blocks.append(ConvBlock(c_in, c_out, pool))
            hs, ws = (hs // 2, ws // 2) if pool else (hs, ws)
        self.blocks = nn.Sequential(*blocks)
        self.dense = min(hs, ws) >= DENSE_HEAD_SIDE
        if self.dense:
            self.feature_dim = 4 * self.width  # size of features(x)
            self.fc = nn.Linear(2 * self.width * hs * ws, self.feature_dim)
            self.dropout = nn.Dropout(DROPOUT)
        else:
            self.feature_dim = 2 * self.width
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: [B, C, H, W] -> [B, feature_dim]."""
        h = self.blocks(x)  # [B, 2W, H', W']
        if self.dense:
            return F.relu(self.fc(h.flatten(1)))  # [B, 4W]
        return h.mean(dim=(2, 3))  # [B, 2W] global average pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # [B, feature_dim]
        if self.dense:
            h = self.dropout(h)
        return self.head(h)  # [B, K] logits


def build_classifier(image_shape, num_classes: int, width: int, seed: int) -> SmallCNN:
    """A :class:`SmallCNN` whose initial weights are fixed by ``seed``; global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU's only: the network is built there
        return SmallCNN(image_shape, num_classes, width)


def save_classifier(path: PathLike, model: SmallCNN, meta: dict[str, Any] | None = None) -> Path:
    """Write weights plus everything needed to rebuild the network, atomically.

    ``meta`` must hold plain types only (numbers, strings, lists, dicts, None, tensors) so that
    :func:`load_classifier` can read it with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "image_shape": list(model.image_shape),
        "num_classes": model.num_classes,
        "width": model.width,
        "meta": dict(meta or {}),
    }
    atomic_torch_save(payload, path)
    return path


def load_classifier(path: PathLike, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict[str, Any]]:
    """Read a file written by :func:`save_classifier`: ``(model in eval mode, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier file not found: {path}; train it first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path}: not a classifier file written by save_classifier")
    model = SmallCNN(tuple(payload["image_shape"]), payload["num_classes"], payload["width"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload.get("meta", {})
