"""The loss functions on inputs with known answers."""

import math

import torch
import torch.nn.functional as F

from augment.models.losses import (
    discriminator_accuracy,
    discriminator_loss,
    generator_loss,
    kl_prior,
    llike_loss,
    reconstruction_loss,
)


def test_kl_of_the_prior_with_itself_is_zero():
    mu, logvar = torch.zeros(4, 8), torch.zeros(4, 8)
    assert kl_prior(mu, logvar).item() == 0.0


def test_kl_matches_closed_form_for_a_shifted_scaled_gaussian():
    # KL[N(m, s^2) || N(0, 1)] = 1/2 (s^2 + m^2 - 1 - ln s^2), per dimension.
    m, s2, dims = 1.5, 0.25, 3
    mu = torch.full((2, dims), m)
    logvar = torch.full((2, dims), math.log(s2))
    expected = dims * 0.5 * (s2 + m**2 - 1 - math.log(s2))
    assert math.isclose(kl_prior(mu, logvar).item(), expected, rel_tol=1e-6)


def test_kl_is_positive_away_from_the_prior():
    assert kl_prior(torch.randn(5, 4), torch.randn(5, 4)).item() > 0


def test_reconstruction_loss_is_summed_per_image_and_averaged_over_the_batch():
    x = torch.full((3, 1, 2, 2), 1.0)
    x_rec = torch.full((3, 1, 2, 2), 0.5)
    # -ln 0.5 per pixel, 4 pixels per image.
    assert math.isclose(reconstruction_loss(x_rec, x).item(), 4 * math.log(2), rel_tol=1e-6)


def test_llike_is_zero_for_equal_features_and_half_squared_distance_otherwise():
    f = torch.randn(2, 3, 4, 4)
    assert llike_loss(f, f).item() == 0.0
    assert math.isclose(llike_loss(f, f + 2.0).item(), 0.5 * 4.0 * 48, rel_tol=1e-6)


def test_discriminator_loss_at_chance_is_ln4_per_pair():
    zeros = torch.zeros(8)  # logits 0: D = 1/2 everywhere
    assert math.isclose(discriminator_loss(zeros, zeros).item(), 2 * math.log(2), rel_tol=1e-6)
    # The CVAE-GAN's three terms: ln D(x) + ln(1 - D(x_p)) + ln(1 - D(x~)).
    assert math.isclose(discriminator_loss(zeros, zeros, zeros).item(), 3 * math.log(2), rel_tol=1e-6)


def test_discriminator_loss_is_the_negative_gan_value():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    l_gan = (F.logsigmoid(real) + torch.log1p(-torch.sigmoid(fake))).mean()  # what D maximises
    assert math.isclose(discriminator_loss(real, fake).item(), -l_gan.item(), rel_tol=1e-5)


def test_discriminator_accuracy_counts_right_verdicts_whatever_their_confidence():
    real, fake = torch.tensor([0.01, 0.02, -0.01, 3.0]), torch.tensor([-0.01, 0.5, -0.02, -0.03])
    # right: 3 of 4 reals (logit > 0), 3 of 4 fakes (logit < 0); the means of D stay near 0.5
    assert discriminator_accuracy(real, fake).item() == 0.75
    assert discriminator_accuracy(real).item() == 0.75
    # the CVAE-GAN's two fake batches: every image counts once
    assert math.isclose(discriminator_accuracy(real, fake, -torch.ones(2)).item(), 0.8, rel_tol=1e-6)
    assert discriminator_accuracy(torch.zeros(3), torch.zeros(3)).item() == 0.0  # logit 0 is no verdict


def test_generator_loss_is_non_saturating():
    fake = torch.tensor([-4.0, 0.0])
    expected = -F.logsigmoid(fake).mean()  # -ln D(G(z))
    assert math.isclose(generator_loss(fake).item(), expected.item(), rel_tol=1e-6)
    # Non-saturating: a confident discriminator (D(G(z)) ~ 0) still gives a large gradient.
    logits = torch.tensor([-8.0], requires_grad=True)
    generator_loss(logits).backward()
    assert abs(logits.grad.item()) > 0.99
