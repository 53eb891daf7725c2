"""Style statistics (slant, thickness) on drawn shapes, the style-transfer correlation, and the
restyle / transfer sets drawn from real images through an encoder."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from augment.core.labels import labels_from_counts
from augment.data.labeled import LabeledImages
from augment.models import NoEncoder, build_model
from augment.params.config import CGANConfig, CVAEConfig
from augment.params.sources import ENCODER_MODELS, parse_source
from augment.sampling.restyle import source_indices, styled_set
from benchmarks import style_tradeoff as tradeoff
from evaluation.quality.style import (
    COLOUR_STATISTICS,
    colour_statistics,
    ground_colour,
    ink,
    slant,
    style_transfer,
    thickness,
)
from pipelines.restyle import ITEMS as RESTYLE_ITEMS
from pipelines.restyle import restyle
from pipelines.stage import run_stage
from tests.conftest import ROOT


def bar(width: float, shear: float = 0.0, length: int = 18, side: int = 28) -> np.ndarray:
    """A vertical bar of ``width`` and ``length`` pixels in a side x side image, its top leaning
    right by ``shear`` pixels per row: the pixel (row y, column x) is ink when x - shear * (yc - y)
    lies inside the upright bar. [1, 1, side, side] in {0, 1}."""
    y, x = np.mgrid[0:side, 0:side].astype(float)
    c = (side - 1) / 2
    upright_x = x - shear * (c - y)
    ink = (np.abs(y - c) < length / 2) & (np.abs(upright_x - c) < width / 2)
    return ink.astype(float)[None, None]


@pytest.mark.parametrize("shear", [-0.4, -0.2, 0.0, 0.2, 0.4])
def test_a_sheared_bar_has_the_shear_as_slant(shear):
    assert slant(bar(3, shear))[0] == pytest.approx(shear, abs=0.02)


def test_slant_sign_convention_top_leaning_right_is_positive():
    assert slant(bar(3, 0.3))[0] > 0 > slant(bar(3, -0.3))[0]


def test_a_thicker_bar_has_more_ink_and_a_larger_thickness():
    widths = (2, 4, 6, 8)  # even: the bar centred between pixels covers exactly w columns
    ink = [bar(w).sum() for w in widths]
    t = [thickness(bar(w))[0] for w in widths]
    assert ink == sorted(ink) and len(set(ink)) == len(ink)
    assert t == sorted(t) and len(set(t)) == len(t)
    # a long bar's thickness is about its width: L w / (L + w) of the docstring
    for w, got in zip(widths, t, strict=True):
        assert got == pytest.approx(18 * w / (18 + w), rel=0.08)


def test_thickness_does_not_grow_with_length_and_ink_touching_the_border_counts():
    assert thickness(bar(3, length=10))[0] == pytest.approx(thickness(bar(3, length=20))[0], rel=0.2)
    full = np.ones((1, 1, 8, 8))  # ink up to every border: boundary 4 * 8, area 64
    # (the isotropic gradient cuts the four corners a little: 30.8 instead of 32)
    assert thickness(full)[0] == pytest.approx(2 * 64 / 32, rel=0.05)


def test_an_empty_image_scores_zero_not_nan():
    empty = np.zeros((2, 1, 8, 8))
    assert slant(empty).tolist() == [0.0, 0.0] and thickness(empty).tolist() == [0.0, 0.0]


def _styled_rows(keep_style: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twelve source bars of 3 classes with varied width and shear; each 'stylised' as every class
    either keeping the source's width and shear (plus a class offset) or as one fixed bar."""
    rng = np.random.default_rng(0)
    widths, shears = rng.uniform(1.5, 6, 12), rng.uniform(-0.4, 0.4, 12)
    labels = np.arange(12) % 3
    sources = np.concatenate([bar(w, s) for w, s in zip(widths, shears, strict=True)])  # [12, 1, 28, 28]
    styled = np.stack(
        [
            np.concatenate([bar(w + 0.5 * k, s) if keep_style else bar(3 + k, 0.1 * k) for k in range(3)])
            for w, s in zip(widths, shears, strict=True)
        ]
    )  # [12, 3, 1, 28, 28]
    return sources, labels, styled


def test_style_transfer_is_high_when_outputs_keep_the_style_and_none_when_they_do_not():
    kept = style_transfer(*_styled_rows(keep_style=True))
    assert kept["style_r_slant"] > 0.95 and kept["style_r_thickness"] > 0.9
    # the same shear, and the width plus a constant: the whole deviation is kept
    assert kept["style_gain_slant"] == pytest.approx(1.0, abs=0.05)
    assert kept["style_gain_thickness"] == pytest.approx(1.0, abs=0.2)
    # outputs that are one fixed image per class do not vary: no correlation can be measured,
    # and none of the source's deviation is kept
    lost = style_transfer(*_styled_rows(keep_style=False))
    assert lost == {
        "style_r_slant": None,
        "style_r_thickness": None,
        "style_gain_slant": 0.0,
        "style_gain_thickness": 0.0,
        "style_r_colour": None,  # grey images: no colour statistics
        "style_gain_colour": None,
    }


def test_style_transfer_uses_only_the_other_classes():
    sources, labels, styled = _styled_rows(keep_style=True)
    # spoil every row's own-class cell: the score must not change
    spoiled = styled.copy()
    spoiled[np.arange(12), labels] = 0
    assert style_transfer(sources, labels, spoiled) == style_transfer(sources, labels, styled)


# --------------------------------------------------------------------------------------------
# Colour: the ground, the ink, and their colours
# --------------------------------------------------------------------------------------------


def painted(mask: np.ndarray, ground: tuple[float, float, float], colour: tuple[float, float, float]) -> np.ndarray:
    """RGB images [N, 3, H, W]: ``colour`` where mask [N, 1, H, W] is 1, ``ground`` elsewhere."""
    g, c = np.array(ground)[None, :, None, None], np.array(colour)[None, :, None, None]
    return g + (c - g) * mask


def test_ground_ink_and_colours_known_answers():
    mask = bar(4, 0.2)  # [1, 1, 28, 28]
    image = painted(mask, (0.2, 0.5, 0.8), (0.9, 0.1, 0.3))
    assert ground_colour(image)[0] == pytest.approx([0.2, 0.5, 0.8])
    # ink: the mean distance from the ground over the channels, (0.7 + 0.4 + 0.5) / 3 on the bar
    assert np.allclose(ink(image)[0], mask[0, 0] * 1.6 / 3)
    stats = colour_statistics(image)
    assert [float(stats[name][0]) for name in COLOUR_STATISTICS] == pytest.approx([0.2, 0.5, 0.8, 0.9, 0.1, 0.3])
    # an image without ink: its ink colour is the ground's
    blank = colour_statistics(painted(np.zeros_like(mask), (0.3, 0.3, 0.6), (1, 1, 1)))
    assert [float(blank[name][0]) for name in COLOUR_STATISTICS] == pytest.approx([0.3, 0.3, 0.6] * 2)
    with pytest.raises(ValueError, match="RGB"):
        colour_statistics(mask)


def test_slant_and_thickness_read_coloured_ink_as_grey_ink():
    """The same bar, white on black in grey and as coloured ink on a coloured ground: the ink is
    the bar scaled, and both moments are scale-free."""
    grey = bar(5, -0.3)
    colour = painted(grey, (0.1, 0.6, 0.3), (0.7, 0.2, 0.9))
    assert np.allclose(ink(grey), grey[:, 0]) and np.allclose(ink(grey.repeat(3, axis=1)), grey[:, 0])
    assert slant(colour)[0] == pytest.approx(slant(grey)[0])
    assert thickness(colour)[0] == pytest.approx(thickness(grey)[0])


def _coloured_rows(keep: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twelve sources of 3 classes, each a bar in its own ink colour on its own ground; each
    'stylised' as every class either keeping its colours or in one fixed pair of colours."""
    rng = np.random.default_rng(1)
    grounds, inks = rng.uniform(0, 0.4, (12, 3)), rng.uniform(0.6, 1, (12, 3))
    labels = np.arange(12) % 3
    sources = np.concatenate([painted(bar(4), tuple(g), tuple(i)) for g, i in zip(grounds, inks, strict=True)])
    rows = []
    for g, i in zip(grounds, inks, strict=True):
        pair = (tuple(g), tuple(i)) if keep else ((0.2, 0.2, 0.2), (0.8, 0.8, 0.8))
        rows.append(np.concatenate([painted(bar(3 + k), *pair) for k in range(3)]))
    return sources, labels, np.stack(rows)  # [12, 3, 3, 28, 28]


def test_style_transfer_of_colour():
    kept = style_transfer(*_coloured_rows(keep=True))
    assert kept["style_r_colour"] == pytest.approx(1.0) and kept["style_gain_colour"] == pytest.approx(1.0)
    lost = style_transfer(*_coloured_rows(keep=False))
    assert lost["style_r_colour"] is None and lost["style_gain_colour"] == pytest.approx(0.0)


# --------------------------------------------------------------------------------------------
# Restyle and transfer sets
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cvae(digits):
    torch.manual_seed(0)
    return build_model("cvae", CVAEConfig(latent_dim=4, width=8), digits.image_shape, 10).eval()


def test_restyle_with_zero_noise_is_the_deterministic_reconstruction(cvae, digits):
    real = digits.train
    out = styled_set(cvae, real, "restyle", per_class=5, noise=0.0, seed=3, batch_size=16)
    x, y = real.images[out.sources], real.labels[out.sources]
    mu, _ = cvae.encode(x, y)
    assert torch.equal(y, out.labels)  # each image stays in its own class
    assert torch.allclose(out.images, cvae.generate(mu, y), atol=1e-6)


def test_a_transfer_into_class_b_has_label_b_and_the_sources_code(cvae, digits):
    real = digits.train
    out = styled_set(cvae, real, "transfer", per_class=5, noise=0.0, seed=3, batch_size=16)
    src_labels = real.labels[out.sources]
    assert (src_labels != out.labels).all()  # every source is of another class
    mu, _ = cvae.encode(real.images[out.sources], src_labels)
    assert torch.allclose(out.images, cvae.generate(mu, out.labels), atol=1e-6)


def test_restyle_noise_varies_the_images_and_the_seed_fixes_them(cvae, digits):
    a = styled_set(cvae, digits.train, "restyle", per_class=4, noise=1.0, seed=1, batch_size=8)
    b = styled_set(cvae, digits.train, "restyle", per_class=4, noise=1.0, seed=1, batch_size=8)
    zero = styled_set(cvae, digits.train, "restyle", per_class=4, noise=0.0, seed=1, batch_size=8)
    assert torch.equal(a.images, b.images) and torch.equal(a.sources, zero.sources)
    assert not torch.allclose(a.images, zero.images)


@pytest.mark.parametrize("kind", ["restyle", "transfer"])
def test_each_styled_set_has_the_exact_composition(cvae, kind):
    # 3 classes with 2, 5 and 9 real images: pools smaller than per_class are cycled
    real = LabeledImages(torch.rand(16, 1, 8, 8), labels_from_counts([2, 5, 9]))
    model = build_model("cvae", CVAEConfig(latent_dim=4, width=8), (1, 8, 8), 3).eval()
    out = styled_set(model, real, kind, per_class=7, noise=0.5, seed=0, batch_size=4)
    assert torch.bincount(out.labels).tolist() == [7, 7, 7]
    assert out.images.shape == (21, 1, 8, 8)
    same = real.labels[out.sources] == out.labels
    assert bool(same.all()) if kind == "restyle" else not bool(same.any())
    if kind == "restyle":  # class 0's two images are used in turn: 4 + 3 times
        assert sorted(torch.bincount(out.sources[:7]).tolist()) == [3, 4]


def test_source_indices_refuse_a_class_without_real_images():
    with pytest.raises(ValueError, match="class 2 has no real images"):
        source_indices(labels_from_counts([3, 3, 0]), "restyle", 4, 3, seed=0)


def test_the_cgan_has_no_restyle_or_transfer_source(digits):
    cgan = build_model("cgan", CGANConfig(latent_dim=4, width=8), digits.image_shape, 10)
    with pytest.raises(NoEncoder, match="cgan has no encoder"):
        styled_set(cgan, digits.train, "restyle", per_class=2)
    assert ENCODER_MODELS == ("cvae", "cvaegan", "cfm")
    for name in ("cgan-restyle", "classic+cgan-transfer"):
        with pytest.raises(NoEncoder, match="do not apply"):
            parse_source(name)
    with pytest.raises(ValueError, match="did you mean 'cvae-restyle'"):
        parse_source("cvae-restyl")
    s = parse_source("classic+cvaegan-transfer")
    assert (s.classic, s.method, s.variant, s.synthetic) == (True, "cvaegan", "transfer", "cvaegan-transfer")


def test_the_restyle_stage_refuses_the_cgan_in_one_line(capsys, tmp_path):
    # the stage's items are sample.styled.methods: the CGAN is not among them, and cannot be
    code = run_stage("restyle", restyle, ["cgan", "--set", f"paths.synthetic={tmp_path}"], choices=RESTYLE_ITEMS)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'cgan' is not in sample.styled.methods (cvae, cvaegan)" in err
    code = run_stage("restyle", restyle, ["cgan", "--set", "sample.styled.methods=[cgan]"], choices=RESTYLE_ITEMS)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "sample.styled.methods: cgan has no encoder, so it has no restyle or transfer sets" in err
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_the_style_tradeoff_benchmark_writes_one_row_per_model_and_variant(tmp_path):
    tiny = [
        "tracking.enabled=false",
        "evaluation.judge.steps=30",
        "classifier.steps=10",
        "classifier.seeds=[0]",
        "sample.per_class=12",
        "generators.cvae.epochs=1",
        "generators.cvaegan.epochs=1",
        "generators.cvae.width=8",
        "generators.cvaegan.width=8",
        "device=cpu",
    ]
    argv = ["--params", str(ROOT / "params.yaml"), "--out", str(tmp_path), "--judge", str(tmp_path / "judge.pt")]
    argv += [arg for key in tiny for arg in ("--set", key)]
    assert tradeoff.main(argv + ["--run", "a", "--run", "b", "generators.cvae.kl_weight=0.5"]) == 0
    rows = list(csv.DictReader((tmp_path / "style_tradeoff.csv").open()))
    assert [(r["label"], r["model"]) for r in rows] == [
        ("a", "cvae"),
        ("a", "cvaegan"),
        ("b", "cvae"),
        ("b", "cvaegan"),
    ]
    assert rows[2]["settings"] == "generators.cvae.kl_weight=0.5"
    assert set(tradeoff.COLUMNS) == set(rows[0]) and all(0 <= float(r["label_fidelity"]) <= 1 for r in rows)
    assert (tmp_path / "judge.pt").is_file()  # trained once, then reused
