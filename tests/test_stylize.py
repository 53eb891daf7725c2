"""Stylisation and interpolation grids (augment/sampling/stylize.py) and `augment stylize`.

Tiny untrained generators (width 8, latent 4, 1x8x8, 3 classes) and random "real" images keep the
file fast; untrained networks still map different codes and labels to different images, which is
all these checks need.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from augment.cli import main
from augment.data.labeled import LabeledImages, Splits
from augment.models import NoEncoder, build_model
from augment.params.config import Params
from augment.sampling.stylize import (
    find_decoder,
    interpolate,
    interpolation_grid,
    pick_rows,
    stylize,
    stylize_grid,
    write_stylization_figures,
)
from augment.training.checkpoint import save_generator

K = 3
SHAPE = (1, 8, 8)
ENCODERS = ["cvae", "cvaegan"]
ALL = ["cvae", "cgan", "cvaegan"]


def tiny_model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    config = dataclasses.replace(Params().generator(name), latent_dim=4, width=8)
    return build_model(name, config, SHAPE, K).eval()


def fake_real(n_per_class: int = 4, seed: int = 0) -> LabeledImages:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(K).repeat(n_per_class)  # [K * n]
    return LabeledImages(torch.rand(len(labels), *SHAPE, generator=g), labels)


@pytest.fixture(scope="module")
def real() -> LabeledImages:
    return fake_real()


# -- stylisation -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENCODERS)
def test_stylize_shapes_content_and_columns(name, real):
    model = tiny_model(name)
    x, y = real.images[:5], real.labels[:5]
    out = stylize(model, x, y)
    assert out.shape == (5, K, *SHAPE)
    # Own-label column = decoding of the posterior mean with the image's label (content kept).
    with torch.no_grad():
        mu, _ = model.encode(x, y)
    expected = model.generate(mu, y)
    own = out[torch.arange(5), y]
    torch.testing.assert_close(own, expected, atol=1e-6, rtol=1e-5)
    # Deterministic (posterior mean, no sampling), and the label changes the picture.
    torch.testing.assert_close(stylize(model, x, y), out)
    for k in range(1, K):
        assert (out[:, k] - out[:, 0]).abs().max() > 1e-6


@pytest.mark.parametrize("name", ENCODERS)
def test_stylize_grid_layout(name, real):
    model = tiny_model(name)
    x, y = real.images[:4], real.labels[:4]
    grid = stylize_grid(model, x, y)
    assert grid.shape == (4 * (K + 1), *SHAPE)
    rows = grid.view(4, K + 1, *SHAPE)
    torch.testing.assert_close(rows[:, 0], x)  # column 0: the real image
    torch.testing.assert_close(rows[:, 1:], stylize(model, x, y))  # then classes 0..K-1


def test_cgan_refuses_stylisation_and_writes_no_stylize_png(real, tmp_path):
    model = tiny_model("cgan")
    with pytest.raises(NoEncoder, match="cgan has no encoder"):
        stylize(model, real.images[:2], real.labels[:2])
    with pytest.raises(NoEncoder):
        stylize_grid(model, real.images[:2], real.labels[:2])
    assert issubclass(NoEncoder, ValueError)
    written = write_stylization_figures(model, real, tmp_path)
    assert set(written) == {"interpolate"}
    assert not (tmp_path / "stylize.png").exists()
    assert (tmp_path / "interpolate.png").is_file()
    with pytest.raises(NoEncoder):
        write_stylization_figures(model, real, tmp_path / "only", only="stylize")
    assert not (tmp_path / "only").exists()


def test_stylize_rejects_foreign_data():
    model = tiny_model("cvae")
    with pytest.raises(ValueError, match="shape"):
        stylize(model, torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        stylize(model, torch.rand(2, *SHAPE), torch.tensor([0, K]))


def test_pick_rows_one_per_class_deterministic(real):
    a = pick_rows(real, per_class=1, seed=3)
    assert real.labels[a].tolist() == list(range(K))
    torch.manual_seed(0)
    b = pick_rows(real, per_class=1, seed=3)
    torch.manual_seed(123)
    assert torch.equal(a, pick_rows(real, per_class=1, seed=3)) and torch.equal(a, b)
    two = pick_rows(real, per_class=2, seed=3)
    assert real.labels[two].tolist() == [0, 0, 1, 1, 2, 2] and len(set(two.tolist())) == 6
    assert not all(torch.equal(pick_rows(real, 2, s), two) for s in range(4, 8))


# -- interpolation -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_soft_decoder_matches_the_model_on_one_hot(name):
    model = tiny_model(name)
    z = torch.randn(6, model.latent_dim)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        soft = find_decoder(model).forward_onehot(z, F.one_hot(y, K).float())
    torch.testing.assert_close(soft, model.generate(z, y), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("y0,y1", [(1, 1), (0, 2)], ids=["within", "across"])
def test_interpolation_endpoints(name, y0, y1):
    model = tiny_model(name)
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(2, model.latent_dim, generator=g)
    out = interpolate(model, z0, z1, y0, y1, steps=5)
    assert out.shape == (5, *SHAPE)
    torch.testing.assert_close(out[0], model.generate(z0[None], torch.tensor([y0]))[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[-1], model.generate(z1[None], torch.tensor([y1]))[0], atol=1e-6, rtol=1e-5)
    assert (out[2] - out[0]).abs().max() > 1e-6 and (out[2] - out[-1]).abs().max() > 1e-6


def test_interpolate_rejects_one_step():
    with pytest.raises(ValueError, match="steps"):
        interpolate(tiny_model("cvae"), torch.zeros(4), torch.ones(4), 0, 1, steps=1)


@pytest.mark.parametrize("name", ALL)
def test_interpolation_grid_shape_determinism_and_ends(name, real):
    model = tiny_model(name)
    torch.manual_seed(5)
    grid = interpolation_grid(model, real, K, steps=6, pairs=2, seed=7)
    assert grid.shape == (2 * 2 * 6, *SHAPE)
    torch.manual_seed(99)  # the global RNG plays no part
    torch.testing.assert_close(interpolation_grid(model, real, K, steps=6, pairs=2, seed=7), grid, rtol=0, atol=0)
    assert not torch.equal(interpolation_grid(model, real, K, steps=6, pairs=2, seed=8), grid)
    if model.can_encode:
        # The end columns are reconstructions (posterior mean) of real images of ``real``.
        recon = stylize(model, real.images, real.labels)[torch.arange(len(real)), real.labels]  # [N, C, H, W]
        for cell in grid.view(4, 6, *SHAPE)[:, [0, -1]].flatten(0, 1):
            assert (recon - cell).flatten(1).abs().max(1).values.min() < 1e-5


@pytest.mark.parametrize("name", ENCODERS)
def test_write_figures_and_determinism(name, real, tmp_path):
    model = tiny_model(name)
    a = write_stylization_figures(model, real, tmp_path / "a", seed=2, steps=4, pairs=1)
    b = write_stylization_figures(model, real, tmp_path / "b", seed=2, steps=4, pairs=1)
    assert set(a) == {"stylize", "interpolate"}
    for kind in a:
        assert a[kind].read_bytes() == b[kind].read_bytes()
    with Image.open(a["stylize"]) as img:  # K rows of K+1 upscaled cells
        cell = 2 + 48
        assert img.size == (2 + (K + 1) * cell, 2 + K * cell)
    rows = write_stylization_figures(model, real, tmp_path / "c", rows=5, only="stylize")
    assert set(rows) == {"stylize"}
    with Image.open(rows["stylize"]) as img:
        assert img.size[1] == 2 + 5 * 50


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path):
    """A params.yaml whose paths point into tmp_path, splits of fake images and two checkpoints."""
    paths = {k: str(tmp_path / k) for k in ("splits", "generators", "reports")}
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"paths": paths}))
    splits = Splits(train=fake_real(2, 1), val=fake_real(2, 2), test=fake_real(3, 3), classes=list("abc"))
    splits.save(tmp_path / "splits" / "splits.pt")
    for name in ("cvaegan", "cgan"):
        save_generator(tmp_path / "generators" / f"{name}.pt", tiny_model(name), list("abc"))
    return tmp_path, params_file


def test_cli_stylize_writes_pngs(project, capsys):
    tmp_path, params_file = project
    ckpt = tmp_path / "generators" / "cvaegan.pt"
    assert main(["stylize", str(ckpt), "--params", str(params_file), "--steps", "4"]) == 0
    out_dir = tmp_path / "reports" / "stylize" / "cvaegan"
    assert (out_dir / "stylize.png").is_file() and (out_dir / "interpolate.png").is_file()
    assert "stylize" in capsys.readouterr().out
    # A registered name reads <paths.generators>/<name>.pt; --out and --split are honoured.
    assert (
        main(
            [
                "stylize",
                "cvaegan",
                "--params",
                str(params_file),
                "--out",
                str(tmp_path / "o"),
                "--split",
                "val",
                "--rows",
                "2",
                "--only",
                "interpolate",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["interpolate.png"]


def test_cli_stylize_cgan(project, capsys):
    tmp_path, params_file = project
    ckpt = tmp_path / "generators" / "cgan.pt"
    assert main(["stylize", str(ckpt), "--params", str(params_file), "--out", str(tmp_path / "g")]) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["interpolate.png"]
    assert "stylisation does not apply" in capsys.readouterr().out
    assert (
        main(["stylize", str(ckpt), "--params", str(params_file), "--only", "stylize", "--out", str(tmp_path / "h")])
        == 2
    )
    assert "cgan has no encoder: stylisation does not apply" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()
