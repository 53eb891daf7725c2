"""The models' losses as small pure functions named after the equations of docs/design.md.

Every loss returns a scalar: a sum over an image's (or code's) elements, averaged over the batch,
so that the weights in params.yaml (kl_weight, gamma) mean the same at every image size. The
terms of the per-image bound that the M2 scheme marginalises over the labels (docs/design.md,
"Label budgets: the M2 scheme") also come per image, as ``*_per_image`` functions returning [B]:
the batch-mean ones are their means, so both give the same numbers.

Sign convention (the one place it is written): the paper's
    L_GAN = ln D(x) + ln(1 - D(x_fake))
is the quantity the discriminator *maximises*. Here :func:`discriminator_loss` returns its
negative, the binary cross-entropy -L_GAN, which the discriminator *minimises*. The generator
(CGAN) and the decoder (CVAE-GAN) "minimise -L_GAN" in the non-saturating form:
:func:`generator_loss` = -ln D(x_fake), i.e. the BCE of fakes against the label "real".

Precision convention (also written once): every loss computes in float32. Under bf16 autocast
(params ``acceleration.precision``) the networks' outputs are bf16, whose 8-bit mantissa cannot
hold a sum over 784 pixels or exp(logvar) to the digits these losses need, so each function
casts its tensor inputs with ``.float()`` (a no-op in float32 training).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F


def kl_prior_per_image(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """L_prior per image: KL[N(mu, diag(exp(logvar))) || N(0, I)], summed over latent dims, [B].

    Closed form: -1/2 * sum(1 + logvar - mu^2 - exp(logvar)). Zero iff mu = 0 and logvar = 0.
    """
    mu, logvar = mu.float(), logvar.float()  # [B, latent] each
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)  # [B]


def kl_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """L_prior = KL[N(mu, diag(exp(logvar))) || N(0, I)], summed over latent dims, batch mean
    (:func:`kl_prior_per_image`'s mean)."""
    return kl_prior_per_image(mu, logvar).mean()


def reconstruction_loss_per_image(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The CVAE's pixel reconstruction term per image: Bernoulli negative log-likelihood (BCE)
    -sum_pixels [x ln x~ + (1 - x) ln(1 - x~)], [B].

    Written out rather than ``F.binary_cross_entropy`` so that a diverged decoder (NaN output)
    gives a NaN loss, which the training loop reports, instead of an exception. Logs are clamped
    at -100, as PyTorch's BCE does.
    """
    x_rec, x = x_rec.float(), x.float()  # [B, C, H, W] each
    log_p = torch.log(x_rec).clamp_min(-100)  # ln x~
    log_not_p = torch.log1p(-x_rec).clamp_min(-100)  # ln(1 - x~)
    nll = -(x * log_p + (1 - x) * log_not_p)  # [B, C, H, W]
    return nll.flatten(1).sum(dim=1)  # [B]


def reconstruction_loss(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The CVAE's pixel reconstruction term: Bernoulli negative log-likelihood (BCE), summed per
    image, batch mean (:func:`reconstruction_loss_per_image`'s mean)."""
    return reconstruction_loss_per_image(x_rec, x).mean()


def llike_loss_per_image(feat_real: torch.Tensor, feat_rec: torch.Tensor) -> torch.Tensor:
    """L_llike per image: 1/2 * ||d_l(x) - d_l(x~)||^2 summed over the layer's activations, [B]."""
    return 0.5 * (feat_real.float() - feat_rec.float()).pow(2).flatten(1).sum(dim=1)  # [B]


def llike_loss(feat_real: torch.Tensor, feat_rec: torch.Tensor) -> torch.Tensor:
    """L_llike = -ln N(d_l(x) | d_l(x~), I) up to a constant: 1/2 * ||d_l(x) - d_l(x~)||^2.

    The learned similarity of the CVAE-GAN: distance between the discriminator's l-th layer
    activations on the real image and on its reconstruction, summed per image, batch mean
    (:func:`llike_loss_per_image`'s mean: the factor 1/2 is exact in floating point, so the
    number is the same as halving the mean).
    """
    return llike_loss_per_image(feat_real, feat_rec).mean()


def discriminator_loss(real_logits: torch.Tensor, *fake_logits: torch.Tensor) -> torch.Tensor:
    """-L_GAN = -[ln D(x) + sum_f ln(1 - D(x_f))]: BCE with real -> 1, each fake batch -> 0.

    The CGAN passes one fake batch (G(z, y)); the CVAE-GAN passes two (f_d(z_p), f_d(Q(x))).
    """
    real_logits = real_logits.float()  # [B]
    loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    for logits in fake_logits:
        logits = logits.float()
        loss = loss + F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
    return loss


def generator_loss(*fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: sum_f -ln D(x_f), i.e. BCE of each fake batch against 1."""
    total = sum(
        F.binary_cross_entropy_with_logits(logits.float(), torch.ones_like(logits, dtype=torch.float32))
        for logits in fake_logits
    )
    return cast(torch.Tensor, total)  # sum() of tensors is a tensor (its start, 0, only types as int)


def discriminator_accuracy(real_logits: torch.Tensor, *fake_logits: torch.Tensor) -> torch.Tensor:
    """Not a loss: the share of D's verdicts that are right, a scalar in [0, 1] — real images with
    D(x) > 1/2 (logit > 0) and fakes with D(x_f) < 1/2 (logit < 0), over every image shown.

    A diagnostic beside the mean of D(x) and D(x_f): means of 0.5 / 0.5 come from a blind D
    (accuracy 0.5) and from a D that is right but unsure, its logits held near 0 (accuracy near
    1); only this number tells the two apart (docs/design.md, "Reading a GAN's loss table").
    """
    right = [(real_logits.float() > 0).flatten()] + [(f.float() < 0).flatten() for f in fake_logits]
    return torch.cat(right).float().mean()


def flow_matching_loss(v_pred: torch.Tensor, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """L_FM = ||v(x_t, t, y) - (x_1 - x_0)||^2, summed per image, batch mean (Lipman et al. 2023).

    On the straight path x_t = (1 - t) x_0 + t x_1 from noise x_0 ~ N(0, I) to a data image x_1
    the velocity is d x_t / dt = x_1 - x_0: the network regresses onto it. Zero iff v_pred is
    exactly x_1 - x_0.
    """
    target = x1.float() - x0.float()  # [B, C, H, W]
    return (v_pred.float() - target).pow(2).flatten(1).sum(dim=1).mean()


def classification_loss(q_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-ln q(y | x): the cross-entropy of the classifier q's logits [B, K] against the labels [B],
    batch mean. The M2 scheme's labelled term (weighed by ``classify_weight``, alpha)."""
    return F.cross_entropy(q_logits.float(), y)


def m2_unlabelled_bound(per_class_loss: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """U(x) = sum_y q(y|x) L(x, y) - H(q(y|x)), batch mean: the negative bound of an unlabelled
    image, its label marginalised over exactly the K classes (Kingma et al. 2014, M2).

    ``per_class_loss`` [U, K]: L(x, y) (the per-image negative bound, minimised) of each pool image
    evaluated with each label y = 0 .. K-1; ``q_logits`` [U, K]: q(y|x) before the softmax.
    H(q) = -sum_y q(y|x) ln q(y|x), so U = sum_y q(y|x) [L(x, y) + ln q(y|x)]. The uniform label
    prior's constant ln K is left out (it moves no gradient). A one-hot q gives L(x, y) of its class.
    """
    log_q = torch.log_softmax(q_logits.float(), dim=1)  # [U, K] ln q(y|x)
    q = log_q.exp()  # [U, K]
    return (q * (per_class_loss.float() + log_q)).sum(dim=1).mean()


def q_expectation(per_class_loss: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """sum_y q(y|x) l(x, y), batch mean: a per-class loss [U, K] weighed by q(y|x) (logits [U, K]),
    without the entropy. The CVAE-GAN's decoder terms on the pool (its q a constant there: the
    caller passes detached logits)."""
    q = torch.softmax(q_logits.float(), dim=1)  # [U, K]
    return (q * per_class_loss.float()).sum(dim=1).mean()


def generator_loss_per_image(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss per image: -ln D(x_f) = softplus(-logit), [B]
    (:func:`generator_loss` of one fake batch is its mean)."""
    logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")  # [B]
