"""The CGAN with a label budget's pool (augment/models/cgan.py, docs/design.md "Label budgets: the
CGAN's discriminator sees the pool"): a mixed batch trains, the pool's images reach D only without
a label, and a model trained without a pool steps exactly as before."""

import dataclasses

import pytest
import torch

from augment.models import UNLABELLED, build_model
from augment.models.losses import discriminator_loss, generator_loss
from augment.params.config import CGANConfig
from augment.training.checkpoint import load_generator, save_generator

SHAPE = (1, 8, 8)
K = 3


def make(pool: bool, **overrides):
    """A tiny CGAN, seeded the same every time; ``pool``: after use_unlabelled()."""
    torch.manual_seed(0)
    config = dataclasses.replace(CGANConfig(latent_dim=4, width=8), **overrides)
    return build_model("cgan", config, SHAPE, K, unlabelled=pool)


def mixed(labelled=2, pool=6):
    """A labelled batch followed by a pool batch, as the training loop builds them."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(labelled + pool, *SHAPE, generator=g)
    y = torch.cat([torch.arange(labelled) % K, torch.full((pool,), UNLABELLED)])
    return x, y


def weights(model):
    return [p.detach().clone() for p in model.state_dict().values()]


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("conditioning", ["planes", "projection"])
@pytest.mark.parametrize("labelled,pool", [(2, 6), (1, 7), (0, 6), (6, 0)])
def test_a_step_on_a_mixed_batch(conditioning, labelled, pool):
    model = make(True, conditioning=conditioning, spectral_norm=True)
    assert model.takes_unlabelled and model.unlabelled
    g_before, d_before = weights(model.generator), weights(model.discriminator)
    losses = model.train_step(*mixed(labelled, pool), model.make_optimizers())
    assert set(losses) == set(model.loss_names)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert not same(g_before, weights(model.generator))
    assert not same(d_before, weights(model.discriminator))


def test_use_unlabelled_adds_no_network():
    plain, pooled = make(False), make(True)
    assert plain.state_dict().keys() == pooled.state_dict().keys()
    assert same(weights(plain), weights(pooled))


def test_pool_images_reach_the_discriminator_only_without_a_label():
    model = make(True, d_steps=2)
    x, y = mixed(labelled=2, pool=6)
    pool_images, labelled = x[y < 0], y >= 0
    d_calls, g_calls = [], []
    d_forward, g_forward = model.discriminator.forward, model.generator.forward
    model.discriminator.forward = lambda a, b: d_calls.append((a.detach().clone(), b.clone())) or d_forward(a, b)
    model.generator.forward = lambda z, b: g_calls.append(b.clone()) or g_forward(z, b)
    model.train_step(x, y, model.make_optimizers())

    assert len(d_calls) == 2 * 2 + 1  # each D step scores reals and fakes; the G step fakes
    seen = torch.zeros(len(pool_images), dtype=torch.bool)
    for images, labels in d_calls:
        assert labels.shape == (8,) and int((labels == UNLABELLED).sum()) == 6  # fakes too: 6 with no label
        for i, pool_image in enumerate(pool_images):
            rows = (images == pool_image).flatten(1).all(dim=1)  # where this pool image is in the call
            assert (labels[rows] == UNLABELLED).all(), "a pool image was shown to D with a label"
            seen[i] |= bool(rows.any())
    assert seen.all(), "every pool image reaches D"
    real_images, real_labels = d_calls[0]
    assert torch.equal(real_images, x) and torch.equal(real_labels, y)  # labelled reals keep their labels

    assert len(g_calls) == 2 + 1  # one G pass per step, over both games' fakes
    for labels in g_calls:
        assert torch.equal(labels[labelled], y[labelled])  # the conditional fakes: the labelled labels
        assert ((labels >= 0) & (labels < K)).all()  # the unconditional fakes: a drawn class, never -1


def reference_step(model, x, y, optimizers):
    """The CGAN's step as it was before label budgets, written out: the oracle for the plain path
    (and its d_acc column, logged since)."""
    opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
    for _ in range(model.config.d_steps):
        fake = model.generator(model.sample_noise(x.shape[0]), y).detach()
        real_logits, _ = model.discriminator(x, y)
        fake_logits, _ = model.discriminator(fake, y)
        d_loss = discriminator_loss(real_logits, fake_logits)
        # the diagnostic added since, by hand: D's right verdicts before its update
        d_acc = torch.cat([real_logits > 0, fake_logits < 0]).float().mean()
        model._step(opt_d, d_loss)
    fake_logits, _ = model.discriminator(model.generator(model.sample_noise(x.shape[0]), y), y)
    g_loss = generator_loss(fake_logits)
    model._step(opt_g, g_loss)
    return {
        "d_loss": d_loss.item(),
        "g_loss": g_loss.item(),
        "d_real": torch.sigmoid(real_logits).mean().item(),
        "d_fake": torch.sigmoid(fake_logits).mean().item(),
        "d_acc": d_acc.item(),
    }


def run(model, step, x, y, steps=3):
    """``steps`` steps from one seed: (losses of each, final weights, the RNG state after)."""
    optimizers = model.make_optimizers()
    torch.manual_seed(7)
    losses = [step(model, x, y, optimizers) for _ in range(steps)]
    return losses, weights(model), torch.get_rng_state()


def test_without_a_pool_the_step_is_unchanged():
    x, y = mixed(labelled=6, pool=0)
    ours = run(make(False, d_steps=2), lambda m, *a: m.train_step(*a), x, y)
    theirs = run(make(False, d_steps=2), reference_step, x, y)
    assert ours[0] == theirs[0]  # the same losses, to the bit
    assert same(ours[1], theirs[1])  # the same weights
    assert torch.equal(ours[2], theirs[2])  # the same random draws, no more


def test_the_pool_step_on_a_labelled_batch_is_the_plain_game():
    """With a pool but none of it in the batch, the unconditional game is empty: what is left is
    the conditional game, the plain step, draw for draw."""
    x, y = mixed(labelled=6, pool=0)
    ours = run(make(True), lambda m, *a: m.train_step(*a), x, y)
    plain = run(make(False), lambda m, *a: m.train_step(*a), x, y)
    assert ours[0] == plain[0] and same(ours[1], plain[1]) and torch.equal(ours[2], plain[2])


def test_the_pool_changes_the_step():
    x, y = mixed(labelled=2, pool=6)
    with_pool = run(make(True), lambda m, *a: m.train_step(*a), x, y, steps=1)
    labelled_only = run(make(True), lambda m, *a: m.train_step(*a), x[:2], y[:2], steps=1)
    assert not same(with_pool[1], labelled_only[1])


def test_checkpoint_round_trip_keeps_the_pool_flag(tmp_path):
    model = make(True)
    model.train_step(*mixed(), model.make_optimizers())
    save_generator(tmp_path / "cgan.pt", model, [str(k) for k in range(K)])
    loaded, payload = load_generator(tmp_path / "cgan.pt", expected_model="cgan")
    assert loaded.unlabelled and payload["unlabelled"] is True
    assert same(weights(model), weights(loaded))
    plain = make(False)
    save_generator(tmp_path / "plain.pt", plain, [str(k) for k in range(K)])
    reloaded, payload = load_generator(tmp_path / "plain.pt")
    assert not reloaded.unlabelled and "unlabelled" not in payload
