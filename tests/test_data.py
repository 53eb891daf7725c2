"""augment.data.splits: the real data sources, the deterministic stratified splits, and the errors users see.

MNIST-family tests write tiny IDX files by hand; ImageFolder tests write tiny PNGs. No network.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_digits
from torchvision.transforms import ToTensor

from augment.data.image_dataset import ImageTensorDataset
from augment.data.labeled import DataError, LabeledImages, Splits, to_pil
from augment.data.splits import load_splits
from augment.data.splitting import split_indices
from augment.params.config import DataConfig

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """The IDX format: magic 0x0000_08_<ndim> (uint8 data), big-endian dims, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    blob = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(blob))
    else:
        path.write_bytes(blob)
    return path


def fake_mnist(
    root: Path,
    folder: str = "MNIST",
    prefixes=("train", "t10k"),
    n=(60, 20),
    compress: bool = False,
    seed: int = 0,
    label_offset: int = 0,
):
    """Write train/test IDX files; returns {prefix: (images uint8 [N, 28, 28], labels [N])}."""
    rng = np.random.default_rng(seed)
    written = {}
    for prefix, count in zip(prefixes, n, strict=True):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10 + label_offset).astype(np.uint8)  # every class present
        raw = root / folder / "raw"
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
        written[prefix] = (images, labels)
    return written


def write_png(path: Path, mode: str, size: tuple[int, int], value) -> None:
    """A flat PNG; an int value is a grey level (also for RGB), a tuple an RGB colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" or isinstance(value, tuple) else (value,) * 3
    Image.new(mode, size, color).save(path)


def counts(split: LabeledImages, k: int = 10) -> np.ndarray:
    return torch.bincount(split.labels, minlength=k).numpy()


# --------------------------------------------------------------------------------------------
# digits: shapes, sizes, stratification, determinism, train_size
# --------------------------------------------------------------------------------------------


def test_digits_shapes_range_and_sizes(digits: Splits):
    assert digits.image_shape == (1, 8, 8)
    assert digits.num_classes == 10 and digits.classes == [str(i) for i in range(10)]
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert len(digits.test) == round(0.2 * 1797)
    assert len(digits.val) == round(0.1 * (1797 - len(digits.test)))
    for split in (digits.train, digits.val, digits.test):
        assert split.images.dtype == torch.float32 and split.labels.dtype == torch.int64
        assert split.images.shape[1:] == (1, 8, 8)
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
    assert digits.train.images.max() == 1.0  # 16 / 16


def test_digits_splits_are_disjoint_and_cover_everything():
    bunch = load_digits()
    labels = torch.from_numpy(bunch.target)
    train, val, test = split_indices(labels, 10, DataConfig())
    together = torch.cat([train, val, test])
    assert len(together) == len(torch.unique(together)) == 1797  # disjoint and complete
    # load_splits returns exactly those images, in that order
    splits = load_splits(DataConfig())
    expected = torch.from_numpy(bunch.images).float().div(16).unsqueeze(1)
    assert torch.equal(splits.val.images, expected[val])
    assert torch.equal(splits.test.labels, labels[test].long())


def test_digits_splits_are_stratified(digits: Splits):
    pool = counts(digits.train) + counts(digits.val) + counts(digits.test)
    for split in (digits.train, digits.val, digits.test):
        share = pool * len(split) / pool.sum()
        assert np.all(np.abs(counts(split) - share) <= 1.0 + 1e-9), (counts(split), share)


def test_digits_same_seed_same_splits_other_seed_different(digits: Splits):
    again = load_splits(DataConfig(seed=0))
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(again, name).images, getattr(digits, name).images)
        assert torch.equal(getattr(again, name).labels, getattr(digits, name).labels)
    other = load_splits(DataConfig(seed=1))
    assert not torch.equal(other.test.images, digits.test.images)


def test_split_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    np.random.seed(123)
    load_splits(DataConfig(train_size=0.5))
    t, n = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    assert torch.equal(t, torch.rand(1)) and n == np.random.rand()


def test_train_size_fraction_and_count(digits: Splits):
    half = load_splits(DataConfig(train_size=0.5))
    assert len(half.train) == round(0.5 * len(digits.train))
    # val and test do not depend on train_size; the subsample comes from the full training split
    assert torch.equal(half.test.images, digits.test.images)
    assert torch.equal(half.val.images, digits.val.images)
    full = {tuple(x.flatten().tolist()) for x in digits.train.images}
    assert all(tuple(x.flatten().tolist()) in full for x in half.train.images)

    for size in (100, 500.0):
        sub = load_splits(DataConfig(train_size=size))
        assert len(sub.train) == int(size)
        share = counts(digits.train) * int(size) / len(digits.train)
        assert np.all(np.abs(counts(sub.train) - share) <= 1.0 + 1e-9)
    assert np.all(counts(load_splits(DataConfig(train_size=10)).train) == 1)


@pytest.mark.parametrize(
    "size, needle",
    [
        (100000, "data.train_size"),
        (500.5, "whole number"),
        (5, "at least one training image"),
        (0.001, "at least one training image"),
    ],
)
def test_train_size_errors(size, needle):
    with pytest.raises(DataError, match=needle):
        load_splits(DataConfig(train_size=size))


def test_too_large_count_names_the_available_number(digits: Splits):
    with pytest.raises(DataError, match=rf"data\.train_size.*only {len(digits.train)} "):
        load_splits(DataConfig(train_size=5000))


def test_val_fraction_zero_gives_an_empty_val_of_the_right_shape():
    splits = load_splits(DataConfig(val_fraction=0.0))
    assert splits.val.images.shape == (0, 1, 8, 8) and splits.val.labels.shape == (0,)
    assert len(splits.train) + len(splits.test) == 1797


@settings(max_examples=40, deadline=None)
@given(
    per_class=st.lists(st.integers(1, 30), min_size=2, max_size=6),
    test_fraction=st.floats(0.05, 0.9),
    val_fraction=st.floats(0.0, 0.9),
    train_size=st.floats(0.05, 1.0),
    seed=st.integers(-5, 5),
)
def test_split_invariants(per_class, test_fraction, val_fraction, train_size, seed):
    """Any class sizes: disjoint, deterministic splits; every class keeps a training image."""
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(per_class)])
    k = len(per_class)
    cfg = DataConfig(test_fraction=test_fraction, val_fraction=val_fraction, train_size=train_size, seed=seed)
    try:
        train, val, test = split_indices(labels, k, cfg)
    except DataError as err:  # too few images for a test split, or train_size below 1 per class
        assert "too few" in str(err) or "at least one training image" in str(err)
        return
    together = torch.cat([train, val, test])
    assert len(together) == len(torch.unique(together))
    assert (torch.bincount(labels[train], minlength=k) >= 1).all()
    assert len(test) >= 1
    again = split_indices(labels, k, cfg)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again, strict=True))


# --------------------------------------------------------------------------------------------
# MNIST family: hand-written IDX files
# --------------------------------------------------------------------------------------------


def test_mnist_uses_the_official_test_set(tmp_path: Path):
    written = fake_mnist(tmp_path)
    splits = load_splits(DataConfig(dataset="mnist", root=str(tmp_path), val_fraction=0.2))
    assert splits.image_shape == (1, 28, 28)
    assert splits.classes[0] == "0 - zero" and splits.num_classes == 10
    test_images, test_labels = written["t10k"]
    assert torch.equal(splits.test.labels, torch.from_numpy(test_labels).long())
    assert torch.allclose(splits.test.images[:, 0], torch.from_numpy(test_images).float() / 255)
    assert len(splits.train) + len(splits.val) == 60 and len(splits.val) == 12
    assert set(counts(splits.val).tolist()) <= {1, 2}  # 6 per class in the pool, 1.2 each held out
    # train and val are disjoint rows of the official training file
    train_images = torch.from_numpy(written["train"][0]).float() / 255
    rows = {tuple(x.flatten().tolist()) for x in train_images}
    seen = [tuple(x.flatten().tolist()) for x in torch.cat([splits.train.images, splits.val.images])]
    assert set(seen) == rows and len(seen) == 60


def test_mnist_gz_files_and_fashion_folder(tmp_path: Path):
    written = fake_mnist(tmp_path, folder="FashionMNIST", compress=True)
    splits = load_splits(DataConfig(dataset="fashion-mnist", root=str(tmp_path)))
    assert splits.classes[0] == "T-shirt/top"
    assert torch.equal(splits.test.labels, torch.from_numpy(written["t10k"][1]).long())
    assert (tmp_path / "FashionMNIST/raw/train-images-idx3-ubyte").is_file()  # unpacked once


def test_kmnist_and_emnist_folders(tmp_path: Path):
    fake_mnist(tmp_path, folder="KMNIST")
    assert load_splits(DataConfig(dataset="kmnist", root=str(tmp_path))).classes[:2] == ["o", "ki"]

    written = fake_mnist(
        tmp_path, folder="EMNIST", label_offset=1, prefixes=("emnist-letters-train", "emnist-letters-test")
    )
    splits = load_splits(DataConfig(dataset="emnist", emnist_split="letters", root=str(tmp_path)))
    assert splits.classes == list("abcdefghij")  # the unused 'N/A' class 0 is dropped
    images, labels = written["emnist-letters-test"]
    assert torch.equal(splits.test.labels, torch.from_numpy(labels).long() - 1)
    upright = torch.from_numpy(images).transpose(1, 2).float() / 255  # EMNIST files are transposed
    assert torch.allclose(splits.test.images[:, 0], upright)

    with pytest.raises(DataError, match="data.emnist_split"):
        load_splits(DataConfig(dataset="emnist", emnist_split="nope", root=str(tmp_path)))


def test_missing_mnist_files_name_the_expected_files(tmp_path: Path):
    with pytest.raises(DataError) as info:
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path)))
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte") in message
    assert "t10k-labels-idx1-ubyte(.gz)" in message
    assert "data.download: true" in message

    fake_mnist(tmp_path)
    (tmp_path / "MNIST/raw/t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte") as info:
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path)))
    assert "train-images" not in str(info.value)


def test_failed_download_is_a_data_error(tmp_path: Path, monkeypatch):
    def no_network(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nno network")

    monkeypatch.setattr(tvd.MNIST, "download", no_network)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*download failed.*no network"):
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path), download=True))


@pytest.mark.parametrize("keep_bytes", [100, 3])  # body cut short; header cut short
def test_truncated_idx_file_names_the_file(tmp_path: Path, keep_bytes: int):
    fake_mnist(tmp_path)
    bad = tmp_path / "MNIST/raw/t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:keep_bytes])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte: not a valid IDX file"):
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path)))


def test_corrupt_gz_and_mismatched_counts(tmp_path: Path):
    fake_mnist(tmp_path, compress=True)
    (tmp_path / "MNIST/raw/train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: cannot unpack"):
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path)))

    write_idx(tmp_path / "MNIST/raw/train-labels-idx1-ubyte", np.arange(50) % 10)
    with pytest.raises(DataError, match="60 images but .*50 labels"):
        load_splits(DataConfig(dataset="mnist", root=str(tmp_path)))


# --------------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """3 classes x 6 flat images, grey and RGB, of different sizes; the grey level encodes the class."""
    for c, name in enumerate(["cat", "dog", "emu"]):
        for i in range(6):
            mode = "L" if i % 2 else "RGB"
            write_png(tmp_path / "imgs" / name / f"{i}.png", mode, (10 + i, 12), LEVELS[c])
    return tmp_path / "imgs"


LEVELS = [40, 120, 200]


@pytest.mark.parametrize("channels", [1, 3])
def test_imagefolder_channels_and_resize(folder: Path, channels: int):
    cfg = DataConfig(
        dataset="imagefolder", root=str(folder), channels=channels, image_size=16, test_fraction=0.34, val_fraction=0.0
    )
    splits = load_splits(cfg)
    assert splits.classes == ["cat", "dog", "emu"]
    assert splits.image_shape == (channels, 16, 16)
    assert len(splits.train) + len(splits.test) == 18 and len(splits.test) == 6
    assert counts(splits.test, 3).tolist() == [2, 2, 2]
    for split in (splits.train, splits.test):
        assert split.images.dtype == torch.float32
        level = torch.tensor(LEVELS, dtype=torch.float32)[split.labels] / 255  # [N]
        assert torch.allclose(split.images, level.view(-1, 1, 1, 1).expand_as(split.images), atol=1e-6)


def test_imagefolder_keeps_colour(tmp_path: Path):
    write_png(tmp_path / "a/green/0.png", "RGB", (4, 4), (0, 255, 0))
    write_png(tmp_path / "a/green/1.png", "RGB", (4, 4), (0, 255, 0))
    write_png(tmp_path / "a/grey/0.png", "L", (4, 4), 90)
    write_png(tmp_path / "a/grey/1.png", "L", (4, 4), 90)
    splits = load_splits(
        DataConfig(
            dataset="imagefolder",
            root=str(tmp_path / "a"),
            channels=3,
            image_size=4,
            test_fraction=0.5,
            val_fraction=0.0,
        )
    )
    everything = torch.cat([splits.train.images, splits.test.images])
    labels = torch.cat([splits.train.labels, splits.test.labels])
    assert torch.equal(
        everything[labels == splits.classes.index("green")][:, :, 0, 0], torch.tensor([[0.0, 1.0, 0.0]] * 2)
    )
    assert torch.allclose(everything[labels == splits.classes.index("grey")], torch.tensor(90 / 255))


def test_imagefolder_errors(tmp_path: Path):
    cfg = lambda root: DataConfig(dataset="imagefolder", root=str(root))  # noqa: E731
    with pytest.raises(DataError, match="not found"):
        load_splits(cfg(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=f"{tmp_path / 'empty'}.*no images"):
        load_splits(cfg(tmp_path / "empty"))
    write_png(tmp_path / "one/only/a.png", "L", (8, 8), 10)
    write_png(tmp_path / "one/only/b.png", "L", (8, 8), 10)
    with pytest.raises(DataError, match="at least 2 classes"):
        load_splits(cfg(tmp_path / "one"))
    (tmp_path / "one/second").mkdir()  # a class folder with no images
    with pytest.raises(DataError, match="no images"):
        load_splits(cfg(tmp_path / "one"))
    bad = tmp_path / "one/second/broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=f"{bad}"):
        load_splits(cfg(tmp_path / "one"))


def test_imagefolder_test_root_is_the_official_test_split(folder: Path, tmp_path: Path):
    """data.test_root: every one of its images is the test split, root's images are train + val."""
    for c, name in enumerate(["cat", "dog", "emu"]):
        for i in range(2):
            write_png(tmp_path / "held_out" / name / f"{i}.png", "L", (12, 12), LEVELS[c] + 5)
    cfg = DataConfig(
        dataset="imagefolder", root=str(folder), test_root=str(tmp_path / "held_out"), image_size=8, val_fraction=0.0
    )
    splits = load_splits(cfg)
    assert len(splits.test) == 6 and len(splits.train) == 18
    assert counts(splits.test, 3).tolist() == [2, 2, 2]
    level = (torch.tensor(LEVELS, dtype=torch.float32)[splits.test.labels] + 5) / 255  # [6]: test_root's own
    assert torch.allclose(splits.test.images, level.view(-1, 1, 1, 1).expand_as(splits.test.images), atol=1e-6)


def test_test_root_errors_name_the_key(folder: Path, tmp_path: Path):
    write_png(tmp_path / "other/cat/0.png", "L", (8, 8), 10)
    write_png(tmp_path / "other/yak/0.png", "L", (8, 8), 10)
    cfg = DataConfig(dataset="imagefolder", root=str(folder), test_root=str(tmp_path / "other"))
    with pytest.raises(
        DataError, match=r"data.test_root: .*only in root: \['dog', 'emu'\], only in test_root: \['yak'\]"
    ):
        load_splits(cfg)
    with pytest.raises(DataError, match="data.test_root: .*not found"):
        load_splits(DataConfig(dataset="imagefolder", root=str(folder), test_root=str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match="data.test_root: only an ImageFolder"):
        load_splits(DataConfig(dataset="digits", test_root=str(tmp_path / "other")))


# --------------------------------------------------------------------------------------------
# Splits.save / load, to_pil, ImageTensorDataset
# --------------------------------------------------------------------------------------------


def test_splits_save_load_round_trip(tmp_path: Path, digits: Splits):
    path = tmp_path / "deep" / "er" / "splits.pt"
    digits.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["splits.pt"]  # no temporary file left
    back = Splits.load(path)
    assert back.classes == digits.classes and back.image_shape == digits.image_shape
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(back, name).images, getattr(digits, name).images)
        assert torch.equal(getattr(back, name).labels, getattr(digits, name).labels)


def test_splits_load_errors_name_the_file(tmp_path: Path):
    with pytest.raises(DataError, match="not found.*missing.pt"):
        Splits.load(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match="corrupt.pt"):
        Splits.load(corrupt)
    torch.save({"classes": ["a"]}, tmp_path / "partial.pt")
    with pytest.raises(DataError, match="partial.pt"):
        Splits.load(tmp_path / "partial.pt")


def test_to_pil_modes_and_rounding():
    grey = torch.tensor([[[0.0, 0.5], [1.0, 0.2]]])  # [1, 2, 2]
    image = to_pil(grey)
    assert image.mode == "L" and image.size == (2, 2)
    assert np.asarray(image).tolist() == [[0, round(127.5)], [255, round(0.2 * 255)]]
    rgb = to_pil(torch.rand(3, 4, 5))
    assert rgb.mode == "RGB" and rgb.size == (5, 4)
    with pytest.raises(ValueError):
        to_pil(torch.rand(2, 4, 4))


def test_image_tensor_dataset_behaves_like_mnist(digits: Splits):
    ds = ImageTensorDataset(digits.test, digits.classes)
    assert len(ds) == len(digits.test)
    image, target = ds[3]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (8, 8)
    assert isinstance(target, int) and target == int(digits.test.labels[3])
    assert ds.classes == digits.classes and ds.class_to_idx["7"] == 7
    assert ds.targets == digits.test.labels.tolist() and ds.data.shape == (len(ds), 8, 8)
    assert np.array_equal(np.asarray(image), np.asarray(to_pil(digits.test.images[3])))

    ds = ImageTensorDataset(digits.test, digits.classes, transform=ToTensor(), target_transform=lambda y: y + 100)
    image, target = ds[3]
    assert image.shape == (1, 8, 8) and target == int(digits.test.labels[3]) + 100
    assert torch.allclose(image, digits.test.images[3], atol=0.5 / 255 + 1e-6)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=16)))
    assert x.shape == (16, 1, 8, 8) and y.dtype == torch.int64


def test_image_tensor_dataset_rgb():
    images = LabeledImages(torch.rand(4, 3, 6, 5), torch.tensor([0, 1, 0, 1]))
    ds = ImageTensorDataset(images, ["a", "b"])
    image, _ = ds[0]
    assert image.mode == "RGB" and image.size == (5, 6) and ds.data.shape == (4, 6, 5, 3)


def test_labeled_images_subset_and_checks():
    images = LabeledImages(torch.zeros(5, 1, 2, 2), torch.arange(5))
    assert len(images.subset(torch.tensor([4, 0]))) == 2
    assert images.subset(torch.tensor([4, 0])).labels.tolist() == [4, 0]
    assert images.subset(torch.zeros(0, dtype=torch.long)).images.shape == (0, 1, 2, 2)
    with pytest.raises(ValueError):
        LabeledImages(torch.zeros(5, 2, 2), torch.arange(5))
    assert dataclasses.is_dataclass(images)
