"""Conditional VAE: encoder Q(z | x, y), decoder f_d(z, y).

Loss = reconstruction + kl_weight * KL[Q(z|x,y) || P(z)]. The decoder alone is the generative
model; the encoder lets it reconstruct and stylise (encode x with its label, decode with another).

With a label budget's pool (:meth:`CVAE.use_unlabelled`): the M2 scheme of Kingma et al. 2014,
"Semi-supervised learning with deep generative models" (docs/design.md, "Label budgets: the M2
scheme"). A classifier q(y | x) (``self.classifier``, layers.Classifier) joins encoder and
decoder. With the per-image negative bound (the loss above, image by image)

    L(x, y) = -ln p(x | y, z~) + kl_weight * KL[Q(z|x,y) || P(z)],    z~ ~ Q(z|x,y)

a batch of B labelled images (x, y) and U pool images x (y = UNLABELLED) minimises

    J = mean_labelled [L(x, y)] + classify_weight * mean_labelled [-ln q(y | x)]
      + mean_pool [sum_{y'=0..K-1} q(y'|x) L(x, y') - H(q(. | x))]

over encoder, decoder and q together (one optimizer: q enters J through the last two terms).
The pool's term marginalises the unknown label over exactly the K classes: each pool image is
repeated K times, once with every label ([U*K] rows), and encoder and decoder see the labelled
rows and the repeated pool rows in one pass (one batch-norm statistic for the step). A part of
the batch that is empty is left out of J (U = 0: the plain loss plus q's cross-entropy).
The uniform label prior's constant ln K is left out of L (it moves no gradient).

Without a pool, :meth:`CVAE.train_step` is the plain loss, unchanged: no classifier is built,
same networks, same draws, same numbers.
"""

from __future__ import annotations

import torch

from augment.models.layers import Decoder, Encoder, init_weights, reparameterize
from augment.models.losses import (
    classification_loss,
    kl_prior,
    kl_prior_per_image,
    m2_unlabelled_bound,
    reconstruction_loss,
    reconstruction_loss_per_image,
)
from augment.models.m2 import M2Classifier, m2_rows
from augment.settings.sections import CVAEConfig


class CVAE(M2Classifier):
    name = "cvae"
    config_class = CVAEConfig
    can_encode = True
    family = "vae"
    loss_names: tuple[str, ...] = ("loss", "reconstruction", "kl")  # with a pool: + classify, unlabelled
    sampler = "decoder"

    def __init__(self, config: CVAEConfig, image_shape, num_classes: int) -> None:
        super().__init__(config, image_shape, num_classes)
        self.encoder = Encoder(self.image_shape, num_classes, config.latent_dim, config.width, config.stem)
        self.decoder = Decoder(self.image_shape, num_classes, config.latent_dim, config.width, config.upsample)
        self.apply(init_weights)
        self._finish_init()

    def make_optimizers(self):
        # One optimizer: encoder and decoder (and q, with a pool) minimise the same loss.
        return {"vae": self._adam(self)}

    def encode(self, x, y):
        return self.encoder(x, y)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x, y)  # [B, latent] each
        x_rec = self.decoder(reparameterize(mu, logvar), y)  # [B, C, H, W]
        rec = reconstruction_loss(x_rec, x)
        kl = kl_prior(mu, logvar)
        return {"loss": rec + self.config.kl_weight * kl, "reconstruction": rec, "kl": kl}

    def pool_losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """J of the M2 scheme (module docstring) on labelled rows (y >= 0) and pool rows (y < 0),
        in any order. ``reconstruction`` and ``kl`` are the labelled part's means (as without a
        pool), ``classify`` its -ln q(y|x), ``unlabelled`` the pool's mean bound U; an empty
        part's terms are 0."""
        known = y >= 0  # [N]: the labelled part
        x_l, y_l, x_u, x_all, y_all = m2_rows(x, y, self.num_classes)  # x_all, y_all: [B + U*K]
        b, u, k = x_l.shape[0], x_u.shape[0], self.num_classes
        mu, logvar = self.encoder(x_all, y_all)  # [B + U*K, latent] each
        x_rec = self.decoder(reparameterize(mu, logvar), y_all)  # [B + U*K, C, H, W]
        rec = reconstruction_loss_per_image(x_rec, x_all)  # [B + U*K]
        kl = kl_prior_per_image(mu, logvar)  # [B + U*K]
        bound = rec + self.config.kl_weight * kl  # L(x, y) of every row
        q_logits = self.classifier(x)  # [N, K]: one pass over the whole batch (one batch-norm statistic)

        zero = bound.new_zeros(())
        labelled = bound[:b].mean() if b else zero
        classify = classification_loss(q_logits[known], y_l) if b else zero
        unlabelled = m2_unlabelled_bound(bound[b:].view(u, k), q_logits[~known]) if u else zero
        return {
            "loss": labelled + self.config.classify_weight * classify + unlabelled,
            "reconstruction": rec[:b].mean() if b else zero,
            "kl": kl[:b].mean() if b else zero,
            "classify": classify,
            "unlabelled": unlabelled,
        }

    def train_step(self, x, y, optimizers):
        losses = self.pool_losses(x, y) if self.unlabelled else self.losses(x, y)
        self._step(optimizers["vae"], losses["loss"])
        return {k: v.item() for k, v in losses.items()}
