"""Every model at every supported image shape: shapes, one training step, the registry, and the
CVAE-GAN's rule that each network is updated on its own loss only."""

import copy
import dataclasses

import pytest
import torch

from augment.models import REGISTRY, build_model, model_class
from augment.models.layers import num_halvings, reparameterize
from augment.models.losses import kl_prior, llike_loss
from augment.params.config import CFMConfig, CFMSampling, CGANConfig, CVAEConfig, CVAEGANConfig

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
# The plain form of each model (no moving average, no spectral norm, label planes, KL weight 1,
# L_llike in D's last layer): a test of an option turns it on itself.
_PLAIN_GAN = {"ema": 0.0, "spectral_norm": False, "conditioning": "planes"}
SMALL = {
    "cvae": CVAEConfig(latent_dim=4, width=8, kl_weight=1.0),
    "cgan": CGANConfig(latent_dim=4, width=8, **_PLAIN_GAN),
    "cvaegan": CVAEGANConfig(latent_dim=4, width=8, kl_weight=1.0, llike_layer=-1, **_PLAIN_GAN),
    "cfm": CFMConfig(width=8, ema=0.0),
}
SMALL_SAMPLING = {"cfm": CFMSampling(sample_steps=2)}  # the others have no sampling settings


def make(name, shape=(1, 8, 8), num_classes=3, **overrides):
    """A small model; ``overrides`` are keys of its training config or of its sampling settings."""
    torch.manual_seed(0)
    sampling_keys = {f.name for f in dataclasses.fields(REGISTRY[name].sampling_class)}
    trained = {k: v for k, v in overrides.items() if k not in sampling_keys}
    model = build_model(name, dataclasses.replace(SMALL[name], **trained), shape, num_classes)
    drawn = {k: v for k, v in overrides.items() if k in sampling_keys}
    model.sampling = dataclasses.replace(SMALL_SAMPLING.get(name, model.sampling), **drawn)
    return model


def batch(shape, n=6, num_classes=3):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, *shape, generator=g), torch.arange(n) % num_classes


def weights(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def test_registry_names_match_design():
    assert list(REGISTRY) == ["cvae", "cgan", "cvaegan", "cfm"]
    with pytest.raises(ValueError, match="cvae, cgan, cvaegan, cfm"):
        model_class("vae")


@pytest.mark.parametrize("height,expected", [(8, 1), (28, 2), (32, 3), (64, 3), (30, 1), (7, 0)])
def test_num_halvings_keeps_feature_maps_at_least_4(height, expected):
    assert num_halvings(height, height) == expected


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(REGISTRY))
def test_shapes_and_one_training_step(name, shape):
    model = make(name, shape)
    x, y = batch(shape)
    out = model.generate(model.sample_noise(5), torch.tensor([0, 1, 2, 0, 1]))
    assert out.shape == (5, *shape)
    assert out.min() >= 0 and out.max() <= 1
    before = weights(model)
    losses = model.train_step(x, y, model.make_optimizers())
    assert set(losses) == set(model.loss_names)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert changed(before, model)
    if model.can_encode:
        mu, logvar = model.encode(x, y)
        assert mu.shape == logvar.shape == (6, model.latent_dim)  # 4, or C x H x W for cfm


@pytest.mark.parametrize("name", list(REGISTRY))
def test_labels_condition_the_output(name):
    model = make(name)
    model.train_step(*batch((1, 8, 8)), model.make_optimizers())  # cfm starts at v = 0 for every label
    z = model.sample_noise(1).repeat(3, 1)
    out = model.generate(z, torch.tensor([0, 1, 2]))
    assert not torch.allclose(out[0], out[1])


def test_cgan_has_no_encoder():
    model = make("cgan")
    assert not model.can_encode
    with pytest.raises(NotImplementedError, match="cannot reconstruct or stylise"):
        model.encode(*batch((1, 8, 8)))


def test_cgan_discriminator_takes_k_steps():
    model = make("cgan", d_steps=3)
    calls = []
    original = model.discriminator.forward
    model.discriminator.forward = lambda *a: calls.append(1) or original(*a)
    model.train_step(*batch((1, 8, 8)), model.make_optimizers())
    # Each D step scores a real and a fake batch (2 calls); the G step scores one fake batch.
    assert len(calls) == 3 * 2 + 1


def test_cvaegan_discriminator_step_changes_only_the_discriminator():
    model = make("cvaegan")
    opts = model.make_optimizers()
    enc, dec, dis = weights(model.encoder), weights(model.decoder), weights(model.discriminator)
    model.discriminator_step(*batch((1, 8, 8)), opts["discriminator"])
    assert changed(dis, model.discriminator)
    assert not changed(enc, model.encoder) and not changed(dec, model.decoder)


def test_cvaegan_autoencoder_step_never_touches_the_discriminator():
    model = make("cvaegan")
    opts = model.make_optimizers()
    enc, dec, dis = weights(model.encoder), weights(model.decoder), weights(model.discriminator)
    model.autoencoder_step(*batch((1, 8, 8)), opts["encoder"], opts["decoder"])
    assert changed(enc, model.encoder) and changed(dec, model.decoder)
    assert not changed(dis, model.discriminator)
    # No gradient of L_llike (or of any encoder/decoder loss) was even stored on D.
    assert all(p.grad is None for p in model.discriminator.parameters())


def test_cvaegan_encoder_gets_exactly_the_gradient_of_prior_plus_llike():
    """Recompute the encoder's loss by hand and compare its gradient with the step's update
    direction: with SGD(lr=1) the update equals the gradient."""
    model = make("cvaegan", kl_weight=1.0)
    x, y = batch((1, 8, 8))
    opts = model.make_optimizers()
    opts["encoder"] = torch.optim.SGD(model.encoder.parameters(), lr=1.0)
    opts["decoder"] = torch.optim.SGD(model.decoder.parameters(), lr=0.0)
    before = weights(model.encoder)

    torch.manual_seed(5)
    mu, logvar = model.encoder(x, y)
    x_rec = model.decoder(reparameterize(mu, logvar), y)
    feat_real = model.discriminator(x, y)[1][-1].detach()
    expected_loss = kl_prior(mu, logvar) + llike_loss(feat_real, model.discriminator(x_rec, y)[1][-1])
    expected = torch.autograd.grad(expected_loss, list(model.encoder.parameters()))

    torch.manual_seed(5)
    model.autoencoder_step(x, y, opts["encoder"], opts["decoder"])
    for b, p, g in zip(before, model.encoder.parameters(), expected, strict=True):
        torch.testing.assert_close(b - p.detach(), g, rtol=1e-4, atol=1e-6)


def test_cvaegan_gamma_weighs_llike_in_the_decoder_only():
    x, y = batch((1, 8, 8))
    deltas = {}
    for gamma in (0.0, 10.0):
        model = make("cvaegan", gamma=gamma)
        opts = model.make_optimizers()
        enc, dec = weights(model.encoder), weights(model.decoder)
        torch.manual_seed(3)
        model.autoencoder_step(x, y, opts["encoder"], opts["decoder"])
        deltas[gamma] = (
            [b - p.detach() for b, p in zip(enc, model.encoder.parameters(), strict=True)],
            [b - p.detach() for b, p in zip(dec, model.decoder.parameters(), strict=True)],
        )
    for a, b in zip(deltas[0.0][0], deltas[10.0][0], strict=True):
        torch.testing.assert_close(a, b)  # the encoder's loss has no gamma
    assert any(not torch.allclose(a, b) for a, b in zip(deltas[0.0][1], deltas[10.0][1], strict=True))


def test_cvaegan_rejects_a_layer_the_discriminator_does_not_have():
    with pytest.raises(ValueError, match="llike_layer"):
        make("cvaegan", llike_layer=7)


# --------------------------------------------------------------------------------------------
# 28x28 options: upsampling, projection discriminator, spectral norm, moving average, DiffAugment
# --------------------------------------------------------------------------------------------

_GAN_OPTIONS = {
    "upsample": "nearest",
    "conditioning": "projection",
    "spectral_norm": True,
    "ema": 0.9,
    "stem": False,
    "diffaugment": ["colour", "translation", "cutout"],
}
OPTIONS = {
    "cvae": {"upsample": "nearest", "ema": 0.9, "stem": False},
    "cgan": {**_GAN_OPTIONS, "diffaugment_p": 0.5},
    "cvaegan": _GAN_OPTIONS,
    "cfm": {"solver": "heun", "guidance": 1.0, "label_dropout": 0.5, "ema": 0.9},
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_option_keeps_shapes_and_trains(name, shape):
    model = make(name, shape, **OPTIONS[name])
    x, y = batch(shape)
    losses = model.train_step(x, y, model.make_optimizers())
    model.update_ema()
    assert set(losses) == set(model.loss_names) and all(torch.isfinite(torch.tensor(list(losses.values()))))
    out = model.generate(model.sample_noise(4), torch.tensor([0, 1, 2, 0]))
    assert out.shape == (4, *shape) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("shape", SHAPES)
def test_nearest_upsampling_has_no_transposed_convolution(shape):
    model = make("cvae", shape, upsample="nearest")
    kinds = {type(m).__name__ for m in model.decoder.modules()}
    assert "ConvTranspose2d" not in kinds and "Upsample" in kinds
    assert "ConvTranspose2d" in {type(m).__name__ for m in make("cvae", shape).decoder.modules()}


def test_projection_discriminator_sees_the_label_only_through_the_embedding():
    model = make("cgan", (1, 28, 28), conditioning="projection")
    d = model.discriminator
    assert d.trunk.layers[0][0].in_channels == 1  # the image alone: no label planes
    x = torch.rand(4, 1, 28, 28)
    y0, y1 = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    logit0, feats0 = d(x, y0)
    logit1, feats1 = d(x, y1)
    assert all(torch.equal(a, b) for a, b in zip(feats0, feats1, strict=True))  # features ignore y
    phi = feats0[-1].flatten(1)
    # the logits differ by exactly <embed(y0) - embed(y1), phi(x)>
    expected = ((d.embed.weight[0] - d.embed.weight[1]) * phi).sum(dim=1)
    torch.testing.assert_close(logit0 - logit1, expected)
    planes = make("cgan", (1, 28, 28)).discriminator
    assert planes.embed is None and planes.trunk.layers[0][0].in_channels == 1 + 3


def test_spectral_norm_bounds_every_discriminator_weight():
    model = make("cgan", (1, 28, 28), spectral_norm=True)
    x, y = batch((1, 28, 28))
    opt = model.make_optimizers()
    for _ in range(3):
        model.train_step(x, y, opt)
    model.eval()  # the parametrised weight, without another power iteration
    for module in model.discriminator.modules():
        if isinstance(module, torch.nn.Linear):
            sigma = torch.linalg.matrix_norm(module.weight.detach(), ord=2)
            assert sigma <= 1.05, (module, sigma)
    assert not any(hasattr(m, "parametrizations") for m in model.generator.modules())


@pytest.mark.parametrize("name", list(REGISTRY))
def test_moving_average_changes_only_what_is_sampled(name):
    """Training with and without the moving average moves the trained networks identically; the
    average follows w_ema <- d * w_ema + (1 - d) * w, and sampling decodes with it."""
    x, y = batch((1, 8, 8))
    plain, averaged = make(name), make(name, ema=0.5)
    opt_plain, opt_avg = plain.make_optimizers(), averaged.make_optimizers()
    live = getattr(averaged, averaged.sampler)
    before = [p.detach().clone() for p in averaged.ema_decoder.parameters()]
    torch.manual_seed(3)
    plain.train_step(x, y, opt_plain)
    torch.manual_seed(3)
    averaged.train_step(x, y, opt_avg)
    averaged.update_ema()
    # the trained networks: the same weights with and without the average
    trained = {k: v for k, v in averaged.state_dict().items() if not k.startswith("ema_decoder.")}
    assert trained.keys() == plain.state_dict().keys()
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in trained.items())
    # the average: halfway between its old and the new weights
    for old, avg, w in zip(before, averaged.ema_decoder.parameters(), live.parameters(), strict=True):
        torch.testing.assert_close(avg, 0.5 * old + 0.5 * w)
    assert averaged.sampling_decoder() is averaged.ema_decoder and plain.sampling_decoder() is getattr(
        plain, plain.sampler
    )
    z, labels = averaged.sample_noise(3), torch.tensor([0, 1, 2])
    # sampling is the model with the average's weights in place of the live sampler's
    swapped = copy.deepcopy(averaged)
    getattr(swapped, swapped.sampler).load_state_dict(averaged.ema_decoder.state_dict())
    swapped.ema_decoder = None
    torch.testing.assert_close(averaged.generate(z, labels), swapped.generate(z, labels))
    # no optimizer holds the average's weights
    held = {id(p) for opt in opt_avg.values() for g in opt.param_groups for p in g["params"]}
    assert not held & {id(p) for p in averaged.ema_decoder.parameters()}
