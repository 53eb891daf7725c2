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

With a label budget's pool (:meth:`CVAEGAN.use_unlabelled`): the M2 scheme of the CVAE
(augment/models/cvae.py; docs/design.md, "Label budgets: the M2 scheme") with the learned
similarity. A classifier q(y | x) (``self.classifier``) joins the three networks. A batch holds B
labelled images (x, y) and U pool images x (y = UNLABELLED, in any order). The encoder's per-image
negative bound is its loss above, image by image, every term computed with the label y:

    L(x, y) = kl_weight * L_prior(x, y) + L_llike(x, y)
              with Q(z|x,y), x~_y = f_d(z, y), L_llike(x, y) = 1/2 ||d_l(x, y) - d_l(x~_y, y)||^2

For a pool image it is evaluated with every label y' = 0 .. K-1 (the pool repeated K times:
[U*K] rows, in one pass with the labelled rows). With two games for D, "l" on the labelled part
with its labels (as without a pool) and "u" on the pool with no label (zero label planes, no
projection term; layers.py), where y_s ~ q(y | x) is drawn per pool image and step:

    L_GAN,l = ln D(x, y) + ln(1 - D(f_d(z_p, y), y)) + ln(1 - D(x~_y, y))
    L_GAN,u = ln D(x, none) + ln(1 - D(f_d(z_p, y_s), none)) + ln(1 - D(x~_{y_s}, none))

the updates are, each network on its own loss only:

    encoder, q:    minimise mean_l L(x, y) + mean_u [sum_y' q(y'|x) L(x, y') - H(q(.|x))]
                            + classify_weight * mean_l [-ln q(y|x)]              (M2's objective)
    decoder:       minimise gamma * (mean_l L_llike(x, y) + mean_u sum_y' q(y'|x) L_llike(x, y'))
                            + mean_l [-ln D(x~_y, y) - ln D(f_d(z_p, y), y)]
                            + mean_u [sum_y' q(y'|x) (-ln D(x~_y', none)) - ln D(f_d(z_p, y_s), none)]
    discriminator: minimise -L_GAN,l - L_GAN,u        (each game its own batch means)

What is marginalised over the K labels: the whole bound L (both L_prior and L_llike) for encoder
and q, and, for the decoder, every term on the pool's reconstructions (gamma L_llike and their
GAN term, the decoder makes all K of them; q is a constant for the decoder: it learns from the
bound only). D sees one reconstruction per pool image, x~_{y_s}, and the decoder's marginalised
GAN term is exactly the expectation over y_s ~ q of what D was shown. Not marginalised: the prior
samples f_d(z_p, y_s), one per pool image, whose label is drawn from q (so their classes follow
the pool's mix, as the labelled part's fakes take the labelled images' labels).
D's unconditional part thus learns real vs fake from the pool (reals and fakes, both shown
without a label: reals alone would teach it "no label means real"), its conditional part the
classes from the labelled images. q has its own optimizer ("classifier") on the encoder's loss,
the same tensor. A game or term whose part of the batch is empty is left out.

With ``diffaugment`` (augment/models/diffaugment.py) every D(.) of L_GAN above, in D's update and
the decoder's, judges T(.): the real image, x~ and x_p through the same random differentiable
transforms T. The activations d_l of L_llike do not: they compare x with its own reconstruction. Without a pool,
:meth:`CVAEGAN.train_step` is the scheme above, unchanged: no classifier, same draws, same numbers.
"""

from __future__ import annotations

from typing import cast

import torch

from augment.core.labels import UNLABELLED
from augment.models.diffaugment import DiffAugment
from augment.models.layers import Decoder, Discriminator, Encoder, init_weights, reparameterize
from augment.models.losses import (
    classification_loss,
    discriminator_loss,
    generator_loss,
    generator_loss_per_image,
    kl_prior,
    kl_prior_per_image,
    llike_loss,
    llike_loss_per_image,
    m2_unlabelled_bound,
    q_expectation,
)
from augment.models.m2 import M2Classifier, m2_rows
from augment.settings.sections import CVAEGANConfig


class CVAEGAN(M2Classifier):
    name = "cvaegan"
    config_class = CVAEGANConfig
    can_encode = True
    family = "vae-gan"
    loss_names: tuple[str, ...] = ("prior", "llike", "d_loss", "g_loss")  # with a pool: + classify, unlabelled
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
        # T: D's real / fake verdicts see every image through it (off by default: the identity)
        self.d_augment = DiffAugment(config.diffaugment, config.diffaugment_p)
        self.apply(init_weights)
        self.discriminator.add_spectral_norm()
        self._finish_init()

    def judge(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """D(T(x), y) as logits [B]: the discriminator's verdict through DiffAugment's T
        (models/diffaugment.py), in every L_GAN term, D's update and the decoder's alike."""
        return self.discriminator(self.d_augment(x), y)[0]

    def judge_reconstructions(self, x_rec: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """D's verdict on reconstructions x~ [B] (through T) and D's activations on x~ itself, for
        L_llike (never through T: it compares x with its own reconstruction, pixel for pixel)."""
        logits, feats = self.discriminator(x_rec, y)
        if self.d_augment.active:
            logits = self.judge(x_rec, y)
        return logits, feats

    def make_optimizers(self):
        optimizers = {
            "encoder": self._adam(self.encoder),
            "decoder": self._adam(self.decoder),
            "discriminator": self._adam(self.discriminator),
        }
        if self.unlabelled:  # q: its own optimizer on the encoder's loss (module docstring)
            optimizers["classifier"] = self._adam(self.classifier)
        return optimizers

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
        real_logits = self.judge(x, y)
        d_loss = discriminator_loss(real_logits, self.judge(x_p, y), self.judge(x_rec, y))
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
        rec_logits, rec_feats = self.judge_reconstructions(x_rec, y)
        l_prior = kl_prior(mu, logvar)
        l_llike = llike_loss(feat_real, rec_feats[layer])
        # "- L_GAN" for the decoder, non-saturating: -ln D(x~) - ln D(x_p).
        g_loss = generator_loss(rec_logits, self.judge(x_p, y))

        # Encoder: L_prior + L_llike. Gradients only for the encoder's weights.
        self._step(opt_enc, self.config.kl_weight * l_prior + l_llike, retain_graph=True)
        # Decoder: gamma * L_llike - L_GAN. Gradients only for the decoder's weights. The
        # encoder's step changed its weights in place, but the decoder's gradient does not need
        # them (it stops at x~'s input z), so the retained graph is still valid for it.
        self._step(opt_dec, self.config.gamma * l_llike + g_loss)
        return {"prior": l_prior.item(), "llike": l_llike.item(), "g_loss": g_loss.item()}

    def train_step(self, x, y, optimizers):
        if self.unlabelled:
            return self._train_step_with_pool(x, y, optimizers)
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

    # -- with a label budget's pool: the M2 scheme (module docstring) ----------------------------
    def _draw_pool_labels(self, q_logits_u: torch.Tensor) -> torch.Tensor:
        """y_s ~ q(y | x) [U], one label per pool image, for the pool's fakes (a constant)."""
        if q_logits_u.shape[0] == 0:
            return q_logits_u.new_zeros(0, dtype=torch.long)
        # .detach(): a drawn label is a constant; q learns from the bound only.
        q = torch.softmax(q_logits_u.detach().float(), dim=1)  # [U, K]
        return torch.multinomial(q, 1).squeeze(1)  # [U]

    def _train_step_with_pool(self, x, y, optimizers):
        """train_step on labelled rows (y >= 0) and pool rows (y = UNLABELLED), in any order.

        ``prior`` and ``llike`` are the labelled part's means (as without a pool), ``g_loss`` the
        decoder's GAN terms of both games, ``classify`` -ln q(y|x) on the labelled part and
        ``unlabelled`` the pool's mean bound (M2's U); an empty part's terms are 0.
        """
        x_l, y_l, x_u, x_all, y_all = m2_rows(x, y, self.num_classes)  # x_all, y_all: [B + U*K]
        b, u, k = x_l.shape[0], x_u.shape[0], self.num_classes
        x_lu = torch.cat([x_l, x_u])  # [B + U]: the batch, labelled part first
        y_none = torch.full((u,), UNLABELLED, dtype=y.dtype, device=y.device)
        y_shown = torch.cat([y_l, y_none])  # [B + U]: what D is told: a label, or none for the pool
        games = [part for part, size in ((slice(0, b), b), (slice(b, b + u), u)) if size > 0]
        # q(y|x) over the whole batch in one pass (one batch-norm statistic); D's steps do not
        # change q, so the same logits serve both phases.
        q_logits = self.classifier(x_lu)  # [B + U, K]
        q_logits_l, q_logits_u = q_logits[:b], q_logits[b:]

        ############################
        # (1) Discriminator, k steps: minimise -L_GAN,l - L_GAN,u
        ############################
        opt_d = optimizers["discriminator"]
        for _ in range(self.config.d_steps):
            y_fake = torch.cat([y_l, self._draw_pool_labels(q_logits_u).to(y.dtype)])  # [B + U]: y, then y_s ~ q
            with torch.no_grad():  # the fakes are constants for D (the .detach() of this phase)
                mu, logvar = self.encoder(x_lu, y_fake)
                x_rec = self.decoder(reparameterize(mu, logvar), y_fake)  # x~ [B + U]
                x_p = self.decoder(self.sample_noise(b + u), y_fake)  # x_p [B + U]
            real_logits = self.judge(x_lu, y_shown)  # [B + U]
            p_logits = self.judge(x_p, y_shown)  # fake i shown as real i is
            rec_logits = self.judge(x_rec, y_shown)
            d_loss = cast(
                torch.Tensor, sum(discriminator_loss(real_logits[g], p_logits[g], rec_logits[g]) for g in games)
            )
            self._step(opt_d, d_loss)

        ############################
        # (2) Encoder and q, then decoder, each on its own loss, against the updated D
        ############################
        layer = self.config.llike_layer
        mu, logvar = self.encoder(x_all, y_all)  # [B + U*K, latent] each
        x_rec = self.decoder(reparameterize(mu, logvar), y_all)  # x~_y [B + U*K]
        y_fake = torch.cat([y_l, self._draw_pool_labels(q_logits_u).to(y.dtype)])  # [B + U]
        x_p = self.decoder(self.sample_noise(b + u), y_fake)  # x_p [B + U]

        # .detach(): the real image's activation d_l(x, y) is the target, a constant.
        feat_real = self.discriminator(x_all, y_all)[1][layer].detach()
        rec_logits, rec_feats = self.judge_reconstructions(x_rec, y_all)  # x~_y judged with its label
        l_prior = kl_prior_per_image(mu, logvar)  # [B + U*K]
        l_llike = llike_loss_per_image(feat_real, rec_feats[layer])  # [B + U*K]
        bound = self.config.kl_weight * l_prior + l_llike  # L(x, y) of every row
        p_logits = self.judge(x_p, y_shown)  # [B + U]: the pool's x_p with no label
        # .detach(): q is a constant for the decoder (it learns from the bound only).
        q_const = q_logits_u.detach()

        zero = bound.new_zeros(())
        enc_loss, dec_loss, g_loss = zero, zero, zero
        classify, unlabelled = zero, zero
        if b:  # the labelled part, as without a pool
            classify = classification_loss(q_logits_l, y_l)
            enc_loss = enc_loss + bound[:b].mean() + self.config.classify_weight * classify
            # "- L_GAN,l" for the decoder, non-saturating: -ln D(x~_y, y) - ln D(x_p, y).
            g_loss = g_loss + generator_loss(rec_logits[:b], p_logits[:b])
            dec_loss = dec_loss + self.config.gamma * l_llike[:b].mean()
        if u:  # the pool: marginalised over the K labels
            unlabelled = m2_unlabelled_bound(bound[b:].view(u, k), q_logits_u)
            enc_loss = enc_loss + unlabelled
            rec_u_logits = self.judge(x_rec[b:], y_all.new_full((u * k,), UNLABELLED))  # [U*K]
            # "- L_GAN,u": -sum_y' q(y'|x) ln D(x~_y', none) - ln D(x_p, none).
            g_loss = g_loss + q_expectation(generator_loss_per_image(rec_u_logits).view(u, k), q_const)
            g_loss = g_loss + generator_loss(p_logits[b:])
            dec_loss = dec_loss + self.config.gamma * q_expectation(l_llike[b:].view(u, k), q_const)
        dec_loss = dec_loss + g_loss

        # Encoder, then q: the same loss, gradients only for each one's own weights. Neither
        # step's in-place update is on the other's gradient path (q enters through its softmax
        # output, the encoder through the bound), so the retained graph stays valid.
        self._step(optimizers["encoder"], enc_loss, retain_graph=True)
        self._step(optimizers["classifier"], enc_loss, retain_graph=True)
        # Decoder: gamma * L_llike - L_GAN over both parts. Gradients only for the decoder's
        # weights; it stops at x~'s input z, so the encoder's update does not affect it.
        self._step(optimizers["decoder"], dec_loss)
        return {
            "prior": l_prior[:b].mean().item() if b else 0.0,
            "llike": l_llike[:b].mean().item() if b else 0.0,
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "classify": classify.item(),
            "unlabelled": unlabelled.item(),
        }
