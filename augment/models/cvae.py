"""Conditional VAE: encoder Q(z | x, y), decoder f_d(z, y).

Loss = reconstruction + kl_weight * KL[Q(z|x,y) || P(z)]. The decoder alone is the generative
model; the encoder lets it reconstruct and stylise (encode x with its label, decode with another).
"""

from __future__ import annotations

import torch

from augment.models.base import ConditionalGenerator
from augment.models.layers import Decoder, Encoder, init_weights, reparameterize
from augment.models.losses import kl_prior, reconstruction_loss
from augment.settings.sections import CVAEConfig


class CVAE(ConditionalGenerator):
    name = "cvae"
    config_class = CVAEConfig
    can_encode = True
    loss_names = ("loss", "reconstruction", "kl")
    sampler = "decoder"

    def __init__(self, config: CVAEConfig, image_shape, num_classes: int) -> None:
        super().__init__(config, image_shape, num_classes)
        self.encoder = Encoder(self.image_shape, num_classes, config.latent_dim, config.width, config.stem)
        self.decoder = Decoder(self.image_shape, num_classes, config.latent_dim, config.width, config.upsample)
        self.apply(init_weights)
        self._finish_init()

    def make_optimizers(self):
        # One optimizer: encoder and decoder minimise the same loss.
        return {"vae": self._adam(self)}

    def encode(self, x, y):
        return self.encoder(x, y)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x, y)  # [B, latent] each
        x_rec = self.decoder(reparameterize(mu, logvar), y)  # [B, C, H, W]
        rec = reconstruction_loss(x_rec, x)
        kl = kl_prior(mu, logvar)
        return {"loss": rec + self.config.kl_weight * kl, "reconstruction": rec, "kl": kl}

    def train_step(self, x, y, optimizers):
        losses = self.losses(x, y)
        self._step(optimizers["vae"], losses["loss"])
        return {k: v.item() for k, v in losses.items()}
