"""Build an MNIST-M-style colour set from the shared MNIST images and bundled colour photographs.

The recipe of MNIST-M (Ganin & Lempitsky 2015, "Unsupervised domain adaptation by
backpropagation"): each digit is blended over a random patch of a colour photograph as
|patch - digit|, channel by channel, so the stroke takes the inverse colours of its background.
This is **MNIST-M-style, not MNIST-M**: MNIST-M's backgrounds come from BSDS500, these from nine
photographs that ship inside scikit-image and scikit-learn (docs/colour-data.md lists them and
their licences); no number on it compares with a published MNIST-M one.

    python benchmarks/mnistm_root.py data/mnistm            # needs scikit-image (pip install scikit-image)
    dvc exp run -S data.dataset=imagefolder -S data.channels=3 -S data.image_size=32 \\
        -S data.root=data/mnistm/train -S data.test_root=data/mnistm/test

What it writes, under OUT: ``train/<digit>/<index>.png`` and ``test/<digit>/<index>.png`` (32x32
RGB; ``index``: the image's position in the shared t10k files), with the train / test split of
benchmarks/mnist_root.py (8,000 / 2,000, stratified, seed 0), and ``provenance.csv`` (split, file,
label, photograph, top, left of each patch). Each 28x28 digit is padded by 2 pixels of background
to 32x32 (its strokes are not resampled). Every photograph is cut in two at 3/4 of its width:
training images draw their patches from the left part, test images from the right part only, so
no test background shares a pixel with a training one. A patch is a uniform photograph and a
uniform position inside that photograph's part; every draw comes from ``--seed``. The folder is
written whole or not at all (a temporary sibling, renamed at the end).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mnist_root import SHARED, read_idx, train_test_indices  # noqa: E402

SIDE = 32  # the output's side: the 28x28 digit padded by 2 on every side
TRAIN_SHARE = 0.75  # each photograph's left 3/4 serves training patches, the rest test patches
# the photographs: seven of skimage.data's, then scikit-learn's two sample images
PHOTOGRAPHS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "china",
    "flower",
)


class BuildError(Exception):
    """Bad input to the builder: the message names the file or option."""


def load_photographs() -> dict[str, np.ndarray]:
    """The nine bundled photographs, name -> uint8 [H, W, 3]."""
    try:
        from skimage import data as skdata
    except ImportError as err:
        raise BuildError(
            "scikit-image is needed for the photographs: pip install scikit-image (or the 'colour' extra)"
        ) from err
    from sklearn.datasets import load_sample_image

    photos = {name: getattr(skdata, name)() for name in PHOTOGRAPHS[:7]}
    photos.update({name: load_sample_image(f"{name}.jpg") for name in PHOTOGRAPHS[7:]})
    return {name: np.ascontiguousarray(p[..., :3], dtype=np.uint8) for name, p in photos.items()}


def photograph_part(photo: np.ndarray, split: str, share: float = TRAIN_SHARE) -> tuple[int, int]:
    """The columns [start, stop) of a photograph [H, W, 3] that ``split``'s patches come from:
    the left ``share`` of the width for "train", the rest for "test"."""
    cut = int(photo.shape[1] * share)
    return (0, cut) if split == "train" else (cut, photo.shape[1])


def draw_patches(
    photos: Sequence[np.ndarray], n: int, split: str, rng: np.random.Generator, side: int = SIDE
) -> np.ndarray:
    """n patch positions [n, 3] (photograph, top, left): a uniform photograph, then a uniform
    side x side square inside that photograph's ``split`` part."""
    which = rng.integers(len(photos), size=n)  # [n]
    spots = np.empty((n, 3), dtype=np.int64)
    for i, k in enumerate(which):
        start, stop = photograph_part(photos[k], split)
        height = photos[k].shape[0]
        if stop - start < side or height < side:
            raise BuildError(f"photograph {k}: its {split} part ({height} x {stop - start}) is smaller than {side}")
        spots[i] = k, rng.integers(0, height - side + 1), rng.integers(start, stop - side + 1)
    return spots


def blend(digit: np.ndarray, patch: np.ndarray) -> np.ndarray:
    """MNIST-M's blend: |patch - digit| per channel, uint8 [S, S, 3], for a digit uint8 [d, d]
    (padded with 0, the background, to the patch's side S) and a patch uint8 [S, S, 3]."""
    pad = (patch.shape[0] - digit.shape[0]) // 2
    padded = np.pad(digit, pad)[:, :, None].astype(np.int16)  # [S, S, 1]
    return np.abs(patch.astype(np.int16) - padded).astype(np.uint8)  # [S, S, 3]


def build(
    images: np.ndarray,
    labels: np.ndarray,
    splits: dict[str, np.ndarray],
    photos: dict[str, np.ndarray],
    out: Path,
    seed: int = 0,
) -> dict[str, int]:
    """Write the set under ``out`` (which must not exist) from digits uint8 [N, 28, 28], their
    labels [N], the indices of each split and the photographs; returns the images per split.

    Each split draws from its own stream of ``seed`` (train first), so the test set does not
    depend on how many training images there are."""
    if out.exists():
        raise BuildError(f"{out} already exists: remove it or choose another folder")
    names, arrays = list(photos), list(photos.values())
    streams = np.random.SeedSequence(seed).spawn(len(splits))
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        rows = []
        for (split, index), stream in zip(splits.items(), streams, strict=True):
            spots = draw_patches(arrays, len(index), split, np.random.default_rng(stream))
            for i, (k, top, left) in zip(index, spots, strict=True):
                patch = arrays[k][top : top + SIDE, left : left + SIDE]
                folder = staging / split / str(labels[i])
                folder.mkdir(parents=True, exist_ok=True)
                name = f"{i:05d}.png"
                Image.fromarray(blend(images[i], patch)).save(folder / name)
                rows.append((split, f"{split}/{labels[i]}/{name}", int(labels[i]), names[k], int(top), int(left)))
        with open(staging / "provenance.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["split", "file", "label", "photograph", "top", "left"])
            writer.writerows(rows)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {split: len(index) for split, index in splits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (train/, test/, provenance.csv); must not exist")
    parser.add_argument("--source", type=Path, default=SHARED, help="folder with t10k-*-ubyte.gz")
    parser.add_argument("--test-size", type=int, default=2000, help="as benchmarks/mnist_root.py")
    parser.add_argument("--seed", type=int, default=0, help="the split's (as mnist_root.py) and the patches' seed")
    args = parser.parse_args(argv)
    images_file = args.source / "t10k-images-idx3-ubyte.gz"
    labels_file = args.source / "t10k-labels-idx1-ubyte.gz"
    try:
        for f in (images_file, labels_file):
            if not f.is_file():
                raise BuildError(f"{f} not found")
        if not args.out.parent.is_dir():
            raise BuildError(f"{args.out.parent}: no such folder")
        photos = load_photographs()
        images, labels = read_idx(images_file), read_idx(labels_file)  # [10000, 28, 28], [10000]
        train, test = train_test_indices(labels, args.test_size, args.seed)
        counts = build(images, labels, {"train": train, "test": test}, photos, args.out, args.seed)
    except BuildError as err:
        print(f"mnistm_root: error: {err}", file=sys.stderr)
        return 2
    print(f"mnistm_root: {counts['train']} train + {counts['test']} test 32x32 RGB images -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
