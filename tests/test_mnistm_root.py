"""benchmarks/mnistm_root.py, the MNIST-M-style builder: its known answers on drawn digits and
photographs (sizes, labels, the blend, the train / test patch separation, determinism by seed)."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import mnistm_root as builder


def digits(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 'digits': a bright square whose side encodes nothing; labels 0..4 in turn."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 10:18, 12:16] = 255
    return images, np.arange(n) % 5


def photographs() -> dict[str, np.ndarray]:
    """Two random photographs of different sizes."""
    rng = np.random.default_rng(0)
    return {
        "a": rng.integers(0, 256, size=(40, 200, 3), dtype=np.uint8),
        "b": rng.integers(0, 256, size=(64, 160, 3), dtype=np.uint8),
    }


def build(tmp_path: Path, seed: int = 0, name: str = "out") -> tuple[Path, dict[str, int]]:
    images, labels = digits()
    splits = {"train": np.arange(0, 15), "test": np.arange(15, 20)}
    counts = builder.build(images, labels, splits, photographs(), tmp_path / name, seed)
    return tmp_path / name, counts


def test_sizes_labels_and_files(tmp_path: Path):
    out, counts = build(tmp_path)
    assert counts == {"train": 15, "test": 5}
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(files) == 20
    assert "train/0/00000.png" in files and "test/4/00019.png" in files
    for path in out.rglob("*.png"):
        image = Image.open(path)
        assert image.mode == "RGB" and image.size == (32, 32)
        assert int(path.parent.name) == int(path.stem) % 5  # the digit's own label
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_blend_is_the_absolute_difference_with_the_padded_digit():
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[5, 7] = 255
    patch = np.full((32, 32, 3), (200, 30, 0), dtype=np.uint8)
    out = builder.blend(digit, patch)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert out[7, 9].tolist() == [55, 225, 255]  # the stroke (padded by 2): |patch - 255|
    assert out[0, 0].tolist() == [200, 30, 0]  # the background: the photograph itself


def test_test_patches_never_touch_the_training_part(tmp_path: Path):
    out, _ = build(tmp_path)
    photos = photographs()
    with open(out / "provenance.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 20
    for row in rows:
        cut = int(photos[row["photograph"]].shape[1] * builder.TRAIN_SHARE)
        left, top = int(row["left"]), int(row["top"])
        assert top + 32 <= photos[row["photograph"]].shape[0]
        if row["split"] == "train":
            assert left + 32 <= cut
        else:
            assert cut <= left and left + 32 <= photos[row["photograph"]].shape[1]
        pixels = np.asarray(Image.open(out / row["file"]))
        patch = photos[row["photograph"]][top : top + 32, left : left + 32]
        assert np.array_equal(pixels[0], patch[0])  # the top row is background: the recorded patch


def test_many_draws_respect_the_parts():
    photos = list(photographs().values())
    rng = np.random.default_rng(3)
    for split in ("train", "test"):
        spots = builder.draw_patches(photos, 2000, split, rng)
        for k in (0, 1):
            start, stop = builder.photograph_part(photos[k], split)
            lefts = spots[spots[:, 0] == k, 2]
            assert lefts.min() >= start and lefts.max() + 32 <= stop
            assert lefts.min() <= start + 2 and lefts.max() + 32 >= stop - 2  # the whole part is used


def test_deterministic_by_seed(tmp_path: Path):
    first, _ = build(tmp_path, seed=5, name="first")
    again, _ = build(tmp_path, seed=5, name="again")
    other, _ = build(tmp_path, seed=6, name="other")
    read = lambda root: {p.relative_to(root): p.read_bytes() for p in root.rglob("*.png")}  # noqa: E731
    assert read(first) == read(again)
    assert read(first) != read(other)


def test_bad_input_writes_nothing(tmp_path: Path):
    (tmp_path / "out").mkdir()
    with pytest.raises(builder.BuildError, match="already exists"):
        build(tmp_path)
    images, labels = digits()
    small = {"tiny": np.zeros((20, 20, 3), dtype=np.uint8)}
    with pytest.raises(builder.BuildError, match="smaller than 32"):
        builder.build(images, labels, {"train": np.arange(3)}, small, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_missing_source_is_one_line_and_exit_2(tmp_path: Path, capsys):
    assert builder.main([str(tmp_path / "out"), "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "t10k-images-idx3-ubyte.gz not found" in err
    assert not (tmp_path / "out").exists()
