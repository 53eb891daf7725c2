"""Conditional GAN: generator G(z, y), discriminator D(x, y).

The discriminator takes k = ``d_steps`` steps per generator step, each minimising the binary
cross-entropy of real vs generated; G uses the non-saturating loss -ln D(G(z, y)).
A CGAN has no encoder, so it cannot reconstruct or stylise.

With a label budget's pool (:meth:`use_unlabelled`; docs/design.md, "Label budgets: the CGAN's
discriminator sees the pool") the discriminator's *unconditional* part learns from the pool as
well. D already takes "no label" (y = UNLABELLED: zero label planes, no projection term), so a
batch of B labelled images x_l and U pool images x_u plays two games:

- conditional, as without a pool: D(x_l, y) real, D(G(z, y), y) fake, for B fakes drawn with
  the labelled images' labels;
- unconditional: D(x_u, none) real, D(G(z', y'), none) fake, for U fakes whose labels y' are
  drawn uniformly from the K classes. Uniform, not the labelled batch's labels: the pool's class
  mix is unknown, the data are balanced, and a labelled part of a few images (a budget of 10)
  would make G's unconditional fakes a few classes only.

    D minimises -[ln D(x_l, y) + ln(1 - D(G(z, y), y))] - [ln D(x_u, none) + ln(1 - D(G(z', y'), none))]
    G minimises -ln D(G(z, y), y) - ln D(G(z', y'), none)                       (non-saturating)

Each game is its own batch mean (a labelled part of 2 images weighs as much as a pool part of
62), and a game whose part of the batch is empty is left out. G draws all B + U fakes in one pass,
so its batch norm sees the whole fake batch, as without a pool (and a labelled part of one image
is no batch of one). Fake i is shown to D with the label real image i is shown with: its class in
the labelled part, none in the pool's.

Why not a discriminator with K + 1 outputs (K classes and "fake", Salimans et al. 2016, Odena
2016): this keeps the network, and the default ``planes`` conditioning measured best at 28x28
(docs/profile-28x28.md), unchanged; it is the discriminator's counterpart of flow matching's
"no label" class (augment/models/cfm.py); and a K + 1 discriminator's classifier serves
classification, not G's image quality (Salimans et al. note that their feature-matching GANs
that classify well draw worse images than those trained otherwise).

With ``diffaugment`` (augment/models/diffaugment.py) every D(x, y) above is D(T(x), y): real and
generated images, in D's steps and G's, through the same random differentiable transforms T.

Without a pool, :meth:`CGAN.train_step` is the plain game above, unchanged: same draws, same
numbers.
"""

from __future__ import annotations

from typing import cast

import torch

from augment.models.base import ConditionalGenerator
from augment.models.diffaugment import DiffAugment
from augment.models.layers import Decoder, Discriminator, init_weights
from augment.models.losses import discriminator_accuracy, discriminator_loss, generator_loss
from augment.settings.sections import CGANConfig


class CGAN(ConditionalGenerator):
    name = "cgan"
    config_class = CGANConfig
    can_encode = False
    family = "gan"
    takes_unlabelled = True  # D's unconditional part learns from the pool (module docstring)
    loss_names = ("d_loss", "g_loss", "d_real", "d_fake", "d_acc")
    sampler = "generator"

    def __init__(self, config: CGANConfig, image_shape, num_classes: int) -> None:
        super().__init__(config, image_shape, num_classes)
        self.generator = Decoder(self.image_shape, num_classes, config.latent_dim, config.width, config.upsample)
        self.discriminator = Discriminator(
            self.image_shape, num_classes, config.width, config.conditioning, config.spectral_norm, config.stem
        )
        # T: D sees every image, real and generated, through it (off by default: the identity)
        self.d_augment = DiffAugment(config.diffaugment, config.diffaugment_p)
        self.apply(init_weights)
        self.discriminator.add_spectral_norm()
        self._finish_init()

    def judge(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """D(T(x), y) as logits [B]: the discriminator's verdict on images x through DiffAugment's T
        (models/diffaugment.py), in D's update and G's alike."""
        return self.discriminator(self.d_augment(x), y)[0]

    # use_unlabelled: the base's flag only; D already takes "no label", no new network.

    def make_optimizers(self):
        return {"generator": self._adam(self.generator), "discriminator": self._adam(self.discriminator)}

    def train_step(self, x, y, optimizers):
        if self.unlabelled:
            return self._train_step_with_pool(x, y, optimizers)
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        b = x.shape[0]

        ############################
        # (1) Discriminator, k steps: minimise -[ln D(x, y) + ln(1 - D(G(z, y), y))]
        ############################
        for _ in range(self.config.d_steps):
            z = self.sample_noise(b)  # [B, latent]
            # .detach(): the discriminator's loss must not reach the generator's weights.
            fake = self.generator(z, y).detach()  # [B, C, H, W]
            real_logits = self.judge(x, y)
            fake_logits = self.judge(fake, y)
            d_loss = discriminator_loss(real_logits, fake_logits)
            d_acc = discriminator_accuracy(real_logits, fake_logits)  # before D's update
            self._step(opt_d, d_loss)

        ############################
        # (2) Generator: minimise -ln D(G(z, y), y) (non-saturating)
        ############################
        z = self.sample_noise(b)
        fake_logits = self.judge(self.generator(z, y), y)  # through T: G's gradient flows back through it
        g_loss = generator_loss(fake_logits)
        self._step(opt_g, g_loss)  # gradients for G's weights only; D is not touched

        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),  # D(x): 1 = judged real
            "d_fake": torch.sigmoid(fake_logits).mean().item(),  # D(G(z)) after D's update
            "d_acc": d_acc.item(),  # share of D's verdicts right in its last step (losses.py)
        }

    def _train_step_with_pool(self, x, y, optimizers):
        """train_step on a batch of labelled images (y >= 0) and pool images (y = UNLABELLED):
        the conditional game on the first, the unconditional one on the second (module docstring).

        d_real / d_fake are means over every real / fake logit shown, both games together.
        """
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        labelled = y >= 0  # [N]: True for the labelled part, False for the pool
        n, n_pool = x.shape[0], int((~labelled).sum())
        games = [part for part, size in ((labelled, n - n_pool), (~labelled, n_pool)) if size > 0]

        def draw_labels() -> torch.Tensor:
            """G's labels [N]: the labelled part's own, a uniformly drawn class in each pool slot."""
            y_g = y.clone()
            if n_pool:
                y_g[~labelled] = torch.randint(self.num_classes, (n_pool,), device=y.device)
            return y_g

        ############################
        # (1) Discriminator, k steps: minimise
        #     -[ln D(x_l, y) + ln(1 - D(G(z, y), y))] - [ln D(x_u, none) + ln(1 - D(G(z', y'), none))]
        ############################
        for _ in range(self.config.d_steps):
            z = self.sample_noise(n)  # [N, latent]: B conditional codes z, then U unconditional z'
            # .detach(): the discriminator's loss must not reach the generator's weights.
            fake = self.generator(z, draw_labels()).detach()  # [N, C, H, W]
            real_logits = self.judge(x, y)  # the pool's images with no label
            fake_logits = self.judge(fake, y)  # fake i shown as real i is: the pool's slots unlabelled
            d_loss = cast(torch.Tensor, sum(discriminator_loss(real_logits[g], fake_logits[g]) for g in games))
            d_acc = discriminator_accuracy(real_logits, fake_logits)  # both games, before D's update
            self._step(opt_d, d_loss)

        ############################
        # (2) Generator: minimise -ln D(G(z, y), y) - ln D(G(z', y'), none) (non-saturating)
        ############################
        z = self.sample_noise(n)
        fake_logits = self.judge(self.generator(z, draw_labels()), y)
        g_loss = generator_loss(*(fake_logits[g] for g in games))
        self._step(opt_g, g_loss)  # gradients for G's weights only; D is not touched

        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),  # D(x) over x_l and x_u: 1 = judged real
            "d_fake": torch.sigmoid(fake_logits).mean().item(),  # D(G) over both games, after D's update
            "d_acc": d_acc.item(),  # share of D's verdicts right in its last step, both games
        }
