"""End to end on colour: a tiny `dvc repro` on a generated RGB ImageFolder with its own test
folder (data.test_root), the GANs' discriminators through DiffAugment's colour, translation and
cutout; the splits, grids and served images stay in colour."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.data.labeled import Splits
from augment.synthesis.synthetic import SyntheticDataset
from augment.training.checkpoint import read_checkpoint
from tests.conftest import TINY_CFM, TINY_CFM_SAMPLING, copy_project

pytestmark = pytest.mark.slow

# three classes, each a shape in its own colour over a random dark background
COLOURS = {"red": (230, 40, 40), "green": (40, 220, 60), "blue": (50, 60, 240)}
TRAIN, TEST = 24, 6  # images per class


def draw(folder: Path, per_class: int, seed: int) -> None:
    """``folder/<class>/<i>.png``: 8x8 RGB, a 4x4 block of the class colour at a random place."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 60, size=(8, 8, 3), dtype=np.uint8)
            top, left = rng.integers(0, 5, size=2)
            image[top : top + 4, left : left + 4] = colour
            Image.fromarray(image).save(folder / name / f"{i}.png")


def colour_run(root: Path) -> dict:
    return {
        "data": {
            "dataset": "imagefolder",
            "root": str(root / "train"),
            "test_root": str(root / "test"),
            "channels": 3,
            "image_size": 8,
            "val_fraction": 0.2,
        },
        "generators": {
            **{
                n: {"epochs": 1, "latent_dim": 4, "width": 8, "steps_per_epoch": 4} for n in ("cvae", "cgan", "cvaegan")
            },
            "cfm": dict(TINY_CFM),
        },
        "sample": {
            "per_class": 20,  # synthetic_ratio 1: as many as the 19-20 real training images per class
            "styled": {"methods": ["cvae"]},
            "generators": {"cvae": {}, "cgan": {}, "cvaegan": {}, "cfm": dict(TINY_CFM_SAMPLING)},
        },
        "classifier": {
            "sources": ["real", "classic", "cgan", "classic+cvaegan", "cvae-restyle"],
            "seeds": [0],
            "steps": 30,
            "width": 8,
        },
        "evaluation": {"max_images": 18, "kid_subsets": 2, "kid_subset_size": 9, "judge": {"steps": 30, "width": 8}},
    }


@pytest.fixture(scope="module")
def colour_repro(tmp_path_factory):
    data = tmp_path_factory.mktemp("colour-data")
    draw(data / "train", TRAIN, seed=0)
    draw(data / "test", TEST, seed=1)
    project = tmp_path_factory.mktemp("colour")
    run = colour_run(data)
    for gan in ("cgan", "cvaegan"):
        run["generators"][gan]["diffaugment"] = ["colour", "translation", "cutout"]
    env = copy_project(project, run)
    result = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


def is_colour(path: Path) -> bool:
    """An RGB image whose channels differ somewhere (not grey stored as RGB)."""
    image = Image.open(path)
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return image.mode == "RGB" and bool((pixels[..., 0] != pixels[..., 1]).any())


def test_the_test_folder_is_the_test_split_and_images_keep_three_channels(colour_repro):
    splits = Splits.load(colour_repro / "data/splits/splits.pt")
    assert splits.image_shape == (3, 8, 8)
    assert len(splits.test) == 3 * TEST and len(splits.train) + len(splits.val) == 3 * TRAIN
    assert splits.classes == sorted(COLOURS)


def test_the_gans_trained_through_diffaugment(colour_repro):
    for gan in ("cgan", "cvaegan"):
        config = read_checkpoint(colour_repro / f"models/generators/{gan}.pt")["config"]
        assert config["diffaugment"] == ["colour", "translation", "cutout"], gan


def test_grids_report_and_served_images_are_in_colour(colour_repro):
    reports = colour_repro / "reports"
    grids = [reports / f"samples/{name}.png" for name in ("cvae", "cgan", "cvaegan", "cfm", "cvae-restyle")]
    grids += sorted(reports.glob("generators/*/progress/*.png")) + sorted(reports.glob("stylize/*/*.png"))
    assert all(Image.open(p).mode == "RGB" for p in grids)
    # the drawn colours show where there is something to show: the GANs' and cfm's samples (a
    # 4-step CVAE still draws its mean, 0.5 in every channel) and the real rows of a stylisation
    for colourful in ("samples/cgan.png", "samples/cfm.png", "stylize/cvae/stylize.png"):
        assert is_colour(reports / colourful), colourful
    metrics = json.loads((reports / "metrics.json").read_text())
    assert {"real", "classic", "cgan", "classic+cvaegan", "cvae-restyle"} <= set(metrics)
    assert metrics["cgan"]["checkerboard_ratio"] > 0
    data = SyntheticDataset(colour_repro / "models/generators/cgan.pt", 6)
    image, label = data[2]
    assert image.mode == "RGB" and image.size == (8, 8) and label == data.targets[2]
