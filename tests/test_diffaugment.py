"""DiffAugment (augment/models/diffaugment.py): the transforms' known answers, their gradients,
that the GANs show D real and generated images through them alike, and that off changes nothing."""

import dataclasses

import pytest
import torch

from augment.core.labels import UNLABELLED
from augment.models import build_model
from augment.models.diffaugment import DiffAugment, cutout_mask, translate
from augment.params.config import CGANConfig, CVAEGANConfig
from augment.params.file import params_from_dict
from augment.settings.sections import ConfigError

CONFIGS = {"cgan": CGANConfig(latent_dim=4, width=8), "cvaegan": CVAEGANConfig(latent_dim=4, width=8)}


def make(name, **overrides):
    torch.manual_seed(0)
    return build_model(name, dataclasses.replace(CONFIGS[name], **overrides), (1, 8, 8), 3)


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 8, 8, generator=g), torch.arange(6) % 3


def test_translate_known_answer():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    out = translate(x, torch.tensor([[1, -2]]))  # down 1, left 2
    expected = torch.tensor([[0, 0, 0, 0], [2, 3, 0, 0], [6, 7, 0, 0], [10, 11, 0, 0]], dtype=torch.float32)
    assert torch.equal(out[0, 0], expected)
    assert torch.equal(translate(x, torch.zeros(1, 2, dtype=torch.long)), x)


def test_translate_shifts_each_image_by_its_own_shift():
    x = torch.rand(3, 2, 6, 6)
    shift = torch.tensor([[0, 0], [2, 0], [0, -1]])
    out = translate(x, shift)
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1, :, 2:], x[1, :, :-2]) and not out[1, :, :2].any()
    assert torch.equal(out[2, :, :, :-1], x[2, :, :, 1:]) and not out[2, :, :, -1].any()


def test_cutout_mask_known_answer_and_border_clipping():
    mask = cutout_mask(torch.tensor([[2, 2], [0, 5]]), size=2, height=6, width=6)
    assert mask.shape == (2, 1, 6, 6)
    zeros = (mask[0, 0] == 0).nonzero().tolist()
    assert zeros == [[1, 1], [1, 2], [2, 1], [2, 2]]  # rows / columns 1..2 around the centre (2, 2)
    assert (mask[1, 0] == 0).nonzero().tolist() == [[0, 4], [0, 5]]  # the row above the border clipped


def test_off_is_the_identity_and_draws_nothing():
    x = torch.rand(4, 1, 8, 8)
    state = torch.get_rng_state()
    for t in (DiffAugment(), DiffAugment(["translation", "cutout", "colour"], p=0.0)):
        assert not t.active and t(x) is x
    assert torch.equal(torch.get_rng_state(), state)


def test_each_kind_changes_images_and_is_differentiable():
    for kind in ("translation", "cutout", "colour"):
        torch.manual_seed(0)
        x = torch.rand(16, 3, 8, 8, requires_grad=True)
        out = DiffAugment([kind])(x)
        assert out.shape == x.shape and not torch.equal(out, x), kind
        (out * torch.rand_like(out)).sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0, kind


def test_translation_and_cutout_move_or_zero_pixels_only():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 8, 8) + 1.0  # no pixel is 0
    out = DiffAugment(["translation", "cutout"])(x)
    kept = out[out != 0]
    assert set(kept.tolist()) <= set(x.flatten().tolist())  # no pixel value is invented
    zeroed = (out == 0).flatten(1).sum(1)
    assert (zeroed >= 1).all()  # cutout's 4x4 square (half of 8) always hides something


def test_colour_on_grey_images_is_brightness_and_contrast_only():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8)
    out = DiffAugment(["colour"])(x)
    # per image, out = a * x + b: an affine map of the grey levels (saturation is the identity)
    for xi, oi in zip(x.flatten(1), out.flatten(1), strict=True):
        a, b = torch.linalg.lstsq(torch.stack([xi, torch.ones_like(xi)], 1), oi[:, None]).solution.flatten()
        assert torch.allclose(a * xi + b, oi, atol=1e-5) and 0.5 - 1e-4 <= a <= 1.5 + 1e-4


def test_strength_is_each_kinds_probability_per_image():
    torch.manual_seed(0)
    x = torch.rand(4000, 1, 8, 8) + 1.0
    out = DiffAugment(["cutout"], p=0.3)(x)
    hit = (out == 0).flatten(1).any(1).float().mean().item()
    assert abs(hit - 0.3) < 0.03


class Recording:
    """A stand-in for T that records the batch size of each image batch it is shown."""

    active = True

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.shape[0])
        return x.flip(-1)


@pytest.mark.parametrize("name, calls", [("cgan", 3), ("cvaegan", 5)])
def test_discriminator_sees_real_and_generated_images_through_it(name, calls):
    """CGAN, k = 1: D's step judges T(x) and T(G(z)), G's step T(G(z)). CVAE-GAN: D's step
    T(x), T(x_p), T(x~); the decoder's T(x~), T(x_p)."""
    model = make(name)
    model.d_augment = Recording()
    x, y = batch()
    model.train_step(x, y, model.make_optimizers())
    assert model.d_augment.seen == [6] * calls


@pytest.mark.parametrize("name", ["cgan", "cvaegan"])
def test_with_a_pool_every_verdict_goes_through_it(name):
    """With a label budget's pool (2 labelled, 4 pool images, K = 3): the CGAN's both games; the
    CVAE-GAN's D step on the batch, and the decoder's verdicts on x~_y of every row (2 + 4 x 3),
    on x_p, and on the pool's K reconstructions shown without a label."""
    model = make(name)
    model.use_unlabelled()
    model.d_augment = Recording()
    x, y = batch()
    y[2:] = UNLABELLED
    model.train_step(x, y, model.make_optimizers())
    expected = {"cgan": [6, 6, 6], "cvaegan": [6, 6, 6, 2 + 4 * 3, 6, 4 * 3]}[name]
    assert model.d_augment.seen == expected


def test_cvaegan_llike_compares_untransformed_reconstructions():
    """L_llike is computed on D's activations of x and x~ themselves: T does not reach it."""
    x, y = batch()
    steps = []
    for kinds in ([], ["translation", "cutout"]):
        model = make("cvaegan", diffaugment=kinds)  # seeds the draws: the same eps and z_p for both
        optimizers = model.make_optimizers()
        steps.append(model.autoencoder_step(x, y, optimizers["encoder"], optimizers["decoder"]))
    l_plain, l_aug = steps
    assert l_plain["llike"] == l_aug["llike"] and l_plain["prior"] == l_aug["prior"]
    assert l_plain["g_loss"] != l_aug["g_loss"]


def test_gradients_reach_the_generator_through_the_transforms():
    model = make("cgan", diffaugment=["colour", "translation", "cutout"])
    x, y = batch()
    z = model.sample_noise(6)
    logits = model.judge(model.generator(z, y), y)
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters() if p.dim() > 1)


# Recorded before DiffAugment existed (two train_steps, this file's configs and batch): off, the
# models' numbers are unchanged.
RECORDED = {
    "cgan": {"d_loss": 1.3793110847473145, "g_loss": 0.7079365253448486, "d_real": 0.4905717074871063},
    "cvaegan": {"prior": 0.04509498178958893, "llike": 1.6364002227783203, "g_loss": 1.4383172988891602},
}


@pytest.mark.parametrize("name", ["cgan", "cvaegan"])
def test_off_reproduces_the_numbers_recorded_before_it(name):
    model = make(name)
    x, y = batch()
    optimizers = model.make_optimizers()
    for _ in range(2):
        losses = model.train_step(x, y, optimizers)
    for key, value in RECORDED[name].items():
        assert losses[key] == pytest.approx(value, rel=1e-5), key


@pytest.mark.parametrize("value", [["flip"], ["cutout", "cutout"], "cutout"])
def test_a_bad_kind_list_names_its_key(value):
    with pytest.raises(ConfigError, match="generators.cgan.diffaugment"):
        params_from_dict({"generators": {"cgan": {"diffaugment": value}}})


def test_a_strength_outside_zero_one_names_its_key():
    with pytest.raises(ConfigError, match="generators.cvaegan.diffaugment_p"):
        params_from_dict({"generators": {"cvaegan": {"diffaugment_p": 1.5}}})
