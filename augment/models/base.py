"""What every registered generator provides to the training loop, sampling and stylisation."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from augment.models.layers import ImageShape


class ConditionalGenerator(nn.Module):
    """A class-conditional generative model.

    Subclasses set ``name``, ``config_class`` and ``can_encode``, build their networks in
    ``__init__`` and implement :meth:`make_optimizers`, :meth:`train_step` and :meth:`decode`.
    The training loop owns epochs, batches, callbacks and checkpoints; a model owns one step.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    can_encode: ClassVar[bool] = False  # has an encoder Q(z | x, y): can reconstruct and stylise
    loss_names: ClassVar[tuple[str, ...]]  # keys of the dict train_step returns

    def __init__(self, config: Any, image_shape: ImageShape, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.latent_dim = config.latent_dim

    # -- training ------------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        """One update of every network on the batch x [B, C, H, W], y [B]; returns the losses."""
        raise NotImplementedError

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, retain_graph: bool = False) -> None:
        """Update only the optimizer's own parameters on ``loss``.

        Gradients are taken with ``torch.autograd.grad`` for exactly those parameters, so no
        other network's ``.grad`` is touched: each network is updated on its own loss only.
        """
        params = [p for group in optimizer.param_groups for p in group["params"]]
        grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        optimizer.step()

    def _adam(self, module: nn.Module) -> torch.optim.Adam:
        c = self.config
        return torch.optim.Adam(module.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))

    # -- generation ----------------------------------------------------------------------------
    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z_p ~ P(z) = N(0, I): [n, latent_dim] on the model's device."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(device)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f_d(z, y) or G(z, y): [B, latent], [B] -> images [B, C, H, W] in [0, 1]."""
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images for codes z and labels y, in eval mode (batch norm uses running statistics)."""
        was_training = self.training
        self.eval()
        try:
            return self.decode(z, y)
        finally:
            self.train(was_training)

    # -- encoding (CVAE, CVAE-GAN) -------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q(z | x, y) as (mu, logvar), each [B, latent]."""
        raise NotImplementedError(f"{self.name} has no encoder: it cannot reconstruct or stylise")
