"""What every registered generator provides to the training loop, sampling and stylisation."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import nn

from augment.core import distributed
from augment.core.acceleration import outside_autocast
from augment.core.inference import inference, module_device
from augment.core.labels import UNLABELLED
from augment.models.layers import Decoder, ImageShape
from augment.settings.sections import NoSampling

__all__ = ["ConditionalGenerator", "UNLABELLED"]


class ConditionalGenerator(nn.Module):
    """A class-conditional generative model.

    Subclasses set ``name``, ``config_class``, ``can_encode`` and ``sampler`` (and, when they
    have settings that change only how images are drawn, ``sampling_class``), build their
    networks in ``__init__`` (ending with :meth:`_finish_init`) and implement
    :meth:`make_optimizers` and :meth:`train_step`. The training loop owns epochs, batches,
    callbacks, checkpoints and the moving average; a model owns one step.

    Moving average (``config.ema`` > 0): a copy of the sampling network (``sampler``) whose
    weights follow the trained ones, w_ema <- ema * w_ema + (1 - ema) * w, after every step
    (batch-norm statistics are copied). Sampling, reconstruction and stylisation decode with it;
    training never reads it. GAN generators oscillate around good weights, and their average
    draws cleaner images than any single step's weights.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]  # the training settings, generators.<name>; saved in the checkpoint
    # the sampling settings, sample.generators.<name>: set on the loaded model by whoever draws
    # (:attr:`sampling`), never trained with nor saved, so changing one needs no retraining
    sampling_class: ClassVar[type] = NoSampling
    can_encode: ClassVar[bool] = False  # has an encoder Q(z | x, y): can reconstruct and stylise
    # the textbook kind, "vae", "gan", "vae-gan", "flow" ("" for none): the report checks the
    # claim "the VAE is blurrier, the GAN sharper but less diverse" on the first of each kind
    family: ClassVar[str] = ""
    # learns from unlabelled images natively: after :meth:`use_unlabelled`, train_step's y holds
    # UNLABELLED for them. False: with a label budget the pool reaches it pseudo-labelled.
    takes_unlabelled: ClassVar[bool] = False
    # keys of the dict train_step returns; a model whose train_step reports more terms with a
    # pool (the M2 scheme's) sets the longer tuple on itself in use_unlabelled
    loss_names: tuple[str, ...]
    sampler: ClassVar[str]  # attribute of the Decoder that draws images: f_d or G

    def __init__(self, config: Any, image_shape: ImageShape, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.sampling: Any = self.sampling_class()  # the defaults until a stage sets params' section
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.latent_dim = getattr(config, "latent_dim", 0)  # size of z; a model without one sets its own
        self.ema_decoder: Decoder | None = None
        self.unlabelled = False  # trained with unlabelled images (use_unlabelled); in the checkpoint

    def use_unlabelled(self) -> None:
        """Train on batches that also hold unlabelled images (label :data:`UNLABELLED`).

        Called once, right after construction and before :meth:`make_optimizers`, by whoever
        builds the model (training, and loading a checkpoint that was trained so). A model that
        needs more networks for it (the M2 scheme's classifier q(y | x)) builds them here, so that
        a model trained without a pool keeps exactly its networks and weights.
        """
        if not self.takes_unlabelled:
            raise ValueError(f"{self.name} does not learn from unlabelled images (takes_unlabelled is False)")
        self.unlabelled = True

    def _finish_init(self) -> None:
        """After the networks are built and initialised: the moving-average copy, if asked for."""
        if getattr(self.config, "ema", 0.0) > 0:
            self.ema_decoder = copy.deepcopy(getattr(self, self.sampler)).requires_grad_(False)

    # -- training ------------------------------------------------------------------------------
    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        """One update of every network on the batch x [B, C, H, W], y [B]; returns the losses.

        After :meth:`use_unlabelled`, some entries of y are :data:`UNLABELLED` (the pool's images).
        """
        raise NotImplementedError

    @staticmethod
    def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, retain_graph: bool = False) -> None:
        """Update only the optimizer's own parameters on ``loss``.

        Gradients are taken with ``torch.autograd.grad`` for exactly those parameters, so no
        other network's ``.grad`` is touched: each network is updated on its own loss only.
        Under torchrun they are averaged over the ranks before the update (DDP's hooks would not
        see these gradients).
        """
        params = [p for group in optimizer.param_groups for p in group["params"]]
        with outside_autocast(loss.device.type):  # a bf16 training step's backward pass
            grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
        distributed.average_gradients(list(grads))  # data-parallel: the mean over ranks (augment/core/distributed.py)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        optimizer.step()

    def _adam(self, module: nn.Module) -> torch.optim.Adam:
        """Adam over the module's trained weights (never the moving average's copies)."""
        c = self.config
        params = [p for p in module.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=c.lr, betas=(c.beta1, c.beta2))

    @torch.no_grad()
    def update_ema(self) -> None:
        """One moving-average update after a training step (no-op without ``config.ema``)."""
        if self.ema_decoder is None:
            return
        live = getattr(self, self.sampler)
        for avg, w in zip(self.ema_decoder.parameters(), live.parameters(), strict=True):
            avg.lerp_(w, 1.0 - self.config.ema)  # avg <- ema * avg + (1 - ema) * w
        for avg_buffer, b in zip(self.ema_decoder.buffers(), live.buffers(), strict=True):
            avg_buffer.copy_(b)  # batch-norm running statistics: the live network's

    def trained_networks(self) -> list[nn.Module]:
        """The networks that training updates (encoder, decoder, generator, discriminator):
        every child module but the moving average's copy."""
        return [m for name, m in self.named_children() if name != "ema_decoder"]

    # -- generation ----------------------------------------------------------------------------
    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z_p ~ P(z) = N(0, I): [n, latent_dim] on the model's device."""
        device = module_device(self)
        z = distributed.randn(n, self.latent_dim, generator=generator)  # torch.randn, sharded under torchrun
        return z.to(device)

    def sampling_decoder(self) -> Decoder:
        """The network that draws images: the moving average when there is one, else f_d or G."""
        return self.ema_decoder if self.ema_decoder is not None else getattr(self, self.sampler)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f_d(z, y) or G(z, y): [B, latent], [B] -> images [B, C, H, W] in [0, 1]."""
        return self.sampling_decoder()(z, y)

    def describe_sampling(self) -> str:
        """How one image is drawn, in words, for speed tables (benchmarks/): what its cost is made
        of. A model that draws in several network evaluations says how many."""
        return "one decoder pass"

    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images for codes z and labels y, in eval mode (batch norm uses running statistics)."""
        with inference(self):
            return self.decode(z, y)

    # -- classifying (CVAE, CVAE-GAN trained with a pool: the M2 scheme's q(y | x)) ----------------
    @property
    def has_classifier(self) -> bool:
        """Whether :meth:`classify` works: the model holds a classifier q(y | x)."""
        return False

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """q(y | x) as logits [B, K] for images x [B, C, H, W], in eval mode without gradients."""
        raise NotImplementedError(
            f"{self.name} has no classifier q(y | x) (only the M2 scheme's models trained with a pool)"
        )

    # -- encoding (CVAE, CVAE-GAN) -------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q(z | x, y) as (mu, logvar), each [B, latent]."""
        raise NotImplementedError(f"{self.name} has no encoder: it cannot reconstruct or stylise")
