"""Class-conditional flow matching (Lipman et al. 2023) with classifier-free guidance.

Training: an image x_1 (scaled to [-1, 1]), noise x_0 ~ N(0, I), t ~ U(0, 1), the straight path
x_t = (1 - t) x_0 + t x_1; the U-Net v(x_t, t, y) regresses onto its velocity x_1 - x_0
(:func:`augment.models.losses.flow_matching_loss`). With probability ``label_dropout`` the label
is replaced by "no label" (index K), so the same network is also the unconditional v(x, t, none).

With a label budget's pool (``use_unlabelled``, ``takes_unlabelled``): an unlabelled image (label
UNLABELLED) is trained as that "no label" class, the one it belongs to anyway. The pool thus
teaches v(x, t, none) what images look like, which guidance (w > 0) and the encoder's
``encode_label`` < 1 read; the conditional velocities learn from the labelled images alone.

Sampling: integrate dx/dt = v from t = 0 (the code z, reshaped to an image: the model's "latent"
is a noise image, ``latent_dim`` = C x H x W, so every code path that draws z works unchanged) to
t = 1 with a fixed-step solver (:func:`integrate`: Euler, midpoint or Heun, ``sample_steps``
steps), and the guided velocity

    v~ = v(x, t, y) + w * (v(x, t, y) - v(x, t, none))        (w = ``guidance``; w = 0: conditional)

Network evaluations per image: steps x (1 for Euler, 2 for midpoint and Heun) x (2 when w > 0).
The moving average of the loop (``ema``) averages the velocity network; sampling uses it.
The sampler's settings (``guidance``, ``solver``, ``sample_steps``, and ``code_spread`` and
``encode_label`` below) are :class:`~augment.settings.sections.CFMSampling`, params.yaml's
``sample.generators.cfm``: read from :attr:`CFM.sampling`, never from the training config, so a
trained checkpoint draws with any of them without retraining.

Encoding (stylisation through the flow): the ODE is invertible, so a real image x_1 of class y is
integrated *back* from t = 1 to t = 0 under the same guided field of its own label; the noise
image it arrives at is its code x_0(x, y), and decoding that code under y gives x back (up to the
solver's error), under another label the same noise drawn as that class. ``encode_label`` (lambda)
weighs the field that encodes: lambda * (the guided field of y) + (1 - lambda) * v(x, t, none), so
lambda = 1 is the round trip above and lambda = 0 inverts the image under the unlabelled flow,
whose noise keeps more of the writer's style (and less of the class). The code's posterior is
a point; :meth:`CFM.encode` reports it as mean x_0 with the spread ``code_spread`` (sigma, the
same in every pixel), so the restyle sources draw z = x_0 + noise * code_spread * eps near it
(``code_spread`` 0: every restyle is the reconstruction). Encoding costs one more integration.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from augment.core.inference import module_device
from augment.models.base import ConditionalGenerator
from augment.models.losses import flow_matching_loss
from augment.models.unet import ConditionalUNet
from augment.settings.sections import CFMConfig, CFMSampling

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x [B, ...], t [B]) -> dx/dt

# Velocity evaluations one step of each solver of :func:`integrate` makes (its cost per step).
EVALUATIONS_PER_STEP = {"euler": 1, "midpoint": 2, "heun": 2}


def integrate(
    velocity: Velocity,
    x0: torch.Tensor,
    steps: int,
    solver: str = "midpoint",
    start: float = 0.0,
    end: float = 1.0,
) -> torch.Tensor:
    """x(end) from x(start) = x0 under dx/dt = velocity(x, t), in ``steps`` equal steps of
    h = (end - start) / steps: noise to image by default, image to noise with start 1, end 0
    (h < 0: the same formulas run backwards in time).

    euler: x += h v(x, t); midpoint: x += h v(x + h/2 v(x, t), t + h/2); heun: x += h/2 (k1 + k2)
    with k1 = v(x, t), k2 = v(x + h k1, t + h). Euler is exact for a constant field; midpoint and
    Heun also for one linear in t."""
    if steps < 1:
        raise ValueError(f"sample_steps must be >= 1, got {steps}")
    if solver not in EVALUATIONS_PER_STEP:
        raise ValueError(f"unknown solver {solver!r}")
    x, h = x0, (end - start) / steps
    for i in range(steps):
        t = torch.full((x.shape[0],), start + i * h, device=x.device, dtype=torch.float32)  # [B]
        k1 = velocity(x, t)
        if solver == "euler":
            x = x + h * k1
        elif solver == "midpoint":
            x = x + h * velocity(x + 0.5 * h * k1, t + 0.5 * h)
        else:  # heun
            k2 = velocity(x + h * k1, t + h)
            x = x + 0.5 * h * (k1 + k2)
    return x


def guided_passes(weight: float) -> int:
    """Velocities :func:`guided` evaluates per call: the conditional alone at w = 0, else the
    conditional and the unconditional (one batch of twice the images)."""
    return 1 if weight == 0 else 2


def guided(net: Callable[..., torch.Tensor], y: torch.Tensor, null: int, weight: float) -> Velocity:
    """The velocity field of labels y [B] under classifier-free guidance of weight w: one batched
    evaluation of the conditional and the unconditional velocity (w = 0: the conditional alone)."""

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if guided_passes(weight) == 1:
            return net(x, t, y)
        none = torch.full_like(y, null)
        v = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, none]))  # [2B, C, H, W]
        v_cond, v_uncond = v.chunk(2)
        return v_cond + weight * (v_cond - v_uncond)

    return velocity


class CFM(ConditionalGenerator):
    name = "cfm"
    config_class = CFMConfig
    sampling_class = CFMSampling  # guidance, solver, sample_steps, code_spread, encode_label
    family = "flow"
    can_encode = True  # through the flow: integrate a real image back to t = 0 (module docstring)
    takes_unlabelled = True  # the pool's images train the "no label" class (module docstring)
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
        drop = drop | (y < 0)  # an unlabelled image (UNLABELLED) is always "no label"
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
        c = self.sampling
        x0 = z.to(module_device(self)).view(z.shape[0], *self.image_shape)
        x1 = integrate(self._field(y, c.guidance), x0, c.sample_steps, c.solver)
        return ((x1 + 1) / 2).clamp(0, 1)

    def describe_sampling(self) -> str:
        c = self.sampling
        evaluations = c.sample_steps * EVALUATIONS_PER_STEP[c.solver] * guided_passes(c.guidance)
        return (
            f"{c.solver}, {c.sample_steps} steps, guidance {c.guidance:g}: {evaluations} network evaluations per image"
        )

    def _field(self, y: torch.Tensor, weight: float) -> Velocity:
        """The velocity of labels y [B] guided with ``weight``, through the network that samples:
        ``guidance`` to decode, the encoding weight of ``encode_label`` to encode."""
        return guided(self.sampling_decoder(), y, self.num_classes, weight)

    # ---------------------------------------------------------------------------------------
    # (4) encoding: the same ODE backwards, from a real image at t = 1 to its noise at t = 0
    # ---------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images x [B, C, H, W] in [0, 1] with their labels y [B] -> (x_0 [B, C*H*W], logvar
        [B, C*H*W]): the noise image the flow of y (weighed by ``encode_label``) carries to x, and
        log code_spread^2."""
        c = self.sampling
        x1 = 2 * x.to(module_device(self)).float() - 1  # [B, C, H, W] in [-1, 1]
        # lambda g(y) + (1 - lambda) v(none), g(y) = (1 + w) v(y) - w v(none) the sampling field, is
        # guidance of weight w + (lambda - 1)(1 + w): exactly w at lambda = 1 (the exact round trip)
        weight = c.guidance + (c.encode_label - 1) * (1 + c.guidance)
        x0 = integrate(self._field(y, weight), x1, c.sample_steps, c.solver, start=1.0, end=0.0)  # [B, C, H, W]
        x0 = x0.flatten(1)  # [B, C*H*W]
        spread = max(c.code_spread, 1e-12)  # 0: a point, up to 1e-12 (log 0 is not a number)
        return x0, torch.full_like(x0, 2 * math.log(spread))
