"""CVAE-GAN: a conditional VAE whose reconstruction error is measured in the discriminator's
feature space (Larsen et al., "Autoencoding beyond pixels using a learned similarity metric").

Networks: encoder Q, decoder f_d, discriminator D. With x~ = f_d(Q(x)) and x_p = f_d(z_p):
    L_prior = KL[Q(z|x) || P(z)]
    L_llike = 1/2 ||d_l(x) - d_l(x~)||^2              (D's l-th layer, `llike_layer`)
    L_GAN   = ln D(x) + ln(1 - D(x_p)) + ln(1 - D(x~))
Updates, each network on its own loss only (sign convention: see augment/models/losses.py):
    encoder:       minimise kl_weight * L_prior + L_llike
    decoder:       minimise gamma * L_llike - L_GAN    (non-saturating: + sum -ln D(fake))
    discriminator: minimise -L_GAN (the BCE); never L_llike, which would pull all of D's
                   layers towards equal activations on real and reconstructed images.
"""

from __future__ import annotations

import torch

from augment.models.base import ConditionalGenerator
from augment.models.layers import Decoder, Discriminator, Encoder, init_weights, reparameterize
from augment.models.losses import discriminator_loss, generator_loss, kl_prior, llike_loss
from augment.settings.sections import CVAEGANConfig


class CVAEGAN(ConditionalGenerator):
    name = "cvaegan"
    config_class = CVAEGANConfig
    can_encode = True
    loss_names = ("prior", "llike", "d_loss", "g_loss")
    sampler = "decoder"

    def __init__(self, config: CVAEGANConfig, image_shape, num_classes: int) -> None:
        super().__init__(config, image_shape, num_classes)
        self.encoder = Encoder(self.image_shape, num_classes, config.latent_dim, config.width, config.stem)
        self.decoder = Decoder(self.image_shape, num_classes, config.latent_dim, config.width, config.upsample)
        self.discriminator = Discriminator(
            self.image_shape, num_classes, config.width, config.conditioning, config.spectral_norm, config.stem
        )
        n_layers = len(self.discriminator.trunk.layers)
        if not -n_layers <= config.llike_layer < n_layers:
            raise ValueError(
                f"generators.cvaegan.llike_layer: must be in [{-n_layers}, {n_layers - 1}] for "
                f"images of shape {self.image_shape} (D has {n_layers} conv layers), got {config.llike_layer}"
            )
        self.apply(init_weights)
        self.discriminator.add_spectral_norm()
        self._finish_init()

    def make_optimizers(self):
        return {
            "encoder": self._adam(self.encoder),
            "decoder": self._adam(self.decoder),
            "discriminator": self._adam(self.discriminator),
        }

    def encode(self, x, y):
        return self.encoder(x, y)

    def discriminator_step(self, x, y, opt_d) -> float:
        """One discriminator update on -L_GAN. Fakes come from no-grad passes: D's loss never
        reaches the encoder or decoder, and L_llike never enters D's loss."""
        b = x.shape[0]
        with torch.no_grad():  # the fakes are constants for D (the .detach() of this phase)
            mu, logvar = self.encoder(x, y)
            x_rec = self.decoder(reparameterize(mu, logvar), y)  # x~ [B, C, H, W]
            x_p = self.decoder(self.sample_noise(b), y)  # x_p [B, C, H, W]
        real_logits, _ = self.discriminator(x, y)
        d_loss = discriminator_loss(real_logits, self.discriminator(x_p, y)[0], self.discriminator(x_rec, y)[0])
        self._step(opt_d, d_loss)
        return d_loss.item()

    def autoencoder_step(self, x, y, opt_enc, opt_dec) -> dict[str, float]:
        """One encoder and one decoder update, each on its own loss; D's weights are untouched."""
        b = x.shape[0]
        layer = self.config.llike_layer
        mu, logvar = self.encoder(x, y)  # [B, latent] each
        x_rec = self.decoder(reparameterize(mu, logvar), y)  # x~ [B, C, H, W]
        x_p = self.decoder(self.sample_noise(b), y)  # x_p [B, C, H, W]

        # .detach(): the real image's activation d_l(x) is the target, a constant.
        feat_real = self.discriminator(x, y)[1][layer].detach()
        rec_logits, rec_feats = self.discriminator(x_rec, y)
        l_prior = kl_prior(mu, logvar)
        l_llike = llike_loss(feat_real, rec_feats[layer])
        # "- L_GAN" for the decoder, non-saturating: -ln D(x~) - ln D(x_p).
        g_loss = generator_loss(rec_logits, self.discriminator(x_p, y)[0])

        # Encoder: L_prior + L_llike. Gradients only for the encoder's weights.
        self._step(opt_enc, self.config.kl_weight * l_prior + l_llike, retain_graph=True)
        # Decoder: gamma * L_llike - L_GAN. Gradients only for the decoder's weights. The
        # encoder's step changed its weights in place, but the decoder's gradient does not need
        # them (it stops at x~'s input z), so the retained graph is still valid for it.
        self._step(opt_dec, self.config.gamma * l_llike + g_loss)
        return {"prior": l_prior.item(), "llike": l_llike.item(), "g_loss": g_loss.item()}

    def train_step(self, x, y, optimizers):
        ############################
        # (1) Discriminator, k steps: minimise -L_GAN
        ############################
        for _ in range(self.config.d_steps):
            d_loss = self.discriminator_step(x, y, optimizers["discriminator"])

        ############################
        # (2) Encoder and decoder, each on its own loss, against the updated D
        ############################
        losses = self.autoencoder_step(x, y, optimizers["encoder"], optimizers["decoder"])
        return {**losses, "d_loss": d_loss}
