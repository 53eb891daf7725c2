"""A :class:`augment.data.labeled.LabeledImages` viewed as a torchvision dataset, like MNIST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image
from torchvision.datasets import VisionDataset

from augment.data.labeled import LabeledImages, to_uint8

__all__ = ["ImageTensorDataset"]


class ImageTensorDataset(VisionDataset):
    """A :class:`LabeledImages` viewed like torchvision's MNIST.

    ``dataset[i]`` is ``(PIL image, int)`` ('L' for one channel, 'RGB' for three) after the
    optional ``transform`` / ``target_transform``, so existing torchvision training code works
    unchanged. ``data`` holds the uint8 pixels as MNIST does ([N, H, W] grey, [N, H, W, 3] RGB),
    converted once here rather than on every access.
    """

    def __init__(
        self,
        images: LabeledImages,
        classes: list[str],
        transform: Callable | None = None,
        target_transform: Callable | None = None,
    ) -> None:
        self.images = images
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        super().__init__(root=None, transform=transform, target_transform=target_transform)
        self.data = to_uint8(images.images)  # [N, H, W] or [N, H, W, 3] uint8
        self.targets: list[int] = images.labels.tolist()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, target = Image.fromarray(self.data[index].numpy()), self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def extra_repr(self) -> str:
        """Printed by torchvision's ``VisionDataset.__repr__`` after the size."""
        return f"Image shape: {tuple(self.images.images.shape[1:])}\nClasses: {len(self.classes)}"
