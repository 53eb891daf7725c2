"""Lay out the shared MNIST test set as a torchvision MNIST root, for realistic 28x28 runs.

`../shared/data/mnist` holds only the official *test* set (10,000 images). This script splits it
stratified with a fixed seed into 8,000 "train" and 2,000 "test" images and writes them as the
four IDX files torchvision's MNIST reads from ``<root>/MNIST/raw/``. Then

    python benchmarks/mnist_root.py data/raw
    cp params-mnist.yaml params.yaml && dvc repro

runs the whole pipeline on real 28x28 digits without any download.
"""

from __future__ import annotations

import argparse
import gzip
import struct
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array."""
    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    _, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    assert dtype_code == 0x08, f"{path}: only uint8 IDX files are supported"
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path: Path, array: np.ndarray) -> None:
    """A uint8 array as an uncompressed IDX file (magic 0x0000 08 ndim, big-endian dims)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def train_test_indices(labels: np.ndarray, test_size: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The split of the 10,000 shared images this script writes: (train, test) indices into the
    test files, each sorted, stratified by label (benchmarks/mnistm_root.py builds on the same)."""
    train, test = train_test_split(np.arange(len(labels)), test_size=test_size, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="data.root of params.yaml (files go to ROOT/MNIST/raw)")
    parser.add_argument("--source", type=Path, default=SHARED, help="folder with t10k-*-ubyte.gz")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    images_file = args.source / "t10k-images-idx3-ubyte.gz"
    labels_file = args.source / "t10k-labels-idx1-ubyte.gz"
    for f in (images_file, labels_file):
        if not f.is_file():
            print(f"mnist_root: error: {f} not found", file=sys.stderr)
            return 2
    images, labels = read_idx(images_file), read_idx(labels_file)  # [10000, 28, 28], [10000]
    train, test = train_test_indices(labels, args.test_size, args.seed)
    raw = args.root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "train-images-idx3-ubyte", images[train])
    write_idx(raw / "train-labels-idx1-ubyte", labels[train])
    write_idx(raw / "t10k-images-idx3-ubyte", images[test])
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[test])
    print(f"mnist_root: {len(train)} train + {len(test)} test images -> {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
