"""Class-conditional flow matching (augment/models/cfm.py, unet.py, losses.flow_matching_loss):
the loss's known answer, the solvers on fields with known integrals, guidance, shapes at 1x8x8,
1x28x28 and 3x32x32, a checkpoint round trip, and a short real training run through `augment
train` / `augment sample` / SyntheticDataset on the bundled digits."""

from __future__ import annotations

import csv
import math
import re

import pytest
import torch

from augment import SyntheticDataset
from augment.cli import main as cli
from augment.data.labeled import LabeledImages
from augment.models import REGISTRY, build_model
from augment.models.cfm import EVALUATIONS_PER_STEP, guided, integrate
from augment.models.losses import flow_matching_loss
from augment.params.config import (
    GENERATOR_NAMES,
    MODEL_NAMES,
    SOLVERS,
    CFMConfig,
    CFMSampling,
    ConfigError,
    CVAEConfig,
    Params,
)
from augment.params.file import params_from_dict
from augment.params.sampling import apply_sampling
from augment.params.sources import DEFAULT_SOURCES
from augment.sampling.restyle import styled_set
from augment.training.checkpoint import load_generator, save_generator
from benchmarks import sampler_sweep as sweep
from evaluation.quality.measures import stylization_metrics
from tests.conftest import ROOT

CLASSES = [str(i) for i in range(10)]


def tiny_cfm(shape=(1, 8, 8), sampling: dict | None = None, **config):
    """A 10-class cfm of width 8 (``config``: more of generators.cfm) drawing with ``sampling``
    (keys of sample.generators.cfm; the rest its defaults)."""
    model = build_model("cfm", CFMConfig(**{"width": 8, **config}), shape, 10)
    apply_sampling(model, sampling or {})
    return model


def test_the_loss_is_zero_for_the_exact_velocity_and_the_squared_error_otherwise():
    torch.manual_seed(0)
    x0, x1 = torch.randn(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    assert flow_matching_loss(x1 - x0, x0, x1).item() == 0.0
    off = x1 - x0 + 0.5  # 0.5 off at each of 64 pixels: 64 * 0.25 per image
    assert flow_matching_loss(off, x0, x1).item() == pytest.approx(16.0)


@pytest.mark.parametrize("solver", ["euler", "midpoint", "heun"])
def test_every_solver_integrates_a_constant_field_exactly(solver):
    x0 = torch.zeros(3, 2)
    x1 = integrate(lambda x, t: torch.full_like(x, 2.5), x0, steps=3, solver=solver)
    torch.testing.assert_close(x1, torch.full((3, 2), 2.5))


@pytest.mark.parametrize("solver", ["midpoint", "heun"])
def test_second_order_solvers_integrate_a_field_linear_in_t_exactly(solver):
    # dx/dt = 3 t^2 would need third order; dx/dt = 2 t + 1 integrates to 1 + 1 = 2 over [0, 1]
    x1 = integrate(lambda x, t: (2 * t + 1)[:, None].expand_as(x), torch.zeros(2, 3), steps=4, solver=solver)
    torch.testing.assert_close(x1, torch.full((2, 3), 2.0))
    euler = integrate(lambda x, t: (2 * t + 1)[:, None].expand_as(x), torch.zeros(2, 3), steps=4, solver="euler")
    assert euler[0, 0].item() == pytest.approx(1.75)  # sum of h (2 t_i + 1) at t_i = 0, .25, .5, .75


@pytest.mark.parametrize("solver", SOLVERS)
def test_each_solver_calls_the_velocity_as_often_as_its_table_entry_says(solver):
    calls = []

    def counting(x, t):
        calls.append(t)
        return torch.ones_like(x)

    integrate(counting, torch.zeros(2, 3), steps=5, solver=solver)
    assert len(calls) == 5 * EVALUATIONS_PER_STEP[solver]
    assert set(EVALUATIONS_PER_STEP) == set(SOLVERS)  # every solver params accept has a cost


def test_unknown_solver_and_zero_steps_are_refused():
    with pytest.raises(ValueError, match="unknown solver 'rk9'"):
        integrate(lambda x, t: x, torch.zeros(1, 1), 2, "rk9")
    with pytest.raises(ValueError, match="sample_steps must be >= 1"):
        integrate(lambda x, t: x, torch.zeros(1, 1), 0)


def test_guidance_weight_zero_is_the_conditional_velocity_and_w_extrapolates():
    def net(x, t, y):  # a velocity that is the label itself: 3 for "no label" (K = 3)
        return y.float()[:, None].expand(len(y), 2)

    y = torch.tensor([0, 1, 2])
    x, t = torch.zeros(3, 2), torch.zeros(3)
    torch.testing.assert_close(guided(net, y, null=3, weight=0.0)(x, t), net(x, t, y))
    # v + w (v - v_none) = y + 2 (y - 3)
    torch.testing.assert_close(guided(net, y, null=3, weight=2.0)(x, t), (3 * y.float() - 6)[:, None].expand(3, 2))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_shapes_train_step_and_samples_in_range(shape):
    torch.manual_seed(0)
    model = tiny_cfm(shape, {"sample_steps": 2})
    assert model.latent_dim == shape[0] * shape[1] * shape[2]
    x, y = torch.rand(6, *shape), torch.arange(6) % 10
    v = model.velocity(x, torch.rand(6), y)
    assert v.shape == (6, *shape)
    losses = model.train_step(x, y, model.make_optimizers())
    assert set(losses) == {"loss"} and losses["loss"] > 0
    images = model.generate(model.sample_noise(4), torch.arange(4))
    assert images.shape == (4, *shape) and images.min() >= 0 and images.max() <= 1


def test_the_untrained_network_has_zero_velocity_so_a_sample_is_its_noise():
    model = tiny_cfm(sampling={"guidance": 0.0})
    z = torch.zeros(2, 64)  # x_0 = 0 -> x_1 = 0 -> pixel 0.5
    torch.testing.assert_close(model.generate(z, torch.tensor([0, 1])), torch.full((2, 1, 8, 8), 0.5))


def test_labels_are_dropped_at_the_configured_rate():
    model = build_model("cfm", CFMConfig(width=8, label_dropout=1.0), (1, 8, 8), 10)
    seen = []
    model.velocity.register_forward_hook(lambda m, args, out: seen.append(args[2]))
    model.losses(torch.rand(5, 1, 8, 8), torch.arange(5))
    assert seen[0].tolist() == [10] * 5  # all "no label" (index K)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = tiny_cfm(sampling={"sample_steps": 3})
    model.train_step(torch.rand(8, 1, 8, 8), torch.arange(8), model.make_optimizers())
    model.update_ema()
    save_generator(tmp_path / "cfm.pt", model, CLASSES)
    loaded, payload = load_generator(tmp_path / "cfm.pt")
    assert payload["model"] == "cfm" and payload["config"]["width"] == 8
    # the sampler's settings are not the checkpoint's: a loaded model draws with the defaults
    # until whoever draws sets theirs (sample.generators.cfm)
    assert not {"guidance", "solver", "sample_steps"} & set(payload["config"])
    assert loaded.sampling == CFMSampling() != model.sampling
    apply_sampling(loaded, {"sample_steps": 3})
    z, y = model.sample_noise(3), torch.tensor([1, 2, 3])
    torch.testing.assert_close(loaded.generate(z, y), model.generate(z, y))


def test_a_checkpoint_that_kept_its_sampler_settings_in_its_config_still_loads(tmp_path):
    """Checkpoints written before the sampling settings moved to sample.generators.cfm."""
    model = tiny_cfm()
    save_generator(tmp_path / "cfm.pt", model, CLASSES)
    payload = torch.load(tmp_path / "cfm.pt", weights_only=True)
    payload["config"].update(guidance=1.0, solver="heun", sample_steps=8, code_spread=0.5, encode_label=1.0)
    torch.save(payload, tmp_path / "old.pt")
    loaded, _ = load_generator(tmp_path / "old.pt")
    assert loaded.config == model.config and loaded.sampling == CFMSampling()


def test_registered_and_one_of_the_default_pipeline_methods():
    assert "cfm" in REGISTRY and "cfm" in GENERATOR_NAMES and "cfm" not in MODEL_NAMES  # not of the method's three
    assert Params().generators.methods["cfm"] == Params().paths.splits  # trained from the data alone
    assert {"cfm", "classic+cfm", "cfm-filtered"} <= set(DEFAULT_SOURCES)
    params = params_from_dict(
        {"generators": {"cfm": {"label_dropout": 0.2}}, "sample": {"generators": {"cfm": {"guidance": 0.5}}}}
    )
    assert params.generator("cfm").label_dropout == 0.2 and params.sampling("cfm").guidance == 0.5
    assert params.sampling("cvae") == Params().sampling("cvae")  # no sampling settings: {}


def test_bad_cfm_params_are_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    assert cli(["train", "cfm", "--set", "sample.generators.cfm.solver=rk4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sample.generators.cfm.solver" in err[0] and "euler" in err[0]


@pytest.mark.parametrize(
    ("where", "key", "belongs"),
    [
        ({"generators": {"cfm": {"guidance": 1.0}}}, "generators.cfm.guidance", "sample.generators.cfm.guidance"),
        ({"sample": {"generators": {"cfm": {"epochs": 3}}}}, "sample.generators.cfm.epochs", "generators.cfm.epochs"),
    ],
)
def test_a_setting_in_the_other_section_names_where_it_belongs(where, key, belongs, tmp_path, monkeypatch, capsys):
    """A sampling setting under generators.cfm (where it was before), or a training one under
    sample.generators.cfm, in params.yaml or --set: one line naming both keys, exit 2."""
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: .* write it as {re.escape(belongs)}$"):
        params_from_dict(where)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")
    value = 1.0 if "guidance" in key else 3
    assert cli(["sample", "cfm", "-n", "10", "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0] and f"write it as {belongs}" in err[0]


@pytest.mark.slow
def test_train_sample_and_dataset_on_the_bundled_digits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("{}\n")  # the defaults: the bundled digits
    sets = ["--set", "generators.cfm.epochs=2", "--set", "generators.cfm.steps_per_epoch=20"]
    sets += ["--set", "generators.cfm.width=8", "--set", "sample.generators.cfm.sample_steps=2"]
    sets += ["--set", "tracking.enabled=false", "--set", "cpu_threads=1"]
    assert cli(["train", "cfm", *sets]) == 0
    assert (tmp_path / "models" / "generators" / "cfm.pt").is_file()
    assert cli(["sample", "cfm", "-n", "20", "--out", "s.pt", "--no-progress"]) == 0
    data = SyntheticDataset(model="cfm", num_samples=20)
    image, label = data[3]
    assert image.size == (8, 8) and label == 3
    assert list(data.targets) == [i % 10 for i in range(20)]


# --------------------------------------------------------------------------------------------
# Stylisation through the flow: encode integrates the image back to t = 0
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["euler", "midpoint", "heun"])
def test_integrating_backwards_undoes_a_constant_field(solver):
    x1 = torch.ones(2, 3)
    x0 = integrate(lambda x, t: torch.full_like(x, 2.5), x1, steps=3, solver=solver, start=1.0, end=0.0)
    torch.testing.assert_close(x0, torch.full((2, 3), -1.5))


def test_backwards_in_time_a_field_linear_in_t_is_exact_for_second_order_solvers():
    field = lambda x, t: (2 * t + 1)[:, None].expand_as(x)  # noqa: E731  x(1) - x(0) = 2
    x0 = integrate(field, torch.full((2, 3), 2.0), steps=4, solver="heun", start=1.0, end=0.0)
    torch.testing.assert_close(x0, torch.zeros(2, 3))


class _LabelShift(torch.nn.Module):
    """A velocity that is constant in x and t: 0.1 * (label + 1) in every pixel ("none": 0)."""

    def forward(self, x, t, y):
        shift = torch.where(y == 10, torch.zeros_like(y), y + 1).float() * 0.1  # [B]
        return shift[:, None, None, None].expand_as(x)


def test_encode_is_the_flow_backwards_and_a_transfer_moves_by_the_label_difference():
    model = tiny_cfm(sampling={"guidance": 0.0, "code_spread": 0.25})
    model.velocity = model.ema_decoder = _LabelShift()
    x = torch.full((2, 1, 8, 8), 0.5)  # pixel 0 in [-1, 1]
    y = torch.tensor([0, 3])
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (2, 64)
    torch.testing.assert_close(mu[:, 0], torch.tensor([-0.1, -0.4]))  # x_0 = x_1 - v(y)
    torch.testing.assert_close(logvar, torch.full((2, 64), 2 * math.log(0.25)))
    torch.testing.assert_close(model.generate(mu, y), x)  # decoding under its own label: x again
    moved = model.generate(mu, torch.tensor([2, 2]))  # as class 2: x_0 + 0.3, i.e. pixel (x + 1) / 2
    torch.testing.assert_close(moved[:, 0, 0, 0], (torch.tensor([0.2, -0.1]) + 1) / 2)


@pytest.mark.parametrize(
    ("encode_label", "guidance", "expected"),
    [
        (0.0, 0.0, [0.0, 0.0]),  # the unlabelled field (v(none) = 0 here): the image's pixel itself
        (0.5, 0.0, [-0.05, -0.2]),  # half of each label's shift
        (0.5, 1.0, [-0.1, -0.4]),  # half of the guided field 2 v(y) - v(none), half v(none): v(y)
        (1.0, 1.0, [-0.2, -0.8]),  # the sampling field itself, guided: x_0 = x_1 - 2 v(y)
    ],
)
def test_encode_label_weighs_the_own_label_against_no_label(encode_label, guidance, expected):
    model = tiny_cfm(sampling={"guidance": guidance, "encode_label": encode_label})
    model.velocity = model.ema_decoder = _LabelShift()
    mu, _ = model.encode(torch.full((2, 1, 8, 8), 0.5), torch.tensor([0, 3]))  # pixel 0 in [-1, 1]
    torch.testing.assert_close(mu[:, 0], torch.tensor(expected))


def test_restyle_with_zero_noise_is_the_reconstruction_through_the_flow():
    torch.manual_seed(0)
    model = tiny_cfm(sampling={"sample_steps": 3})
    opt = model.make_optimizers()
    for _ in range(3):
        model.train_step(torch.rand(8, 1, 8, 8), torch.arange(8), opt)
        model.update_ema()
    real = LabeledImages(torch.rand(20, 1, 8, 8), torch.arange(20) % 10)
    out = styled_set(model, real, "restyle", per_class=2, noise=0.0)
    mu, _ = model.encode(real.images[out.sources], real.labels[out.sources])
    torch.testing.assert_close(out.images, model.generate(mu, out.labels))
    assert (out.labels == real.labels[out.sources]).all()  # restyle: drawn in its own class
    noisy = styled_set(model, real, "restyle", per_class=2, noise=1.0)
    assert not torch.allclose(noisy.images, out.images)  # code_spread 0.5: a code near its own


# --------------------------------------------------------------------------------------------
# benchmarks/sampler_sweep.py: sampling settings on one trained checkpoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solver", "steps", "guidance", "evaluations"),
    [("midpoint", 8, 1.0, 32), ("heun", 4, 0.5, 16), ("euler", 4, 0.0, 4)],
)
def test_the_sampler_describes_its_network_evaluations_per_image(solver, steps, guidance, evaluations):
    model = tiny_cfm(sampling={"solver": solver, "sample_steps": steps, "guidance": guidance})
    assert model.describe_sampling().endswith(f"guidance {guidance:g}: {evaluations} network evaluations per image")
    assert build_model("cvae", CVAEConfig(width=8), (1, 8, 8), 10).describe_sampling() == "one decoder pass"


def test_the_sampler_sweep_writes_a_row_per_variant_drawn_with_its_settings(tmp_path, monkeypatch):
    stylised_with = []  # the encode_label each variant's --style stylisation ran with

    def recording(model, *args, **kwargs):
        stylised_with.append(model.sampling.encode_label)
        return stylization_metrics(model, *args, **kwargs)

    monkeypatch.setattr(sweep, "stylization_metrics", recording)
    torch.manual_seed(0)
    model = tiny_cfm()
    model.train_step(torch.rand(8, 1, 8, 8), torch.arange(8), model.make_optimizers())
    save_generator(tmp_path / "cfm.pt", model, CLASSES)
    tiny = ["tracking.enabled=false", "evaluation.judge.steps=20", "classifier.steps=10", "classifier.seeds=[0]"]
    tiny += ["device=cpu", "cpu_threads=1"]
    argv = ["--params", str(ROOT / "params.yaml"), "--checkpoint", str(tmp_path / "cfm.pt"), "--per-class", "15"]
    argv += ["--out", str(tmp_path), "--judge", str(tmp_path / "judge.pt")]
    argv += [arg for key in tiny for arg in ("--set", key)]
    runs = ["--run", "w1-euler1", "sample.generators.cfm.guidance=1", "sample.generators.cfm.solver=euler"]
    runs += ["sample.generators.cfm.sample_steps=1", "--run", "as-params"]
    runs += ["--run", "encode0", "sample.generators.cfm.encode_label=0"]
    assert sweep.main([*argv, "--style", *runs]) == 0
    rows = list(csv.DictReader((tmp_path / "sampler_sweep.csv").open()))
    assert [r["label"] for r in rows] == ["w1-euler1", "as-params", "encode0"]
    expected = (
        "sample.generators.cfm.guidance=1 sample.generators.cfm.solver=euler sample.generators.cfm.sample_steps=1"
    )
    assert rows[0]["settings"] == expected
    # drawn with the variant's sampler, then with params.yaml's again (the next variant's base)
    assert rows[0]["sampling"] == "euler, 1 steps, guidance 1: 2 network evaluations per image"
    assert rows[1]["sampling"] == "midpoint, 4 steps, guidance 0: 8 network evaluations per image"
    assert set(rows[0]) == set(sweep.COLUMNS)
    for row in rows:
        assert 0 <= float(row["label_fidelity"]) <= 1 and 0 <= float(row["cas"]) <= 1 and float(row["images_per_s"]) > 0
        assert 0 <= float(row["transfer_accuracy"]) <= 1 and -1 <= float(row["style_r_slant"]) <= 1
    # --style stylises with each variant's encoder settings, params.yaml's where it names none
    assert stylised_with == [1.0, 1.0, 0.0]
    assert (tmp_path / "judge.pt").is_file()
