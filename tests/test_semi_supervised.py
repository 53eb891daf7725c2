"""The M2 scheme of the CVAE and the CVAE-GAN with a label budget's pool (augment/models/cvae.py,
augment/models/cvaegan.py; docs/design.md, "Label budgets: the M2 scheme"): the losses' known
answers, the marginalisation over exactly K labels, q(y | x) learning the labels, a mixed batch,
a model without a pool unchanged, the checkpoint and the warm start."""

import dataclasses
import math

import pytest
import torch

from augment.models import UNLABELLED, build_model
from augment.models.layers import reparameterize
from augment.models.losses import (
    classification_loss,
    generator_loss,
    generator_loss_per_image,
    kl_prior,
    kl_prior_per_image,
    llike_loss,
    llike_loss_per_image,
    m2_unlabelled_bound,
    q_expectation,
    reconstruction_loss,
    reconstruction_loss_per_image,
)
from augment.params.config import CVAEConfig, CVAEGANConfig
from augment.training.checkpoint import load_generator, save_generator
from augment.training.warm_start import copy_encoder_decoder

SHAPE = (1, 8, 8)
K = 3
CLASSES = ["zero", "one", "two"]
# the plain models whose losses BEFORE recorded (KL weight 1, L_llike in D's last layer, label
# planes, no spectral norm, no moving average)
CONFIGS = {
    "cvae": CVAEConfig(latent_dim=4, width=8, kl_weight=1.0),
    "cvaegan": CVAEGANConfig(
        latent_dim=4, width=8, kl_weight=1.0, llike_layer=-1, conditioning="planes", spectral_norm=False, ema=0.0
    ),
}
MODELS = list(CONFIGS)
POOL_TERMS = ("classify", "unlabelled")


def make(name, pool, **overrides):
    """A tiny model, seeded the same every time; ``pool``: after use_unlabelled()."""
    torch.manual_seed(0)
    return build_model(name, dataclasses.replace(CONFIGS[name], **overrides), SHAPE, K, unlabelled=pool)


def mixed(labelled=2, pool=6):
    """A labelled batch followed by a pool batch, as the training loop builds them."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(labelled + pool, *SHAPE, generator=g)
    y = torch.cat([torch.arange(labelled) % K, torch.full((pool,), UNLABELLED)])
    return x, y


def state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


# --------------------------------------------------------------------------------------------
# Losses: known answers
# --------------------------------------------------------------------------------------------


def test_m2_unlabelled_bound_by_hand():
    per_class = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 2.0]])
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, math.log(2.0), 0.0]])
    # image 1: q uniform, sum q L = 2, H = ln 3; image 2: q = (1/4, 1/2, 1/4), sum q L = 1 + 0 + 1/2,
    # H = 2 * 1/4 ln 4 + 1/2 ln 2 = 3/2 ln 2
    expected = ((2.0 - math.log(3.0)) + (1.5 - 1.5 * math.log(2.0))) / 2
    assert m2_unlabelled_bound(per_class, logits).item() == pytest.approx(expected, rel=1e-6)


def test_m2_unlabelled_bound_with_one_hot_q_is_that_class_loss():
    per_class = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.5, 2.0]])
    logits = torch.tensor([[-60.0, 60.0, -60.0], [-60.0, -60.0, 60.0]])  # q: class 1, then class 2
    assert m2_unlabelled_bound(per_class, logits).item() == pytest.approx((2.0 + 2.0) / 2, abs=1e-6)


def test_m2_unlabelled_bound_is_least_at_the_posterior():
    """min over q of sum q L - H(q) is -ln sum_y exp(-L(y)), reached at q = softmax(-L)."""
    per_class = torch.tensor([[1.0, 2.0, 3.5]])
    best = m2_unlabelled_bound(per_class, -per_class).item()
    assert best == pytest.approx(-torch.logsumexp(-per_class, dim=1).item(), rel=1e-6)
    for logits in (torch.zeros(1, 3), torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])):
        assert m2_unlabelled_bound(per_class, logits).item() > best


def test_classification_loss_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])
    assert classification_loss(logits, torch.tensor([1, 1])).item() == pytest.approx(
        (-math.log(3 / 4) - math.log(1 / 4)) / 2, rel=1e-6
    )


def test_q_expectation_by_hand():
    per_class = torch.tensor([[1.0, 2.0, 3.0]])
    logits = torch.tensor([[0.0, math.log(2.0), 0.0]])
    assert q_expectation(per_class, logits).item() == pytest.approx(0.25 + 1.0 + 0.75, rel=1e-6)


def test_per_image_losses_are_the_batch_losses_image_by_image():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    x, x_rec = torch.rand(5, 1, 8, 8, generator=g), torch.rand(5, 1, 8, 8, generator=g)
    f_real, f_rec = torch.randn(5, 8, 2, 2, generator=g), torch.randn(5, 8, 2, 2, generator=g)
    logits = torch.randn(5, generator=g)
    for per_image, batch, args in (
        (kl_prior_per_image, kl_prior, (mu, logvar)),
        (reconstruction_loss_per_image, reconstruction_loss, (x_rec, x)),
        (llike_loss_per_image, llike_loss, (f_real, f_rec)),
    ):
        values = per_image(*args)
        assert values.shape == (5,)
        assert torch.equal(values.mean(), batch(*args))
    # the batch functions as they were: the same numbers as the formulas written out
    assert torch.equal(kl_prior(mu, logvar), (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean())
    assert torch.equal(llike_loss(f_real, f_rec), 0.5 * (f_real - f_rec).pow(2).flatten(1).sum(dim=1).mean())
    torch.testing.assert_close(generator_loss_per_image(logits).mean(), generator_loss(logits))


# --------------------------------------------------------------------------------------------
# The marginalisation: every pool image with each of the K labels, exactly
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_the_pool_is_marginalised_over_exactly_k_labels(name):
    model = make(name, pool=True)
    seen = []
    model.encoder.register_forward_hook(lambda module, inputs, out: seen.append((inputs[0].detach(), inputs[1])))
    b, u = 2, 4
    x, y = mixed(b, u)
    model.train_step(x, y, model.make_optimizers())
    with_grad = [(xs, ys) for xs, ys in seen if xs.shape[0] == b + u * K]
    assert len(with_grad) == 1  # the encoder's pass of the bound: B labelled rows, U * K pool rows
    xs, ys = with_grad[0]
    assert torch.equal(ys[:b], y[:b]) and torch.equal(xs[:b], x[:b])
    assert torch.equal(ys[b:], torch.arange(K).repeat(u))  # labels 0..K-1 for every pool image
    assert torch.equal(xs[b:], x[b:].repeat_interleave(K, dim=0))  # each pool image K times


def test_cvae_pool_loss_is_the_m2_objective_written_out():
    model = make("cvae", pool=True)
    b, u = 2, 3
    x, y = mixed(b, u)
    torch.manual_seed(5)
    losses = model.pool_losses(x, y)
    # the same draws by hand: one encoder / decoder pass over [x_l; each pool image with labels 0..K-1]
    torch.manual_seed(5)
    x_all = torch.cat([x[:b], x[b:].repeat_interleave(K, dim=0)])
    y_all = torch.cat([y[:b], torch.arange(K).repeat(u)])
    mu, logvar = model.encoder(x_all, y_all)
    x_rec = model.decoder(reparameterize(mu, logvar), y_all)
    bound = reconstruction_loss_per_image(x_rec, x_all) + model.config.kl_weight * kl_prior_per_image(mu, logvar)
    q = torch.softmax(model.classifier(x), dim=1)  # [B + U, K]
    pool = bound[b:].view(u, K)
    unlabelled = ((q[b:] * pool).sum(1) + (q[b:] * q[b:].log()).sum(1)).mean()  # sum q L - H(q)
    classify = -q[:b].log().gather(1, y[:b, None]).mean()
    expected = bound[:b].mean() + model.config.classify_weight * classify + unlabelled
    torch.testing.assert_close(losses["unlabelled"], unlabelled)
    torch.testing.assert_close(losses["classify"], classify)
    torch.testing.assert_close(losses["loss"], expected)


# --------------------------------------------------------------------------------------------
# q(y | x) learns the labels; a mixed batch trains every network
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_q_is_trained_towards_the_given_labels(name):
    model = make(name, pool=True)
    x, y = mixed(6, 0)  # labelled images only
    optimizers = model.make_optimizers()

    def ce():
        with torch.no_grad():  # train mode, as in the step: the batch's own statistics
            return classification_loss(model.classifier(x), y).item()

    before = ce()
    for _ in range(5):
        losses = model.train_step(x, y, optimizers)
    assert ce() < before
    assert losses["unlabelled"] == 0.0 and losses["classify"] > 0


@pytest.mark.parametrize("labelled,pool", [(2, 6), (1, 5), (0, 6), (6, 0)])
@pytest.mark.parametrize(
    "name,options",
    [("cvae", {}), ("cvaegan", {}), ("cvaegan", {"conditioning": "projection", "spectral_norm": True, "d_steps": 2})],
)
def test_a_step_on_a_mixed_batch(name, options, labelled, pool):
    model = make(name, pool=True, **options)
    assert model.takes_unlabelled and model.unlabelled and model.has_classifier
    networks = [n for n in ("encoder", "decoder", "classifier", "discriminator") if hasattr(model, n)]
    before = {n: state(getattr(model, n)) for n in networks}
    losses = model.train_step(*mixed(labelled, pool), model.make_optimizers())
    assert set(losses) == set(model.loss_names) and set(POOL_TERMS) <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
    for n in networks:
        assert changed(before[n], getattr(model, n)), n
    assert (losses["unlabelled"] != 0.0) == (pool > 0)
    assert (losses["classify"] != 0.0) == (labelled > 0)


@pytest.mark.parametrize("name", MODELS)
def test_the_order_of_labelled_and_pool_rows_does_not_matter(name):
    x, y = mixed(2, 4)
    order = torch.tensor([2, 0, 3, 4, 1, 5])  # pool, labelled, pool, pool, labelled, pool: each part's order kept
    first = make(name, pool=True)
    torch.manual_seed(3)
    a = first.train_step(x, y, first.make_optimizers())
    second = make(name, pool=True)
    torch.manual_seed(3)
    b = second.train_step(x[order], y[order], second.make_optimizers())
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k


def test_cvaegan_d_sees_the_pool_without_labels():
    model = make("cvaegan", pool=True)
    labels = []
    model.discriminator.register_forward_hook(lambda module, inputs, out: labels.append(inputs[1].clone()))
    b, u = 2, 4
    model.train_step(*mixed(b, u), model.make_optimizers())
    shown = [ys for ys in labels if ys.shape[0] == b + u]  # D's passes on the batch (reals, fakes)
    assert shown and all(torch.equal(ys[b:], torch.full((u,), UNLABELLED)) for ys in shown)
    assert all(bool((ys[:b] >= 0).all()) for ys in shown)


# --------------------------------------------------------------------------------------------
# Without a pool: today's networks, optimizers and numbers; with an all-labelled batch: today's step
# --------------------------------------------------------------------------------------------

# train_step's first losses on mixed(6, 0) from make(name, pool=False), as the code before label
# budgets (c52cf44) gave them, bit for bit, on this machine; a tolerance for other CPUs
BEFORE = {
    "cvae": {"loss": 44.40334701538086, "reconstruction": 44.328617095947266, "kl": 0.07473094016313553},
    "cvaegan": {
        "prior": 0.03365391492843628,
        "llike": 0.00017575146921444684,
        "g_loss": 1.3881664276123047,
        "d_loss": 2.0790531635284424,
    },
}


@pytest.mark.parametrize("name", MODELS)
def test_without_a_pool_nothing_changes(name):
    plain, pooled = make(name, pool=False), make(name, pool=True)
    assert not plain.unlabelled and not plain.has_classifier and not hasattr(plain, "classifier")
    assert set(plain.loss_names) == set(BEFORE[name])
    keys = set(plain.state_dict())
    assert not any(k.startswith("classifier.") for k in keys)
    assert set(pooled.state_dict()) - keys and all(k.startswith("classifier.") for k in set(pooled.state_dict()) - keys)
    # use_unlabelled builds q after the others: their initial weights are the same
    assert all(torch.equal(v, pooled.state_dict()[k]) for k, v in plain.state_dict().items())
    assert set(pooled.make_optimizers()) - set(plain.make_optimizers()) <= {"classifier"}
    with pytest.raises(NotImplementedError, match="no classifier"):
        plain.classify(torch.rand(2, *SHAPE))
    plain = make(name, pool=False)  # the global RNG as right after building, as BEFORE was taken
    losses = plain.train_step(*mixed(6, 0), plain.make_optimizers())
    assert losses.keys() == BEFORE[name].keys()
    for k, v in BEFORE[name].items():
        assert losses[k] == pytest.approx(v, rel=1e-4), k


@pytest.mark.parametrize("name", MODELS)
def test_with_a_pool_an_all_labelled_batch_is_todays_step_plus_q(name):
    plain, pooled = make(name, pool=False), make(name, pool=True)
    x, y = mixed(6, 0)
    torch.manual_seed(7)
    a = plain.train_step(x, y, plain.make_optimizers())
    torch.manual_seed(7)
    b = pooled.train_step(x, y, pooled.make_optimizers())
    for k in a:
        if k != "loss":
            assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-7), k
    if name == "cvae":
        assert b["loss"] == pytest.approx(a["loss"] + pooled.config.classify_weight * b["classify"], rel=1e-5)


# --------------------------------------------------------------------------------------------
# classify, checkpoint, warm start
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_classify_is_eval_mode_without_gradients(name):
    model = make(name, pool=True)
    logits = model.classify(torch.rand(4, *SHAPE))
    assert logits.shape == (4, K) and not logits.requires_grad and model.training


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip_rebuilds_q(name, tmp_path):
    model = make(name, pool=True)
    model.train_step(*mixed(2, 4), model.make_optimizers())  # q's batch-norm statistics move
    path = tmp_path / "g.pt"
    save_generator(path, model, CLASSES)
    loaded, payload = load_generator(path)
    assert payload["unlabelled"] is True and payload["config"]["classify_weight"] == model.config.classify_weight
    assert loaded.unlabelled and loaded.has_classifier and set(loaded.loss_names) == set(model.loss_names)
    x = torch.rand(5, *SHAPE)
    torch.testing.assert_close(loaded.classify(x), model.classify(x))
    assert state(loaded).keys() == state(model).keys()


def test_warm_start_copies_q_only_when_both_have_it():
    cvae = make("cvae", pool=True)
    cvae.train_step(*mixed(2, 4), cvae.make_optimizers())
    target = make("cvaegan", pool=True)
    copy_encoder_decoder(target, cvae, "test")
    for net in ("encoder", "decoder", "classifier"):
        got, want = getattr(target, net).state_dict(), getattr(cvae, net).state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want), net

    fresh = make("cvaegan", pool=True)
    q_before = state(fresh.classifier)
    copy_encoder_decoder(fresh, make("cvae", pool=False), "test")  # a CVAE without q: q starts fresh
    assert not changed(q_before, fresh.classifier)

    plain = make("cvaegan", pool=False)
    copy_encoder_decoder(plain, cvae, "test")  # a CVAE-GAN without a pool: encoder and decoder only
    assert not hasattr(plain, "classifier")
    assert all(torch.equal(v, cvae.encoder.state_dict()[k]) for k, v in plain.encoder.state_dict().items())
