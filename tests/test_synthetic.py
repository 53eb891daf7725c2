"""SyntheticDataset behaves like torchvision's MNIST, and item i is fixed by (seed, i).

Every test uses tiny untrained generators (width 8, latent 4) saved to a temporary folder, so the
whole file runs in seconds. Untrained networks still map different codes to different images,
which is all determinism needs.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
import random

import pytest
import torch
from PIL import Image
from torch.nn.utils import parametrize
from torch.utils.data import ConcatDataset, DataLoader
from torchvision.datasets import FakeData
from torchvision.transforms import ToTensor

from augment.core.labels import balanced_labels, labels_from_counts
from augment.core.pixels import quantize
from augment.data.labeled import DataError, LabeledImages
from augment.models import build_model
from augment.params.config import Params
from augment.sampling.generation import sample_images
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import load_synthetic, save_synthetic
from augment.training.checkpoint import save_generator

K = 10
CLASSES = [f"class-{k}" for k in range(K)]


def tiny_model(name: str = "cvaegan", shape=(1, 8, 8), num_classes: int = K, seed: int = 0):
    torch.manual_seed(seed)
    config = dataclasses.replace(Params().generator(name), width=8, latent_dim=4)
    return build_model(name, config, shape, num_classes)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A generators folder holding cvaegan.pt (1x8x8) and cgan.pt (3x32x32); no cvae.pt."""
    folder = tmp_path_factory.mktemp("generators")
    save_generator(folder / "cvaegan.pt", tiny_model("cvaegan"), CLASSES)
    save_generator(folder / "cgan.pt", tiny_model("cgan", shape=(3, 32, 32)), CLASSES)
    return folder


def make(root, n: int | None = None, **kwargs) -> SyntheticDataset:
    kwargs.setdefault("batch_size", 16)  # several blocks even for small n
    return SyntheticDataset("cvaegan", n, root=root, **kwargs)


def as_tensor(dataset, i: int) -> torch.Tensor:
    return ToTensor()(dataset[i][0])


def stack(dataset, order) -> torch.Tensor:
    return torch.stack([as_tensor(dataset, i) for i in order])


def loader_images(dataset, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    images, targets = zip(*DataLoader(dataset, **kwargs), strict=True)
    return torch.cat(images), torch.cat(targets)


# --------------------------------------------------------------------------------------------
# Types, modes and the torchvision conventions
# --------------------------------------------------------------------------------------------


def test_grey_items_are_pil_L_and_int(root):
    dataset = make(root, 20)
    image, target = dataset[3]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (8, 8)
    assert type(target) is int and target == 3
    assert len(dataset) == 20
    assert isinstance(dataset, torch.utils.data.Dataset)


def test_rgb_items_are_pil_RGB(root):
    dataset = SyntheticDataset("cgan", 12, root=root)
    image, target = dataset[11]
    assert image.mode == "RGB" and image.size == (32, 32)
    assert target == 1
    assert ToTensor()(image).shape == (3, 32, 32)


def test_transform_and_target_transform(root):
    dataset = make(root, 20, transform=ToTensor(), target_transform=lambda t: t + 100)
    image, target = dataset[5]
    assert isinstance(image, torch.Tensor) and image.shape == (1, 8, 8) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert target == 105
    assert "Transform: ToTensor()" in repr(dataset)


def test_classes_class_to_idx_targets(root):
    dataset = make(root, 25)
    assert dataset.classes == CLASSES  # from the checkpoint
    assert dataset.class_to_idx == {name: k for k, name in enumerate(CLASSES)}
    assert isinstance(dataset.targets, list) and all(type(t) is int for t in dataset.targets)
    assert dataset.targets == [i % K for i in range(25)]
    assert dataset.model_name == "cvaegan" and dataset.seed == 0
    text = repr(dataset)
    assert text.startswith("Dataset SyntheticDataset\n    Number of datapoints: 25\n    Model: cvaegan")


def test_balanced_by_default(root):
    dataset = make(root, 50)
    assert torch.bincount(torch.tensor(dataset.targets), minlength=K).tolist() == [5] * K
    assert len(SyntheticDataset("cvaegan", root=root)) == 1000  # the default size
    assert balanced_labels(3, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_per_class_int_and_list(root):
    same = make(root, per_class=3)
    assert len(same) == 3 * K
    assert same.targets == [k for k in range(K) for _ in range(3)]
    counts = [0, 1, 2, 3, 4, 0, 0, 1, 0, 2]
    varied = make(root, per_class=counts)
    assert torch.bincount(torch.tensor(varied.targets), minlength=K).tolist() == counts
    assert varied.targets == labels_from_counts(counts).tolist()
    assert len(make(root, 30, per_class=3)) == 30  # a consistent num_samples is accepted


def test_explicit_labels(root):
    labels = [9, 9, 0, 3, 7]
    dataset = make(root, labels=labels)
    assert dataset.targets == labels
    assert [dataset[i][1] for i in range(5)] == labels
    assert make(root, labels=torch.tensor(labels)).targets == labels


def test_negative_indices_and_index_error(root):
    dataset = make(root, 20)
    assert torch.equal(as_tensor(dataset, -1), as_tensor(dataset, 19))
    assert dataset[-20][1] == dataset[0][1]
    for bad in (20, 1000, -21):
        with pytest.raises(IndexError, match="out of range"):
            dataset[bad]


# --------------------------------------------------------------------------------------------
# Determinism: item i is fixed by (seed, i)
# --------------------------------------------------------------------------------------------


def test_same_item_whatever_the_access_order(root):
    n = 70
    forward = stack(make(root, n), range(n))
    reverse = stack(make(root, n), reversed(range(n))).flip(0)
    order = list(range(n))
    random.Random(1).shuffle(order)
    shuffled = torch.empty_like(forward)
    shuffled[order] = stack(make(root, n), order)
    assert torch.equal(forward, reverse) and torch.equal(forward, shuffled)
    assert len({bytes(quantize(x).numpy()) for x in forward}) == n  # every item differs


def test_same_items_in_separately_built_datasets_and_independent_of_global_rng(root):
    torch.manual_seed(123)
    a = stack(make(root, 40), range(40))
    torch.manual_seed(999)
    b = stack(make(root, 40), range(40))
    assert torch.equal(a, b)  # the global seed is not read ...
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    dataset = make(root, 40)  # loading the checkpoint included
    dataset[39]
    dataset.materialize()
    assert torch.equal(before, torch.random.get_rng_state())  # ... nor advanced


def test_item_does_not_depend_on_dataset_size_or_labels_of_others(root):
    small, large = make(root, 20), make(root, 200)
    assert torch.equal(stack(small, range(20)), stack(large, range(20)))


def test_different_seed_gives_different_images(root):
    a = stack(make(root, 30, seed=0), range(30))
    b = stack(make(root, 30, seed=1), range(30))
    assert a.shape == b.shape
    assert not any(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_dataloader_batch_sizes_give_the_same_items(root, batch_size):
    reference = stack(make(root, 100), range(100))
    images, targets = loader_images(make(root, 100, transform=ToTensor()), batch_size=batch_size)
    assert torch.equal(images, reference)
    assert targets.tolist() == [i % K for i in range(100)]


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_give_the_same_items(root, context):
    if context not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {context} start method here")
    reference, _ = loader_images(make(root, 100, transform=ToTensor()), batch_size=8, num_workers=0)
    images, targets = loader_images(
        make(root, 100, transform=ToTensor()), batch_size=8, num_workers=2, multiprocessing_context=context
    )
    assert torch.equal(images, reference)
    assert targets.tolist() == [i % K for i in range(100)]


def test_shuffled_loader_and_materialized_workers(root):
    n = 60
    reference = stack(make(root, n), range(n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).tolist()
    images, _ = loader_images(make(root, n, transform=ToTensor()), batch_size=7, sampler=order)
    assert torch.equal(images, reference[order])
    dataset = make(root, n, transform=ToTensor()).materialize()
    images, _ = loader_images(dataset, batch_size=7, num_workers=2, sampler=order)
    assert torch.equal(images, reference[order])


def test_pickle_round_trip(root):
    dataset = make(root, 40)
    # a spectrally normalised discriminator: a module that refuses to pickle as a module
    assert any(parametrize.is_parametrized(m) for m in dataset.model.modules())
    with pytest.raises(RuntimeError, match="parametrized modules"):
        pickle.dumps(dataset.model)
    dataset[0]  # some blocks cached, others not
    state = torch.random.get_rng_state()
    clone = pickle.loads(pickle.dumps(dataset))
    assert torch.equal(torch.random.get_rng_state(), state)  # rebuilding left the caller's RNG alone
    assert torch.equal(stack(clone, range(40)), stack(dataset, range(40)))
    ours, theirs = dataset.model.state_dict(), clone.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_concat_with_torchvision_dataset_in_shuffled_loader(root):
    synthetic = make(root, 30, transform=ToTensor())
    fake = FakeData(size=20, image_size=(1, 8, 8), num_classes=K, transform=ToTensor())
    combined = ConcatDataset([synthetic, fake])
    loader = DataLoader(combined, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    images, targets = zip(*loader, strict=True)
    images, targets = torch.cat(images), torch.cat(targets)
    assert images.shape == (50, 1, 8, 8) and targets.shape == (50,)
    expected = sorted(bytes(quantize(combined[i][0]).numpy()) for i in range(50))
    assert sorted(bytes(quantize(x).numpy()) for x in images) == expected


# --------------------------------------------------------------------------------------------
# Where the generator comes from
# --------------------------------------------------------------------------------------------


def test_by_name_by_path_and_from_model(root):
    by_name = make(root, 30)
    by_str = SyntheticDataset(str(root / "cvaegan.pt"), 30, batch_size=16)
    by_path = SyntheticDataset(root / "cvaegan.pt", 30, batch_size=16)
    model = tiny_model("cvaegan")  # the same weights as the checkpoint (same seed)
    from_model = SyntheticDataset(model, 30, batch_size=16)
    reference = stack(by_name, range(30))
    for other in (by_str, by_path, from_model):
        assert torch.equal(stack(other, range(30)), reference)
    assert by_path.classes == CLASSES and by_path.model_name == "cvaegan"
    assert from_model.classes == [str(k) for k in range(K)]
    assert SyntheticDataset(model, 5, classes=list("abcdefghij")).class_to_idx["c"] == 2


def test_model_object_is_snapshotted(root):
    model = tiny_model("cvae")
    dataset = SyntheticDataset(model, 20, batch_size=16)
    dataset[0]  # first block cached; the second is generated after the change below
    before = stack(SyntheticDataset(model, 20, batch_size=16), range(20))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # "training continues"
    assert torch.equal(stack(dataset, range(20)), before)


# --------------------------------------------------------------------------------------------
# Errors: one line, naming the argument and what is allowed
# --------------------------------------------------------------------------------------------


def test_unknown_model_name_lists_registered_names(root):
    with pytest.raises(ValueError, match="cvae, cgan, cvaegan") as err:
        SyntheticDataset("vae", 10, root=root)
    assert "\n" not in str(err.value)


def test_missing_checkpoint_says_how_to_make_it(root):
    with pytest.raises(FileNotFoundError, match=r"augment train cvae") as err:
        SyntheticDataset("cvae", 10, root=root)
    assert "no checkpoint at" in str(err.value) and "dvc repro" in str(err.value)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        SyntheticDataset(root / "nope.pt", 10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_samples": -1}, "num_samples"),
        ({"per_class": -2}, "per_class"),
        ({"per_class": [1, 2, 3]}, "per_class.*10 values"),
        ({"per_class": [1] * 9 + [-1]}, "per_class"),
        ({"labels": [0, 3, 10]}, r"labels.*\[0, 10\)"),
        ({"labels": [-1]}, "labels"),
        ({"labels": [0.5]}, "labels"),
        ({"num_samples": 5, "per_class": 1}, "num_samples.*conflicts"),
        ({"num_samples": 2, "labels": [1, 2, 3]}, "num_samples.*conflicts"),
        ({"per_class": 1, "labels": [1]}, "per_class and labels"),
        ({"num_samples": 10, "seed": -1}, "seed"),
        ({"num_samples": 10, "batch_size": 0}, "batch_size"),
        ({"num_samples": 10, "classes": ["a", "b"]}, "classes"),
    ],
)
def test_bad_arguments(root, kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        SyntheticDataset("cvaegan", root=root, **kwargs)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------------------------
# The sample stage: sample_images and the file format
# --------------------------------------------------------------------------------------------


def test_sample_images_agrees_with_the_dataset(root):
    dataset = make(root, per_class=[3, 0, 5, 1, 0, 0, 9, 2, 4, 1], batch_size=16)
    images = sample_images(dataset.model, dataset.labels, seed=0, batch_size=16)
    assert images.shape == (len(dataset), 1, 8, 8) and images.dtype == torch.float32
    assert torch.equal(quantize(images).float() / 255, stack(dataset, range(len(dataset))))
    tensors, labels = dataset.tensors()
    assert torch.equal(tensors, quantize(images).float() / 255)
    assert labels.tolist() == dataset.targets


def test_save_load_round_trip(root, tmp_path):
    dataset = make(root, 30, seed=4)
    images, labels = dataset.tensors()
    path = tmp_path / "synthetic" / "cvaegan.pt"
    meta = {"model": "cvaegan", "seed": 4, "checkpoint": root / "cvaegan.pt"}
    save_synthetic(path, images, labels, dataset.classes, meta)
    loaded, classes, loaded_meta = load_synthetic(path)
    assert isinstance(loaded, LabeledImages)
    assert loaded.images.dtype == torch.float32 and loaded.labels.dtype == torch.int64
    assert torch.equal(loaded.images, images) and torch.equal(loaded.labels, labels)
    assert classes == CLASSES
    assert loaded_meta == {"model": "cvaegan", "seed": 4, "checkpoint": str(root / "cvaegan.pt")}
    raw = torch.load(path, weights_only=True)
    assert raw["images"].dtype == torch.uint8 and raw["images"].shape == (30, 1, 8, 8)
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_load_synthetic_errors(tmp_path):
    with pytest.raises(DataError, match="augment sample"):
        load_synthetic(tmp_path / "missing.pt")
    torch.save({"something": 1}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="not a synthetic dataset"):
        load_synthetic(tmp_path / "foreign.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="corrupt.pt"):
        load_synthetic(tmp_path / "corrupt.pt")
