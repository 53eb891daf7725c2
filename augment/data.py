"""Real data sources and deterministic, stratified train/val/test splits.

:func:`load_splits` is the one entry point: it reads the dataset named by ``DataConfig.dataset``
into memory as float tensors and splits it, every choice seeded by ``DataConfig.seed``:

1. the test split: the official one where the dataset has one (the MNIST family), otherwise
   ``test_fraction`` of everything (digits, imagefolder);
2. the validation split: ``val_fraction`` of the remaining training pool (model selection only);
3. the training split: what is left, optionally subsampled by ``train_size`` (this subsample is what
   both the generators and the downstream classifier see);
4. optionally, rare classes: ``imbalance.classes`` keep only ``imbalance.keep`` of their training
   images (at least one), so that generators and classifiers see an imbalanced training split;
   validation and test splits keep every class whole.

Every split is stratified by class, the three are disjoint, and every class keeps at least one
training image. Each stage draws from its own local RNG (never the global one), so the test and
validation splits do not depend on ``train_size``, and a smaller ``train_size`` picks a subset of
the images a larger one picks.

Anything wrong with the data on disk raises :class:`DataError`, whose message names the file or
folder and says what to do.
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
import torchvision.datasets as tvd
from PIL import Image
from sklearn.datasets import load_digits
from torchvision.datasets import ImageFolder, VisionDataset
from torchvision.datasets.mnist import read_image_file, read_label_file

from augment.config import DataConfig
from augment.outputs import StagedOutputs, atomic_torch_save
from augment.pixels import dequantize, quantize

PathLike = Union[str, os.PathLike]

# dataset name in params.yaml -> torchvision class name (also the folder under data.root)
TORCHVISION_DATASETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "emnist": "EMNIST",
}


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

    def subset(self, index: torch.Tensor) -> "LabeledImages":
        """The images at ``index`` (an int64 index tensor, possibly empty), in that order."""
        return LabeledImages(self.images[index], self.labels[index])


@dataclass
class Splits:
    """The real train / val / test splits and the class names (index = label)."""

    train: LabeledImages
    val: LabeledImages
    test: LabeledImages
    classes: list[str]

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
        payload = {"format": 1, "classes": list(self.classes)}
        for name in ("train", "val", "test"):
            split: LabeledImages = getattr(self, name)
            payload[name] = {"images": split.images.contiguous(), "labels": split.labels.contiguous()}
        atomic_torch_save(payload, path)

    @classmethod
    def load(cls, path: PathLike) -> "Splits":
        """Read a file written by :meth:`save` (``weights_only``: no code is unpickled)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(
                f"splits file not found: {path}; create it with the prepare stage "
                f"(load_splits(cfg).save(path))"
            )
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
            parts = {
                name: LabeledImages(raw[name]["images"], raw[name]["labels"].long())
                for name in ("train", "val", "test")
            }
            classes = [str(c) for c in raw["classes"]]
        except Exception as err:  # torch.load raises many types on corrupt or foreign files
            raise DataError(
                f"{path}: not a readable splits file ({type(err).__name__}: {err}); "
                f"delete it and run the prepare stage again"
            ) from err
        return cls(classes=classes, **parts)


# --------------------------------------------------------------------------------------------
# Torchvision-style view of in-memory images
# --------------------------------------------------------------------------------------------


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
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
    return Image.fromarray(_to_uint8(image).numpy())  # 2-D uint8 -> 'L', [H, W, 3] -> 'RGB'


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
        transform: Optional[Callable] = None,
        target_transform: Optional[Callable] = None,
    ) -> None:
        self.images = images
        self.classes = list(classes)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        super().__init__(root=None, transform=transform, target_transform=target_transform)
        self.data = _to_uint8(images.images)  # [N, H, W] or [N, H, W, 3] uint8
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


# --------------------------------------------------------------------------------------------
# Sources: each returns (training pool, official test set or None, class names)
# --------------------------------------------------------------------------------------------


def _load_digits() -> tuple[LabeledImages, None, list[str]]:
    """scikit-learn's 1,797 8x8 digits (shipped inside scikit-learn: no network needed)."""
    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)  # [N, 1, 8, 8], 0..16 -> [0, 1]
    labels = torch.from_numpy(bunch.target).long()  # [N]
    return LabeledImages(images, labels), None, [str(name) for name in bunch.target_names]


def _idx_files(cfg: DataConfig) -> tuple[Path, list[Path]]:
    """The raw folder torchvision reads and its four files: train images, train labels, test
    images, test labels (uncompressed names; torchvision reads no ``.gz``)."""
    raw = Path(cfg.root) / TORCHVISION_DATASETS[cfg.dataset] / "raw"
    if cfg.dataset == "emnist":
        prefixes = [f"emnist-{cfg.emnist_split}-train", f"emnist-{cfg.emnist_split}-test"]
    else:
        prefixes = ["train", "t10k"]
    return raw, [raw / f"{p}-{kind}" for p in prefixes for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]


def _gunzip_missing(files: list[Path]) -> None:
    """Unpack ``<file>.gz`` where only the archive is there (files copied by hand, as distributed).

    torchvision's download does the same unpacking; it only reads the uncompressed files.
    """
    for file in files:
        archive = file.with_name(file.name + ".gz")
        if file.is_file() or not archive.is_file():
            continue
        try:
            with StagedOutputs() as staged, gzip.open(archive, "rb") as src, open(staged.path(file), "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
            raise DataError(
                f"{archive}: cannot unpack ({err}); replace it with a good copy or delete it"
            ) from err


def _missing_files_error(
    cfg: DataConfig, raw: Path, missing: list[Path], download_error: Exception | None = None
) -> DataError:
    listing = ", ".join(f"{f}(.gz)" for f in missing)
    if download_error is None:
        todo = "Set `data.download: true` where the network allows"
    else:
        todo = f"The download failed ({' '.join(str(download_error).split())}): check the network"
    return DataError(
        f"{cfg.dataset}: missing {listing}. {todo}, or copy the files (uncompressed or .gz) into {raw}/"
    )


def _find_bad_idx_file(files: list[Path]) -> tuple[Path, Exception] | None:
    """Re-read each IDX file on its own to name the one that torchvision could not read."""
    for file, read in zip(files, [read_image_file, read_label_file] * 2):
        try:
            read(str(file))
        except Exception as err:  # torchvision raises AssertionError, ValueError, RuntimeError...
            return file, err
    return None


def _load_mnist_family(cfg: DataConfig) -> tuple[LabeledImages, LabeledImages, list[str]]:
    """MNIST, Fashion-MNIST, KMNIST or EMNIST from ``data.root`` through torchvision.

    The whole dataset is read from the torchvision dataset's ``.data`` / ``.targets`` (uint8
    [N, H, W]) rather than image by image. The official test set becomes the test split.
    """
    cls = getattr(tvd, TORCHVISION_DATASETS[cfg.dataset])
    kwargs: dict[str, Any] = {}
    if cfg.dataset == "emnist":
        if cfg.emnist_split not in tvd.EMNIST.splits:
            raise DataError(
                f"data.emnist_split: must be one of {', '.join(tvd.EMNIST.splits)}, got {cfg.emnist_split!r}"
            )
        kwargs["split"] = cfg.emnist_split

    raw, files = _idx_files(cfg)
    _gunzip_missing(files)
    missing = [f for f in files if not f.is_file()]
    if missing and not cfg.download:
        raise _missing_files_error(cfg, raw, missing)

    parts = []
    for train in (True, False):
        try:
            dataset = cls(cfg.root, train=train, download=cfg.download, **kwargs)
        except Exception as err:  # download failures, and corrupt files (many error types)
            missing = [f for f in files if not f.is_file()]
            if missing:
                raise _missing_files_error(cfg, raw, missing, download_error=err) from err
            bad = _find_bad_idx_file(files)
            if bad is not None:
                raise DataError(
                    f"{bad[0]}: not a valid IDX file ({type(bad[1]).__name__}: {bad[1]}); "
                    f"replace it with a good copy (or delete it and set `data.download: true`)"
                ) from err
            raise DataError(f"{cfg.dataset}: cannot read the files in {raw}: {err}") from err
        data, targets = dataset.data, torch.as_tensor(dataset.targets).long()  # [N, H, W] uint8, [N]
        images_file, labels_file = files[0:2] if train else files[2:4]
        if len(data) != len(targets):
            raise DataError(
                f"{images_file} holds {len(data)} images but {labels_file} holds {len(targets)} "
                f"labels; the two files must come from the same release"
            )
        if len(targets) and not (0 <= int(targets.min()) and int(targets.max()) < len(dataset.classes)):
            raise DataError(
                f"{labels_file}: labels must lie in 0..{len(dataset.classes) - 1}, found "
                f"{int(targets.min())}..{int(targets.max())}"
            )
        if cfg.dataset == "emnist":
            data = data.transpose(1, 2)  # EMNIST's files store images transposed: make them upright
        images = dequantize(data.unsqueeze(1))  # [N, 1, H, W] in [0, 1]
        parts.append(LabeledImages(images, targets))
        classes = [str(c) for c in dataset.classes]

    # Drop classes with no image at all (EMNIST 'letters' has an unused 'N/A' class 0).
    pool, test = parts
    present = torch.bincount(torch.cat([pool.labels, test.labels]), minlength=len(classes)) > 0
    if not bool(present.all()):
        new_label = torch.cumsum(present.long(), 0) - 1  # [K] old label -> new label
        pool = LabeledImages(pool.images, new_label[pool.labels])
        test = LabeledImages(test.images, new_label[test.labels])
        classes = [c for c, keep in zip(classes, present.tolist()) if keep]
    return pool, test, classes


def _load_imagefolder(cfg: DataConfig) -> tuple[LabeledImages, None, list[str]]:
    """The user's own images: ``<root>/<class name>/<image>``, converted to 'L' (channels 1) or
    'RGB' (channels 3) and resized to image_size x image_size."""
    root = Path(cfg.root)
    layout = "expected one sub-folder of images per class: <root>/<class name>/<image>.png"
    if not root.is_dir():
        raise DataError(f"data.root: image folder not found: {root}; {layout}")
    try:
        folder = ImageFolder(str(root))
    except (FileNotFoundError, ValueError) as err:  # no class folders, or a class with no images
        raise DataError(f"{root}: no images found ({err}); {layout}") from err
    if len(folder.classes) < 2:
        raise DataError(
            f"{root}: found only the class {folder.classes[0]!r}; a class-conditional model "
            f"needs at least 2 classes (one sub-folder per class)"
        )

    mode, size = ("L" if cfg.channels == 1 else "RGB"), cfg.image_size
    pixels = []
    for path, _ in folder.samples:
        try:
            with Image.open(path) as image:
                image = image.convert(mode)  # convert() loads the pixels: corrupt files fail here
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise DataError(f"{path}: cannot read this image ({err}); fix or remove the file") from err
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        pixels.append(np.asarray(image, dtype=np.uint8).reshape(size, size, -1))  # [H, W, C]
    stacked = torch.from_numpy(np.stack(pixels))  # [N, H, W, C] uint8
    images = dequantize(stacked.permute(0, 3, 1, 2)).contiguous()  # [N, C, H, W] in [0, 1]
    labels = torch.tensor(folder.targets, dtype=torch.long)  # [N]
    return LabeledImages(images, labels), None, list(folder.classes)


# --------------------------------------------------------------------------------------------
# Deterministic stratified splits
# --------------------------------------------------------------------------------------------


def _rng(seed: int, stage: int) -> np.random.Generator:
    """A local generator per (seed, stage); the mask maps negative seeds to valid entropy."""
    return np.random.default_rng([stage, seed & 0xFFFF_FFFF_FFFF_FFFF])


def _allocate(counts: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Share ``total`` among classes in proportion to ``counts`` within [lo, hi] per class.

    Largest-remainder rounding: each class gets floor or ceil of its exact share unless a bound
    forces otherwise, so every split's class proportions match the pool's to within one image.
    Needs lo.sum() <= total <= hi.sum().
    """
    ideal = total * counts / max(int(counts.sum()), 1)  # [K] exact shares
    take = np.clip(np.floor(ideal), lo, hi).astype(np.int64)  # [K]
    while take.sum() < total:
        take[np.argmax(np.where(take < hi, ideal - take, -np.inf))] += 1
    while take.sum() > total:
        take[np.argmin(np.where(take > lo, ideal - take, np.inf))] -= 1
    return take


def _pick(labels: np.ndarray, amounts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mask [N] of ``amounts[c]`` random members of each class c (one permutation per class)."""
    mask = np.zeros(len(labels), dtype=bool)
    for c, amount in enumerate(amounts):
        members = np.flatnonzero(labels == c)
        mask[rng.permutation(members)[:amount]] = True
    return mask


def _train_count(train_size: float, available: int) -> int:
    """How many training images ``data.train_size`` asks for, out of ``available``."""
    if train_size <= 1.0:
        return int(round(train_size * available))
    if train_size != int(train_size):
        raise DataError(
            f"data.train_size: a value > 1 is a count of images and must be a whole number, "
            f"got {train_size}"
        )
    if int(train_size) > available:
        raise DataError(
            f"data.train_size: asks for {int(train_size)} training images but only {available} "
            f"are available after the test and validation splits; lower it (or use a fraction <= 1)"
        )
    return int(train_size)


def rare_class_counts(counts: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """Training images per class [K] after ``data.imbalance``: each listed class keeps
    ``max(1, round(keep * n_c))`` of its ``n_c`` images, every other class all of them."""
    kept = counts.copy()
    for c in cfg.imbalance.classes:
        kept[c] = max(1, int(round(cfg.imbalance.keep * counts[c])))
    return kept


def _thin_rare_classes(train: np.ndarray, y: np.ndarray, num_classes: int, cfg: DataConfig) -> np.ndarray:
    """``data.imbalance``: keep only :func:`rare_class_counts` of the listed classes' training
    images (a seeded choice, its own RNG stage), so that they become rare. The validation and
    test splits are untouched: accuracy on a rare class is still measured on all its test images."""
    rare = cfg.imbalance.classes
    if not rare:
        return train
    bad = [c for c in rare if c >= num_classes]
    if bad:
        raise DataError(f"data.imbalance.classes: class index {bad[0]} does not exist; "
                        f"{cfg.dataset} has classes 0..{num_classes - 1}")
    counts = np.bincount(y[train], minlength=num_classes)  # [K]
    keep = _pick(y[train], rare_class_counts(counts, cfg), _rng(cfg.seed, stage=3))  # [len(train)]
    return train[keep]


def split_indices(
    labels: torch.Tensor, num_classes: int, cfg: DataConfig, *, holdout_test: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sorted int64 indices into ``labels`` [N] of the train, val and test splits.

    ``holdout_test`` False (datasets with an official test set): the test indices are empty and
    everything is the training pool. Deterministic from ``cfg.seed``; see the module docstring.
    """
    y = labels.cpu().numpy().astype(np.int64)  # [N]
    pool = np.ones(len(y), dtype=bool)  # [N] not yet held out

    def hold_out(n: int, stage: int) -> np.ndarray:
        counts = np.bincount(y[pool], minlength=num_classes)  # [K]
        hi = np.maximum(counts - 1, 0)  # leave every class at least one image in the pool
        amounts = _allocate(counts, min(n, int(hi.sum())), np.zeros_like(hi), hi)
        chosen = np.flatnonzero(pool)[_pick(y[pool], amounts, _rng(cfg.seed, stage))]
        pool[chosen] = False
        return chosen

    test = np.zeros(0, dtype=np.int64)
    if holdout_test:
        test = hold_out(max(1, int(round(cfg.test_fraction * len(y)))), stage=0)
        if len(test) == 0:
            raise DataError(
                f"{cfg.dataset}: {len(y)} images are too few to hold out a test split that "
                f"leaves every class a training image; add images"
            )
    val = hold_out(int(round(cfg.val_fraction * int(pool.sum()))), stage=1)

    counts = np.bincount(y[pool], minlength=num_classes)  # [K] training images per class
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise DataError(
            f"{cfg.dataset}: class index {empty.tolist()} has no training images; every class "
            f"needs at least one"
        )
    n_train = _train_count(cfg.train_size, int(counts.sum()))
    if n_train < num_classes:
        raise DataError(
            f"data.train_size: {cfg.train_size} keeps {n_train} training images but there are "
            f"{num_classes} classes; every class needs at least one training image"
        )
    amounts = _allocate(counts, n_train, np.ones_like(counts), counts)
    train = np.flatnonzero(pool)[_pick(y[pool], amounts, _rng(cfg.seed, stage=2))]
    train = _thin_rare_classes(train, y, num_classes, cfg)

    as_tensor = lambda idx: torch.from_numpy(np.sort(idx)).long()  # noqa: E731
    return as_tensor(train), as_tensor(val), as_tensor(test)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def load_sources(cfg: DataConfig) -> tuple[LabeledImages, Optional[LabeledImages], list[str]]:
    """The dataset before splitting: (training pool, official test set or None, class names)."""
    if cfg.dataset == "digits":
        return _load_digits()
    if cfg.dataset in TORCHVISION_DATASETS:
        return _load_mnist_family(cfg)
    if cfg.dataset == "imagefolder":
        return _load_imagefolder(cfg)
    raise DataError(f"data.dataset: unknown dataset {cfg.dataset!r}")


def load_splits(cfg: DataConfig) -> Splits:
    """Load ``cfg.dataset`` and split it into train / val / test (see the module docstring)."""
    pool, official_test, classes = load_sources(cfg)
    train, val, test = split_indices(pool.labels, len(classes), cfg, holdout_test=official_test is None)
    return Splits(
        train=pool.subset(train),
        val=pool.subset(val),
        test=pool.subset(test) if official_test is None else official_test,
        classes=classes,
    )
