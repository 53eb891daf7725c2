"""Conditional GAN: generator G(z, y), discriminator D(x, y).

The discriminator takes k = ``d_steps`` steps per generator step, each minimising the binary
cross-entropy of real vs generated; G uses the non-saturating loss -ln D(G(z, y)).
A CGAN has no encoder, so it cannot reconstruct or stylise.
"""

from __future__ import annotations

import torch

from augment.models.base import ConditionalGenerator
from augment.models.layers import Decoder, Discriminator, init_weights
from augment.models.losses import discriminator_loss, generator_loss
from augment.settings.sections import CGANConfig


class CGAN(ConditionalGenerator):
    name = "cgan"
    config_class = CGANConfig
    can_encode = False
    loss_names = ("d_loss", "g_loss", "d_real", "d_fake")
    sampler = "generator"

    def __init__(self, config: CGANConfig, image_shape, num_classes: int) -> None:
        super().__init__(config, image_shape, num_classes)
        self.generator = Decoder(self.image_shape, num_classes, config.latent_dim, config.width, config.upsample)
        self.discriminator = Discriminator(
            self.image_shape, num_classes, config.width, config.conditioning, config.spectral_norm, config.stem
        )
        self.apply(init_weights)
        self.discriminator.add_spectral_norm()
        self._finish_init()

    def make_optimizers(self):
        return {"generator": self._adam(self.generator), "discriminator": self._adam(self.discriminator)}

    def train_step(self, x, y, optimizers):
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        b = x.shape[0]

        ############################
        # (1) Discriminator, k steps: minimise -[ln D(x, y) + ln(1 - D(G(z, y), y))]
        ############################
        for _ in range(self.config.d_steps):
            z = self.sample_noise(b)  # [B, latent]
            # .detach(): the discriminator's loss must not reach the generator's weights.
            fake = self.generator(z, y).detach()  # [B, C, H, W]
            real_logits, _ = self.discriminator(x, y)
            fake_logits, _ = self.discriminator(fake, y)
            d_loss = discriminator_loss(real_logits, fake_logits)
            self._step(opt_d, d_loss)

        ############################
        # (2) Generator: minimise -ln D(G(z, y), y) (non-saturating)
        ############################
        z = self.sample_noise(b)
        fake_logits, _ = self.discriminator(self.generator(z, y), y)
        g_loss = generator_loss(fake_logits)
        self._step(opt_g, g_loss)  # gradients for G's weights only; D is not touched

        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),  # D(x): 1 = judged real
            "d_fake": torch.sigmoid(fake_logits).mean().item(),  # D(G(z)) after D's update
        }
