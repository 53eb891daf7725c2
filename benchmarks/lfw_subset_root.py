"""Lay out scikit-image's ``lfw_subset`` as an ImageFolder: a small grey set where mirroring keeps the class.

``skimage.data.lfw_subset()`` ships inside scikit-image (no download): 200 grey 25x25 images,
the first 100 faces from Labeled Faces in the Wild, the other 100 non-faces (patches of
natural images), as scikit-image's documentation describes it. A mirrored face is a face and a
mirrored patch a patch, so horizontal flips should help there, as they must lose on digits: the
classic sweep's second data set (docs/classic_sweep.md). Then::

    pip install scikit-image              # a benchmark's need, not the project's
    python benchmarks/lfw_subset_root.py data/lfw
    python -m pipelines.classic_sweep --params params-mnist.yaml -S data.dataset=imagefolder \\
        -S data.root=data/lfw -S data.val_fraction=0.3

writes ``ROOT/face/000.png .. 099.png`` and ``ROOT/nonface/100.png .. 199.png`` (8-bit grey).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("face", "nonface")  # images 0-99, 100-199


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="data.root of the params (an ImageFolder: one folder per class)")
    args = parser.parse_args(argv)
    try:
        from skimage.data import lfw_subset
    except ImportError:
        print("lfw_subset_root: error: scikit-image is not installed (pip install scikit-image)", file=sys.stderr)
        return 2
    images = lfw_subset()  # [200, 25, 25] float64 in [0, 1]
    if images.shape != (200, 25, 25):
        print(f"lfw_subset_root: error: expected 200 images of 25x25, got {images.shape}", file=sys.stderr)
        return 2
    pixels = np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)
    for i, image in enumerate(pixels):
        folder = args.root / CLASSES[i // 100]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{i:03d}.png")
    print(f"lfw_subset_root: 100 faces + 100 non-faces (25x25 grey) -> {args.root}/{{{','.join(CLASSES)}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
