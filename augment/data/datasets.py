"""Where the real images come from: scikit-learn's bundled 8x8 digits, the MNIST family through
torchvision (from ``data.root``, optionally downloaded), or the user's own ImageFolder. Each loader
returns (training pool, official test set or None, class names); every problem with the files is
a :class:`~augment.data.labeled.DataError` that names the file and says what to do.

scikit-learn and torchvision are imported inside the loader that needs them: importing both
costs about 4 s, and the stages that only read the saved splits never load a dataset.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from augment.core.outputs import StagedOutputs
from augment.core.pixels import dequantize
from augment.data.labeled import DataError, LabeledImages
from augment.params.config import DataConfig
from augment.settings.extras import require

# dataset name in params.yaml -> torchvision class name (also the folder under data.root)
TORCHVISION_DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST", "emnist": "EMNIST"}


def _load_digits() -> tuple[LabeledImages, None, list[str]]:
    """scikit-learn's 1,797 8x8 digits (shipped inside scikit-learn: no network needed)."""
    bunch = require("sklearn.datasets", "data.dataset: digits (bundled with scikit-learn)").load_digits()
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
            raise DataError(f"{archive}: cannot unpack ({err}); replace it with a good copy or delete it") from err


def _missing_files_error(
    cfg: DataConfig, raw: Path, missing: list[Path], download_error: Exception | None = None
) -> DataError:
    listing = ", ".join(f"{f}(.gz)" for f in missing)
    if download_error is None:
        todo = "Set `data.download: true` where the network allows"
    else:
        todo = f"The download failed ({' '.join(str(download_error).split())}): check the network"
    return DataError(f"{cfg.dataset}: missing {listing}. {todo}, or copy the files (uncompressed or .gz) into {raw}/")


def _find_bad_idx_file(files: list[Path]) -> tuple[Path, Exception] | None:
    """Re-read each IDX file on its own to name the one that torchvision could not read."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for file, read in zip(files, [read_image_file, read_label_file] * 2, strict=True):
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
    import torchvision.datasets as tvd

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
        classes = [c for c, keep in zip(classes, present.tolist(), strict=True) if keep]
    return pool, test, classes


def _read_images(paths: list[Path], channels: int, height: int, width: int) -> torch.Tensor:
    """The image files at ``paths`` as 'L' (channels 1) or 'RGB' (channels 3), resized to
    height x width: [N, C, H, W] float in [0, 1]. A file PIL cannot read is a DataError naming it."""
    mode = "L" if channels == 1 else "RGB"
    pixels = []
    for path in paths:
        try:
            with Image.open(path) as opened:
                image = opened.convert(mode)  # convert() loads the pixels: corrupt files fail here
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise DataError(f"{path}: cannot read this image ({err}); fix or remove the file") from err
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        pixels.append(np.asarray(image, dtype=np.uint8).reshape(height, width, -1))  # [H, W, C]
    stacked = torch.from_numpy(np.stack(pixels))  # [N, H, W, C] uint8
    return dequantize(stacked.permute(0, 3, 1, 2)).contiguous()  # [N, C, H, W] in [0, 1]


def _image_folder(cfg: DataConfig, key: str) -> tuple[LabeledImages, list[str]]:
    """The ImageFolder at ``data.<key>`` (root or test_root): ``<folder>/<class name>/<image>``,
    converted to 'L' (channels 1) or 'RGB' (channels 3) and resized to image_size x image_size."""
    from torchvision.datasets import ImageFolder

    root = Path(getattr(cfg, key))
    layout = f"expected one sub-folder of images per class: <{key}>/<class name>/<image>.png"
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "image folder not found"
        raise DataError(f"data.{key}: {root}: {what}; {layout}")
    try:
        folder = ImageFolder(str(root))
    except (FileNotFoundError, ValueError) as err:  # no class folders, or a class with no images
        raise DataError(f"data.{key}: {root}: no images found ({err}); {layout}") from err
    if len(folder.classes) < 2:
        raise DataError(
            f"data.{key}: {root}: found only the class {folder.classes[0]!r}; a class-conditional "
            f"model needs at least 2 classes (one sub-folder per class)"
        )
    images = _read_images([Path(path) for path, _ in folder.samples], cfg.channels, cfg.image_size, cfg.image_size)
    labels = torch.tensor(folder.targets, dtype=torch.long)  # [N]
    return LabeledImages(images, labels), list(folder.classes)


def _load_imagefolder(cfg: DataConfig) -> tuple[LabeledImages, LabeledImages | None, list[str]]:
    """The user's own images at ``data.root``, and the held-out test images at ``data.test_root``
    when given (their class sub-folders must be root's, so that a label means the same class)."""
    data, classes = _image_folder(cfg, "root")
    if not cfg.test_root:
        return data, None, classes
    test, test_classes = _image_folder(cfg, "test_root")
    if test_classes != classes:
        only_root = sorted(set(classes) - set(test_classes))
        only_test = sorted(set(test_classes) - set(classes))
        raise DataError(
            f"data.test_root: {cfg.test_root}: its class sub-folders must be data.root's "
            f"({len(classes)} classes); only in root: {only_root[:5]}, only in test_root: {only_test[:5]}"
        )
    return data, test, classes


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def load_unlabelled_folder(root: str | Path, channels: int, height: int, width: int) -> torch.Tensor:
    """``data.unlabelled_root``: every image file under ``root`` (any layout, sorted by path),
    converted to 'L' (channels 1) or 'RGB' (channels 3) and resized to the labelled images' side:
    [P, C, H, W] float in [0, 1]. Folder names are never read as classes."""
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "folder not found"
        raise DataError(f"data.unlabelled_root: {root}: {what}; point it at a folder of images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            f"data.unlabelled_root: no images in {root} (looked for {', '.join(IMAGE_SUFFIXES)}); "
            f'add images or set it to ""'
        )
    return _read_images(files, channels, height, width)


def load_sources(cfg: DataConfig) -> tuple[LabeledImages, LabeledImages | None, list[str]]:
    """The dataset before splitting: (training pool, official test set or None, class names)."""
    if cfg.test_root and cfg.dataset != "imagefolder":
        raise DataError(
            f"data.test_root: only an ImageFolder (data.dataset: imagefolder) takes a test folder; "
            f'{cfg.dataset} has its own test split (or test_fraction): set it to ""'
        )
    if cfg.dataset == "digits":
        return _load_digits()
    if cfg.dataset in TORCHVISION_DATASETS:
        return _load_mnist_family(cfg)
    if cfg.dataset == "imagefolder":
        return _load_imagefolder(cfg)
    raise DataError(f"data.dataset: unknown dataset {cfg.dataset!r}")
