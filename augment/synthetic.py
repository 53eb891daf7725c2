"""Labeled synthetic datasets drawn from a trained class-conditional generator.

Two ways to use a generator as data:

* :class:`SyntheticDataset` — a torch ``Dataset`` that behaves like torchvision's MNIST
  (``(PIL image, int)`` items, ``transform`` / ``target_transform``, ``classes``,
  ``class_to_idx``, ``targets``), for dropping straight into a torchvision training loop.
* :func:`sample_images` + :func:`save_synthetic` / :func:`load_synthetic` — a fixed dataset
  written to disk by ``augment sample`` and read by the pipeline's later stages.

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
  :func:`augment.data.to_pil`.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from augment.config import PathsConfig
from augment.mlflow_model import is_model_uri, load_model_uri
from augment.models import REGISTRY, ConditionalGenerator
from augment.progress import progress_bar

PathLike = Union[str, Path]
ModelSpec = Union[str, Path, ConditionalGenerator]

SYNTHETIC_FORMAT = 1  # version of the file written by save_synthetic
DEFAULT_NUM_SAMPLES = 1000  # size of a SyntheticDataset when no size is given


# --------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------


def balanced_labels(num_classes: int, n: int) -> torch.Tensor:
    """Class-balanced labels [n] int64: item i has label ``i % num_classes``.

    Interleaving (rather than sorting) keeps every prefix balanced too, so the first 10 * K
    items of a dataset are as balanced as the whole.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes: must be an integer >= 1, got {num_classes}")
    if n < 0:
        raise ValueError(f"num_samples: must be an integer >= 0, got {n}")
    return torch.arange(n, dtype=torch.int64) % num_classes  # [n]


def labels_from_counts(counts: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Labels [sum(counts)] int64: class k repeated ``counts[k]`` times, in class order."""
    counts_t = torch.as_tensor(list(counts) if not isinstance(counts, torch.Tensor) else counts)
    if counts_t.ndim != 1 or (counts_t.numel() and counts_t.dtype.is_floating_point):
        raise ValueError(f"per_class: must be a list of integer counts, got {counts!r}")
    counts_t = counts_t.long()
    if bool((counts_t < 0).any()):
        raise ValueError(f"per_class: counts must be integers >= 0, got {counts_t.tolist()}")
    return torch.repeat_interleave(torch.arange(len(counts_t)), counts_t)  # [sum(counts)]


def _check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; a one-line ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value}")
    return int(value)


def resolve_labels(
    num_classes: int,
    num_samples: int | None = None,
    per_class: int | Sequence[int] | None = None,
    labels: Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """The labels [N] int64 of a synthetic dataset from whichever of the three was given.

    * nothing: ``DEFAULT_NUM_SAMPLES`` class-balanced items;
    * ``num_samples``: ``balanced_labels(K, num_samples)`` (item i has label i % K);
    * ``per_class``: an int (the same count for every class) or K counts; class k repeated
      ``per_class[k]`` times, in class order;
    * ``labels``: explicit, each in [0, K).

    ``per_class`` and ``labels`` exclude each other; ``num_samples`` may accompany either only
    if it agrees with the size they define.
    """
    k = num_classes
    if per_class is not None and labels is not None:
        raise ValueError("per_class and labels: give only one of them (each defines the labels)")
    if num_samples is not None:
        num_samples = _check_int(num_samples, "num_samples", 0)

    if labels is not None:
        y = torch.as_tensor(labels if isinstance(labels, torch.Tensor) else list(labels))
        if y.ndim != 1 or (y.numel() and (y.dtype.is_floating_point or y.dtype == torch.bool)):
            raise ValueError(f"labels: must be a 1-D sequence of integers in [0, {k}), got {labels!r}")
        y = y.long().cpu()
        bad = torch.nonzero((y < 0) | (y >= k)).flatten()
        if len(bad):
            i = int(bad[0])
            raise ValueError(
                f"labels: values must be in [0, {k}) (the model has {k} classes), "
                f"got {int(y[i])} at index {i}"
            )
        source = "labels"
    elif per_class is not None:
        if isinstance(per_class, (int, np.integer)) and not isinstance(per_class, bool):
            counts = [_check_int(per_class, "per_class", 0)] * k
        else:
            if isinstance(per_class, (str, bytes)) or not isinstance(per_class, (Sequence, torch.Tensor, np.ndarray)):
                raise ValueError(f"per_class: must be an integer or a list of {k} integers, got {per_class!r}")
            values = per_class.tolist() if isinstance(per_class, (torch.Tensor, np.ndarray)) else list(per_class)
            counts = [_check_int(c, "per_class", 0) for c in values]
            if len(counts) != k:
                raise ValueError(
                    f"per_class: must have one count per class ({k} values), got {len(counts)}"
                )
        y = labels_from_counts(counts)
        source = "per_class"
    else:
        return balanced_labels(k, DEFAULT_NUM_SAMPLES if num_samples is None else num_samples)

    if num_samples is not None and num_samples != len(y):
        raise ValueError(
            f"num_samples: {num_samples} conflicts with {source}, which defines {len(y)} items; "
            f"give only one of num_samples / per_class / labels"
        )
    return y


# --------------------------------------------------------------------------------------------
# Generation: the one code path of the Dataset and of the sample stage
# --------------------------------------------------------------------------------------------


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


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


def generate_block(model: ConditionalGenerator, labels: torch.Tensor, seed: int, start: int) -> torch.Tensor:
    """Items ``start .. start + len(labels) - 1`` decoded in one forward pass.

    labels [n] int64 -> images [n, C, H, W] float32 in [0, 1] on the CPU. ``model.generate``
    runs in eval mode without gradients.
    """
    device = _model_device(model)
    z = item_codes(seed, start, len(labels), model.latent_dim).to(device)  # [n, latent]
    images = model.generate(z, labels.to(device))  # [n, C, H, W]
    return images.float().clamp(0, 1).cpu()


def quantize(images: torch.Tensor) -> torch.Tensor:
    """float [..., C, H, W] in [0, 1] -> uint8 [..., C, H, W]: ``round(clamp(x, 0, 1) * 255)``."""
    if images.dtype == torch.uint8:
        return images
    return (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def _check_seed(seed: Any) -> int:
    return _check_int(seed, "seed", 0)


def sample_images(
    model: ConditionalGenerator,
    labels: torch.Tensor,
    seed: int,
    batch_size: int = 256,
    progress: bool = False,
) -> torch.Tensor:
    """Images for ``labels`` [N]: [N, C, H, W] float32 in [0, 1] on the CPU.

    Item i is fixed by (seed, i); batches are the fixed blocks ``[b * batch_size, (b + 1) *
    batch_size)`` that :class:`SyntheticDataset` uses, so with the same ``batch_size`` this gives
    the same pixels, after :func:`quantize`, as ``SyntheticDataset(model, labels=labels,
    seed=seed, batch_size=batch_size)``.
    """
    seed = _check_seed(seed)
    batch_size = _check_int(batch_size, "batch_size", 1)
    labels = resolve_labels(model.num_classes, labels=labels)  # [N] int64, checked in [0, K)
    n = len(labels)
    out = torch.empty(n, *model.image_shape, dtype=torch.float32)  # [N, C, H, W]
    with progress_bar(n, f"sample {getattr(model, 'name', 'model')}", "img", progress) as bar:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            out[start:stop] = generate_block(model, labels[start:stop], seed, start)
            bar.update(stop - start)
    return out


# --------------------------------------------------------------------------------------------
# Loading the generator
# --------------------------------------------------------------------------------------------


def _resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; ``cuda`` without a GPU is a clear error."""
    from augment.training import resolve_device

    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    return resolve_device(str(device))


def load_model(
    model: ModelSpec,
    root: PathLike = PathsConfig().generators,
    device: str | torch.device = "cpu",
    tracking_uri: str | None = None,
) -> tuple[ConditionalGenerator, list[str] | None, str, Path | str | None]:
    """Resolve ``model`` to (generator in eval mode, classes or None, model name, where from).

    ``model`` is a registered name (read from ``<root>/<name>.pt``), a checkpoint path (a
    ``Path``, or a string ending in ``.pt`` or naming an existing file), an MLflow model URI
    (``models:/augment-cvaegan/3``, ``models:/augment-cvaegan@champion``: the registry of
    ``tracking_uri``, default ``MLFLOW_TRACKING_URI`` or the project's ``mlflow.db``; see
    augment/mlflow_model.py), or a loaded generator (copied, so that training it further does not
    change images already promised).

    The global RNG is left as it was: rebuilding a network draws initial weights from it (then
    overwritten by the checkpoint's), which would otherwise shift the caller's random stream.
    """
    from augment.checkpoint import load_generator

    device = _resolve_device(device)
    if isinstance(model, ConditionalGenerator):
        snapshot = copy.deepcopy(model).to(device).eval()
        return snapshot, None, model.name, None

    if is_model_uri(model):
        with torch.random.fork_rng(devices=[]):
            generator, payload = load_model_uri(model, device=device, tracking_uri=tracking_uri)
        return generator, [str(c) for c in payload["classes"]], payload["model"], model
    if isinstance(model, str) and model in REGISTRY:
        path = Path(root) / f"{model}.pt"
        if not path.is_file():
            raise FileNotFoundError(
                f"no checkpoint at {path}: train it with `augment train {model}` or run `dvc repro`"
            )
        with torch.random.fork_rng(devices=[]):
            generator, payload = load_generator(path, expected_model=model, device=device)
    elif isinstance(model, Path) or (isinstance(model, str) and (model.endswith(".pt") or Path(model).is_file())):
        path = Path(model)
        if not path.is_file():
            if path.stem in REGISTRY:  # e.g. the sample stage's models/generators/cgan.pt
                raise FileNotFoundError(
                    f"no checkpoint at {path}: train it with `augment train {path.stem} --out {path}` "
                    f"or run `dvc repro`"
                )
            raise FileNotFoundError(
                f"no checkpoint at {path}: give an existing generator checkpoint, or a model name "
                f"({', '.join(REGISTRY)}) to read <root>/<name>.pt"
            )
        with torch.random.fork_rng(devices=[]):
            generator, payload = load_generator(path, device=device)
    else:
        raise ValueError(
            f"model: unknown model {model!r}; give a registered name ({', '.join(REGISTRY)}), "
            f"a checkpoint path (*.pt), an MLflow model URI (models:/augment-<name>/<version>) "
            f"or a ConditionalGenerator"
        )
    return generator, [str(c) for c in payload["classes"]], payload["model"], path


# --------------------------------------------------------------------------------------------
# The Dataset
# --------------------------------------------------------------------------------------------


def _format_transform(head: str, transform: Callable) -> list[str]:
    """torchvision's layout: the first line after ``head``, the others aligned under it."""
    lines = repr(transform).splitlines()
    return [head + lines[0]] + [" " * len(head) + line for line in lines[1:]]


class SyntheticDataset(Dataset):
    """Images drawn from a class-conditional generator, served like torchvision's MNIST.

    ``dataset[i]`` is ``(PIL image, int)`` — mode 'L' for one channel, 'RGB' for three — after
    the optional ``transform`` / ``target_transform``. Item i is fixed by ``(seed, i)``: the same
    image in every epoch, in any order, with any DataLoader batch size, shuffle or number of
    workers (see the module docstring for how).

    Args:
        model: a registered name (``cvae``, ``cgan``, ``cvaegan``: read from
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

    Images are generated lazily, a block of ``batch_size`` consecutive items the first time any
    of them is asked for, and cached as uint8 arrays, so an item costs one ``Image.fromarray``
    afterwards. The cache belongs to the process: DataLoader workers each fill their own (and
    lose it when they exit, at the end of every epoch unless ``persistent_workers=True``). Call
    :meth:`materialize` first to generate everything once in the main process; workers then
    inherit the cache. Memory: N * C * H * W bytes once everything is cached.

    The dataset pickles as it is (generator weights and the cache included), so workers started
    with ``spawn`` get the same weights and whatever was generated before the DataLoader started.
    """

    def __init__(
        self,
        model: ModelSpec = "cvaegan",
        num_samples: int | None = None,
        *,
        per_class: int | Sequence[int] | None = None,
        labels: Sequence[int] | torch.Tensor | None = None,
        seed: int = 0,
        root: PathLike = PathsConfig().generators,
        classes: list[str] | None = None,
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        tracking_uri: str | None = None,
    ) -> None:
        self.seed = _check_seed(seed)
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.model, stored_classes, self.model_name, self.checkpoint = load_model(model, root, device, tracking_uri)
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
        self.transform = transform
        self.target_transform = target_transform
        self.image_shape: tuple[int, int, int] = tuple(self.model.image_shape)  # (C, H, W)
        # block index -> uint8 [B, H, W] ('L') or [B, H, W, 3] ('RGB'), C-contiguous
        self._blocks: dict[int, np.ndarray] = {}

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
        if torch.utils.data.get_worker_info() is not None and _model_device(self.model).type == "cuda":
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

    def materialize(self, progress: bool = False) -> "SyntheticDataset":
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
        return pixels.float().div_(255.0).contiguous(), self.labels.clone()

    # -- description --------------------------------------------------------------------------
    def __repr__(self) -> str:
        source = f" ({self.checkpoint})" if self.checkpoint is not None else " (in-memory model)"
        body = [
            f"Number of datapoints: {len(self)}",
            f"Model: {self.model_name}{source}",
            f"Seed: {self.seed}",
            f"Image shape: {self.image_shape}",
            f"Classes: {len(self.classes)}",
        ]
        if self.transform is not None or self.target_transform is not None:
            body.append("StandardTransform")
            if self.transform is not None:
                body += _format_transform("Transform: ", self.transform)
            if self.target_transform is not None:
                body += _format_transform("Target transform: ", self.target_transform)
        return "\n".join([f"Dataset {type(self).__name__}"] + ["    " + line for line in body])


# --------------------------------------------------------------------------------------------
# Files: what `augment sample --out data/synthetic/<name>.pt` writes and the pipeline reads
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Meta values as what ``torch.load(weights_only=True)`` accepts (Paths -> str, tuples -> lists)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_synthetic(
    path: PathLike,
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a labeled synthetic dataset atomically; returns the path.

    images [N, C, H, W] float in [0, 1] (quantised with :func:`quantize`) or uint8; labels [N].
    Stored as ``{"format", "images": uint8 [N, C, H, W], "labels": int64 [N], "classes",
    "meta"}`` — plain tensors and strings, so it loads with ``weights_only=True``. ``meta``
    records where the images came from (model name, seed, checkpoint path, ...).
    """
    from augment.checkpoint import atomic_torch_save

    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"save_synthetic needs images [N, C, H, W] and labels [N], got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    labels = labels.detach().long().cpu()
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
        raise ValueError(f"labels: values must be in [0, {len(classes)}) (one per class name)")
    payload = {
        "format": SYNTHETIC_FORMAT,
        "images": quantize(images).contiguous(),  # [N, C, H, W] uint8
        "labels": labels.contiguous(),  # [N] int64
        "classes": [str(c) for c in classes],
        "meta": _plain(dict(meta or {})),
    }
    path = Path(path)
    atomic_torch_save(payload, path)
    return path


def load_synthetic(path: PathLike):
    """Read a file written by :func:`save_synthetic`: (LabeledImages, classes, meta).

    The images come back as float32 [N, C, H, W] in [0, 1] (uint8 / 255). A missing, corrupt or
    foreign file raises :class:`augment.data.DataError` naming the file.
    """
    from augment.checkpoint import CheckpointError, safe_torch_load
    from augment.data import DataError, LabeledImages

    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"synthetic dataset not found: {path}; create it with `augment sample <model> -n N "
            f"--out {path}` or run `dvc repro`"
        )
    try:
        raw = safe_torch_load(path)
    except CheckpointError as err:
        raise DataError(str(err).replace("checkpoint", "synthetic dataset file")) from None
    keys = ("format", "images", "labels", "classes")
    if not isinstance(raw, dict) or any(k not in raw for k in keys):
        raise DataError(f"{path}: not a synthetic dataset file (expected the keys {', '.join(keys)})")
    if not isinstance(raw["format"], int) or raw["format"] > SYNTHETIC_FORMAT:
        raise DataError(
            f"{path}: synthetic dataset format {raw['format']!r} is newer than this augment reads "
            f"(up to {SYNTHETIC_FORMAT}); upgrade augment or sample again"
        )
    images, labels = raw["images"], raw["labels"]
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        raise DataError(f"{path}: images must be a uint8 tensor [N, C, H, W]")
    try:
        data = LabeledImages(images.float().div_(255.0), labels.long())
    except (ValueError, AttributeError) as err:
        raise DataError(f"{path}: {err}") from None
    return data, [str(c) for c in raw["classes"]], dict(raw.get("meta") or {})


__all__ = [
    "SyntheticDataset",
    "balanced_labels",
    "generate_block",
    "item_codes",
    "labels_from_counts",
    "load_model",
    "load_synthetic",
    "quantize",
    "resolve_labels",
    "sample_images",
    "save_synthetic",
]
