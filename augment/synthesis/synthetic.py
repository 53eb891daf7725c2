"""Labeled synthetic datasets drawn from a trained class-conditional generator.

Two ways to use a generator as data:

* :class:`SyntheticDataset` — a torch ``Dataset`` that behaves like torchvision's MNIST
  (``(PIL image, int)`` items, ``transform`` / ``target_transform``, ``classes``,
  ``class_to_idx``, ``targets``), for dropping straight into a torchvision training loop.
* :func:`augment.sampling.generation.sample_images` + :func:`augment.synthesis.synthetic_files.save_synthetic` /
  :func:`~augment.synthesis.synthetic_files.load_synthetic` — a fixed dataset written to disk by
  ``augment sample`` and read by the pipeline's later stages.

Both give the same images: for one model and its sampling settings (``sample.generators.<name>``),
item ``i`` is fixed by ``(seed, i)`` alone (augment/sampling/generation.py says how). The labels
come from augment/core/labels.py, the generator from augment/synthesis/model_loading.py.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import VisionDataset

from augment.core.inference import module_device
from augment.core.labels import check_int, resolve_labels
from augment.core.pixels import dequantize, quantize
from augment.core.progress import progress_bar
from augment.params.config import PathsConfig
from augment.params.sampling import apply_sampling
from augment.sampling.generation import check_seed, generate_block
from augment.synthesis.model_loading import ModelSpec, PathLike, load_model, portable, rebuild


class SyntheticDataset(VisionDataset):
    """Images drawn from a class-conditional generator, served like torchvision's MNIST.

    ``dataset[i]`` is ``(PIL image, int)`` — mode 'L' for one channel, 'RGB' for three — after
    the optional ``transform`` / ``target_transform``. Item i is fixed by ``(seed, i)``: the same
    image in every epoch, in any order, with any DataLoader batch size, shuffle or number of
    workers (see the module docstring for how).

    Args:
        model: a registered name (``cvae``, ``cgan``, ``cvaegan``, ``cfm`` or a plugin's: read from
            ``<root>/<name>.pt``), a checkpoint path, an MLflow model URI
            (``models:/augment-cvaegan/3``), or a loaded :class:`ConditionalGenerator` (a
            snapshot is taken).
        num_samples: the number of items, class-balanced (item i has label ``i % K``).
            Default 1000 when neither ``per_class`` nor ``labels`` is given.
        per_class: an int (that many of every class) or K counts; class k is repeated
            ``per_class[k]`` times, in class order.
        labels: explicit labels, each in [0, K).
        seed: a non-negative integer; with the index, it fixes every image.
        root: the folder of generator checkpoints (``paths.generators`` in params.yaml).
        classes: class names (index = label); default: the checkpoint's, or ``"0".."K-1"``
            for a model object.
        transform, target_transform: applied to the PIL image / the int label.
        batch_size: items decoded per forward pass. It fixes the blocks, so keep it unchanged
            to reproduce a dataset bit for bit (the default matches ``sample.batch_size``).
        device: where the generator runs (``cpu``, ``cuda``, ``auto``).
        tracking_uri: the MLflow store of a ``models:/`` model (default ``MLFLOW_TRACKING_URI``,
            else the project's ``sqlite:///mlflow.db``).
        sampling: how the model draws, for a model that has sampling settings (cfm:
            ``{"guidance": 1.0, "sample_steps": 8}``): a mapping of the keys of params.yaml's
            ``sample.generators.<name>``, or its dataclass (``Params.sampling(name)``); default: a
            checkpoint's model draws with its class's defaults, a model object with its own.
            :meth:`set_sampling` changes it later.

    Images are generated lazily, a block of ``batch_size`` consecutive items the first time any
    of them is asked for, and cached as uint8 arrays, so an item costs one ``Image.fromarray``
    afterwards. The cache belongs to the process: DataLoader workers each fill their own (and
    lose it when they exit, at the end of every epoch unless ``persistent_workers=True``). Call
    :meth:`materialize` first to generate everything once in the main process; workers then
    inherit the cache. Memory: N * C * H * W bytes once everything is cached.

    The dataset pickles with its generator's weights (through their state_dict: spectral norm's
    layers pickle no other way) and the cache, so workers started with ``spawn`` get the same
    weights and whatever was generated before the DataLoader started.
    """

    def __init__(
        self,
        model: ModelSpec = "cvaegan",
        num_samples: int | None = None,
        *,
        per_class: int | Sequence[int] | None = None,
        labels: Sequence[int] | torch.Tensor | None = None,
        seed: int = 0,
        root: PathLike = PathsConfig.generators,
        classes: list[str] | None = None,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        tracking_uri: str | None = None,
        sampling: Any = None,
    ) -> None:
        self.seed = check_seed(seed)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.model, stored_classes, self.model_name, self.checkpoint = load_model(model, root, device, tracking_uri)
        apply_sampling(self.model, sampling)
        k = self.model.num_classes
        c = self.model.image_shape[0]
        if c not in (1, 3):
            raise ValueError(
                f"model: generates {c}-channel images {tuple(self.model.image_shape)}; "
                f"a PIL image needs 1 ('L') or 3 ('RGB') channels"
            )
        if classes is None:
            classes = stored_classes if stored_classes is not None else [str(i) for i in range(k)]
        classes = [str(name) for name in classes]
        if len(classes) != k:
            raise ValueError(f"classes: must name the model's {k} classes, got {len(classes)} names")

        self.labels = resolve_labels(k, num_samples, per_class, labels)  # [N] int64
        self.targets: list[int] = self.labels.tolist()
        self.classes = classes
        self.class_to_idx = {name: i for i, name in enumerate(classes)}
        # VisionDataset keeps transform / target_transform (and their StandardTransform, which
        # its __repr__ prints); root=None: no folder line in the repr.
        super().__init__(root=None, transform=transform, target_transform=target_transform)
        self.image_shape: tuple[int, ...] = tuple(self.model.image_shape)  # (C, H, W)
        # block index -> uint8 [B, H, W] ('L') or [B, H, W, 3] ('RGB'), C-contiguous
        self._blocks: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["model"] = portable(self.model)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["model"] = rebuild(state["model"])
        self.__dict__.update(state)

    def set_sampling(self, sampling: Any) -> None:
        """Draw with other sampling settings (the ``sampling`` argument's forms); the images
        already drawn with the old ones are dropped."""
        apply_sampling(self.model, sampling)
        self._blocks.clear()

    # -- the Dataset protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = self._check_index(index)
        b, j = divmod(i, self.batch_size)
        block = self._blocks.get(b)
        if block is None:
            block = self._generate(b)
        image: Any = Image.fromarray(block[j])  # 2-D uint8 -> 'L', [H, W, 3] uint8 -> 'RGB'
        target: Any = self.targets[i]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def _check_index(self, index: Any) -> int:
        """Python sequence rules: negative indices count from the end; out of range: IndexError."""
        i = operator.index(index)
        n = len(self.targets)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} is out of range for a SyntheticDataset of {n} items")
        return i

    # -- generation and cache -----------------------------------------------------------------
    def _generate(self, b: int) -> np.ndarray:
        """Decode block b (items ``b * batch_size`` onwards), cache it as uint8, return it."""
        if torch.utils.data.get_worker_info() is not None and module_device(self.model).type == "cuda":
            raise RuntimeError(
                f"SyntheticDataset({self.model_name!r}) on CUDA cannot generate inside a DataLoader "
                "worker (CUDA does not survive the fork): call .materialize() before the DataLoader, "
                "or use num_workers=0, or device='cpu'"
            )
        start = b * self.batch_size
        stop = min(start + self.batch_size, len(self.targets))
        images = generate_block(self.model, self.labels[start:stop], self.seed, start)  # [n, C, H, W]
        pixels = quantize(images)  # [n, C, H, W] uint8
        if pixels.shape[1] == 1:
            array = pixels[:, 0].numpy()  # [n, H, W]
        else:
            array = np.ascontiguousarray(pixels.permute(0, 2, 3, 1).numpy())  # [n, H, W, 3]
        self._blocks[b] = array
        return array

    def materialize(self, progress: bool = False) -> SyntheticDataset:
        """Generate and cache every item now (in this process); returns ``self``.

        Useful before a DataLoader with workers, so that they inherit the images instead of each
        generating them again, and with ``device='cuda'``, which workers cannot share.
        """
        n_blocks = -(-len(self.targets) // self.batch_size)
        with progress_bar(len(self.targets), f"sample {self.model_name}", "img", progress) as bar:
            for b in range(n_blocks):
                block = self._blocks.get(b)
                if block is None:
                    block = self._generate(b)
                bar.update(len(block))
        return self

    def tensors(self, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Every item as tensors: images [N, C, H, W] float32 in [0, 1], labels [N] int64.

        The images are the quantised pixels / 255, i.e. exactly what ``ToTensor`` gives for the
        PIL items.
        """
        self.materialize(progress)
        c, h, w = self.image_shape
        n_blocks = -(-len(self.targets) // self.batch_size)
        if n_blocks == 0:
            return torch.empty(0, c, h, w), self.labels.clone()
        pixels = torch.from_numpy(np.concatenate([self._blocks[b] for b in range(n_blocks)]))
        if c == 1:
            pixels = pixels.unsqueeze(1)  # [N, 1, H, W]
        else:
            pixels = pixels.permute(0, 3, 1, 2)  # [N, 3, H, W]
        return dequantize(pixels).contiguous(), self.labels.clone()

    # -- description --------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The lines torchvision's ``VisionDataset.__repr__`` prints after the size (there is no
        root folder: the images come from the model)."""
        source = f" ({self.checkpoint})" if self.checkpoint is not None else " (in-memory model)"
        return "\n".join(
            [
                f"Model: {self.model_name}{source}",
                f"Seed: {self.seed}",
                f"Image shape: {self.image_shape}",
                f"Classes: {len(self.classes)}",
            ]
        )
