"""Class-conditional flow matching (Lipman et al. 2023) with classifier-free guidance.

Training: an image x_1 (scaled to [-1, 1]), noise x_0 ~ N(0, I), t ~ U(0, 1), the straight path
x_t = (1 - t) x_0 + t x_1; the U-Net v(x_t, t, y) regresses onto its velocity x_1 - x_0
(:func:`augment.models.losses.flow_matching_loss`). With probability ``label_dropout`` the label
is replaced by "no label" (index K), so the same network is also the unconditional v(x, t, none).

Sampling: integrate dx/dt = v from t = 0 (the code z, reshaped to an image: the model's "latent"
is a noise image, ``latent_dim`` = C x H x W, so every code path that draws z works unchanged) to
t = 1 with a fixed-step solver (:func:`integrate`: Euler, midpoint or Heun, ``sample_steps``
steps), and the guided velocity

    v~ = v(x, t, y) + w * (v(x, t, y) - v(x, t, none))        (w = ``guidance``; w = 0: conditional)

Network evaluations per image: steps x (1 for Euler, 2 for midpoint and Heun) x (2 when w > 0).
The moving average of the loop (``ema``) averages the velocity network; sampling uses it. No
encoder: stylisation through the flow (integrating a real image back to t = 0) is not written.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from augment.config import CFMConfig
from augment.inference import module_device
from augment.models.base import ConditionalGenerator
from augment.models.losses import flow_matching_loss
from augment.models.unet import ConditionalUNet

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x [B, ...], t [B]) -> dx/dt


def integrate(velocity: Velocity, x0: torch.Tensor, steps: int, solver: str = "midpoint") -> torch.Tensor:
    """x(1) from x(0) = x0 under dx/dt = velocity(x, t), with ``steps`` equal steps of h = 1 / steps.

    euler: x += h v(x, t); midpoint: x += h v(x + h/2 v(x, t), t + h/2); heun: x += h/2 (k1 + k2)
    with k1 = v(x, t), k2 = v(x + h k1, t + h). Euler is exact for a constant field; midpoint and
    Heun also for one linear in t."""
    if steps < 1:
        raise ValueError(f"sample_steps must be >= 1, got {steps}")
    x, h = x0, 1.0 / steps
    for i in range(steps):
        t = torch.full((x.shape[0],), i * h, device=x.device, dtype=torch.float32)  # [B]
        k1 = velocity(x, t)
        if solver == "euler":
            x = x + h * k1
        elif solver == "midpoint":
            x = x + h * velocity(x + 0.5 * h * k1, t + 0.5 * h)
        elif solver == "heun":
            k2 = velocity(x + h * k1, t + h)
            x = x + 0.5 * h * (k1 + k2)
        else:
            raise ValueError(f"unknown solver {solver!r}")
    return x


def guided(net: Callable[..., torch.Tensor], y: torch.Tensor, null: int, weight: float) -> Velocity:
    """The velocity field of labels y [B] under classifier-free guidance of weight w: one batched
    evaluation of the conditional and the unconditional velocity (w = 0: the conditional alone)."""

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if weight == 0:
            return net(x, t, y)
        none = torch.full_like(y, null)
        v = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, none]))  # [2B, C, H, W]
        v_cond, v_uncond = v.chunk(2)
        return v_cond + weight * (v_cond - v_uncond)

    return velocity


class CFM(ConditionalGenerator):
    name = "cfm"
    config_class = CFMConfig
    can_encode = False
    loss_names = ("loss",)
    sampler = "velocity"

    def __init__(self, config: CFMConfig, image_shape, num_classes: int) -> None:
        super().__init__(config, image_shape, num_classes)
        self.latent_dim = math.prod(self.image_shape)  # the code is the noise image x_0, flattened
        self.velocity = ConditionalUNet(self.image_shape[0], num_classes, config.width)
        self._finish_init()

    def make_optimizers(self):
        return {"velocity": self._adam(self.velocity)}

    # ---------------------------------------------------------------------------------------
    # (1) the path: x_t = (1 - t) x_0 + t x_1, target x_1 - x_0; labels dropped for guidance
    # ---------------------------------------------------------------------------------------
    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        x1 = 2 * x - 1  # [B, C, H, W] in [-1, 1]
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=x1.device)  # [B]
        xt = (1 - t)[:, None, None, None] * x0 + t[:, None, None, None] * x1
        drop = torch.rand(y.shape[0], device=y.device) < self.config.label_dropout
        y_in = torch.where(drop, torch.full_like(y, self.num_classes), y)  # K: no label
        return {"loss": flow_matching_loss(self.velocity(xt, t, y_in), x0, x1)}

    # ---------------------------------------------------------------------------------------
    # (2) one update of the velocity network
    # ---------------------------------------------------------------------------------------
    def train_step(self, x, y, optimizers):
        losses = self.losses(x, y)
        self._step(optimizers["velocity"], losses["loss"])
        return {k: v.item() for k, v in losses.items()}

    # ---------------------------------------------------------------------------------------
    # (3) sampling: the ODE from the code (noise image) at t = 0 to an image at t = 1
    # ---------------------------------------------------------------------------------------
    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Codes z [B, C*H*W] (noise images) and labels y [B] -> images [B, C, H, W] in [0, 1]."""
        c = self.config
        x0 = z.to(module_device(self)).view(z.shape[0], *self.image_shape)
        field = guided(self.sampling_decoder(), y, self.num_classes, c.guidance)
        x1 = integrate(field, x0, c.sample_steps, c.solver)
        return ((x1 + 1) / 2).clamp(0, 1)
