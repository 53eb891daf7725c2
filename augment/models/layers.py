"""Shared building blocks, sized from the data's (channels, height, width).

Every network conditions on the label. Latent-side networks (decoder/generator) see the one-hot
label concatenated to z. Image-side networks see it in one of two ways (``conditioning``):

- ``planes``: the one-hot label broadcast as K extra input channels (the encoder always; the
  discriminator by default);
- ``projection`` (discriminator only; Miyato & Koyama, "cGANs with projection discriminator",
  2018): D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, the inner product of a learned class
  embedding with D's features. The class enters at the output and the first layer no longer
  convolves K constant planes. Measured at 28x28 (docs/profile-28x28.md): it learns the labels
  within hundreds of steps, but stalls below what label planes reach in thousands.

Image-side networks also take "no label" (a negative label: an unlabelled image of a label
budget's pool): all-zero label planes, or no projection term, so that a discriminator can learn
real images without their class (augment/models/cgan.py).

Images are floats in [0, 1] everywhere; decoders end in a sigmoid.

Downsampling is by stride-2 4x4 convolutions, which exactly halve an even side. Upsampling
(``upsample``) is either the same as stride-2 4x4 transposed convolutions (``transposed``, the
DCGAN default) or nearest-neighbour x2 followed by a 3x3 convolution (``nearest``: no
checkerboard artefacts, since every output pixel sees the same number of kernel taps; it costs
more, 9 multiply-adds per output pixel and channel pair against the transposed conv's 4). The number of halvings is chosen so that the smallest feature map
stays >= 4 pixels: 1x8x8 -> 1 halving (4x4), 1x28x28 -> 2 (7x7), 3x32x32 -> 3 (4x4).

``spectral_norm`` wraps every layer of the discriminator in spectral normalisation (Miyato et
al. 2018): each weight is divided by its largest singular value, so D is 1-Lipschitz per layer
and its gradients to the generator stay informative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from augment.core import distributed
from augment.settings.sections import CONDITIONINGS, UPSAMPLINGS

ImageShape = tuple[int, ...]  # (C, H, W)


def num_halvings(height: int, width: int, max_halvings: int = 3) -> int:
    """How many stride-2 halvings keep both sides even and the smallest side >= 4."""
    n = 0
    while n < max_halvings and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, n = height // 2, width // 2, n + 1
    return n


def onehot_or_none(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """One-hot labels [B] -> [B, K]; a negative label (an unlabelled image, models/base.py
    UNLABELLED) is the all-zero row: "no label", which a network conditioned on y can learn too."""
    known = y >= 0  # [B]
    return F.one_hot(y.clamp_min(0), num_classes).float() * known[:, None].float()  # [B, K]


def label_planes(y: torch.Tensor, num_classes: int, height: int, width: int) -> torch.Tensor:
    """One-hot labels as constant image planes: [B] -> [B, K, H, W] (all zero for no label)."""
    onehot = onehot_or_none(y, num_classes)  # [B, K]
    return onehot[:, :, None, None].expand(-1, -1, height, width)


class ConvTrunk(nn.Module):
    """Image + label planes -> a stack of stride-2 conv feature maps.

    Used by the encoder and the discriminator. ``forward`` returns every layer's activation so
    that the CVAE-GAN can compare real and reconstructed images at layer l (L_llike). With
    ``label_planes=False`` (a projection discriminator) the trunk sees the image alone.
    """

    def __init__(
        self,
        image_shape: ImageShape,
        num_classes: int,
        width: int,
        norm: str,
        label_planes: bool = True,
        stem: bool = True,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.num_classes = num_classes
        self.label_planes = label_planes
        self.layers = nn.ModuleList()
        channels = c + (num_classes if label_planes else 0)
        n = num_halvings(h, w)
        # stem: a first stride-1 3x3 layer so that 8x8 inputs (one halving) still get two conv
        # layers. At 28x28 it is the costliest layer (width channels at full resolution, over
        # C + K input planes) and the halvings alone give two layers: ``stem=False`` drops it.
        strides = [1] * stem + [2] * n
        for i, stride in enumerate(strides):
            out = width * 2 ** max(i - stem, 0)
            conv = nn.Conv2d(channels, out, 4 if stride == 2 else 3, stride, 1, bias=norm == "none")
            block: list[nn.Module] = [conv]
            if norm == "batch" and i > 0:
                block.append(nn.BatchNorm2d(out))
            block.append(nn.LeakyReLU(0.2))
            self.layers.append(nn.Sequential(*block))
            channels = out
        self.out_channels = channels
        self.out_hw = (h >> n, w >> n)
        self.flat_dim = channels * self.out_hw[0] * self.out_hw[1]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        b, _, h, w = x.shape
        h_ = x  # [B, C, H, W]
        if self.label_planes:
            if y is None:
                raise ValueError("this trunk sees label planes: it needs the labels y")
            h_ = torch.cat([x, label_planes(y, self.num_classes, h, w)], dim=1)  # [B, C+K, H, W]
        feats = []
        for layer in self.layers:
            h_ = layer(h_)
            feats.append(h_)
        return feats  # last: [B, out_channels, H/2^n, W/2^n]


def upsampling_block(c_in: int, c_out: int, upsample: str) -> list[nn.Module]:
    """Layers that double the side: [B, c_in, h, w] -> [B, c_out, 2h, 2w] (before norm/activation)."""
    if upsample == "transposed":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
    if upsample == "nearest":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)]
    raise ValueError(f"upsample must be one of {', '.join(UPSAMPLINGS)}, got {upsample!r}")


class Decoder(nn.Module):
    """(z, y) -> image in [0, 1]: a linear layer to a small feature map, then x2 upsampling blocks.

    The CVAE's decoder f_d, the CGAN's generator G and the CVAE-GAN's decoder are this network.
    """

    def __init__(
        self, image_shape: ImageShape, num_classes: int, latent_dim: int, width: int, upsample: str = "transposed"
    ):
        super().__init__()
        c, h, w = image_shape
        self.num_classes = num_classes
        n = num_halvings(h, w)
        self.base_channels = width * 2 ** max(n - 1, 0)
        self.base_hw = (h >> n, w >> n)
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + num_classes, self.base_channels * self.base_hw[0] * self.base_hw[1]),
            nn.BatchNorm1d(self.base_channels * self.base_hw[0] * self.base_hw[1]),
            nn.ReLU(),
        )
        ups: list[nn.Module] = []
        channels = self.base_channels
        for _ in range(n):
            out = max(width, channels // 2)
            ups += [*upsampling_block(channels, out, upsample), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.ups = nn.Sequential(*ups)
        self.to_image = nn.Conv2d(channels, c, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.forward_onehot(z, F.one_hot(y, self.num_classes).float())  # onehot [B, K]

    def forward_onehot(self, z: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """The decoder fed a one-hot [B, K] (possibly soft: interpolation grids) instead of labels."""
        h = self.fc(torch.cat([z, onehot.to(z.dtype)], dim=1))  # [B, base_c * h0 * w0]
        h = h.view(-1, self.base_channels, *self.base_hw)  # [B, base_c, h0, w0]
        h = self.ups(h)  # [B, width, H, W]
        # The sigmoid in float32 also under bf16 autocast: near 0 and 1, where most pixels of a
        # digit lie, bf16 would round x~ to exactly 0 or 1 and the reconstruction NLL to its clamp.
        return torch.sigmoid(self.to_image(h).float())  # [B, C, H, W] in [0, 1], float32


class Encoder(nn.Module):
    """Q(z | x, y): a Gaussian with diagonal covariance, returned as (mu, logvar), each [B, latent]."""

    def __init__(self, image_shape: ImageShape, num_classes: int, latent_dim: int, width: int, stem: bool = True):
        super().__init__()
        self.trunk = ConvTrunk(image_shape, num_classes, width, norm="batch", stem=stem)
        self.head = nn.Linear(self.trunk.flat_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x, y)[-1].flatten(1)  # [B, flat_dim]
        mu, logvar = self.head(h).chunk(2, dim=1)  # [B, latent] each
        return mu, logvar


class Classifier(nn.Module):
    """q(y | x): class logits [B, K] from the image alone (the M2 scheme's classifier of a label
    budget's pool, augment/models/cvae.py). The encoder's trunk without label planes, batch norm
    as the encoder's, and a linear head to the K logits."""

    def __init__(self, image_shape: ImageShape, num_classes: int, width: int, stem: bool = True):
        super().__init__()
        self.trunk = ConvTrunk(image_shape, num_classes, width, norm="batch", label_planes=False, stem=stem)
        self.head = nn.Linear(self.trunk.flat_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)[-1].flatten(1))  # [B, K] logits


class Discriminator(nn.Module):
    """D(x, y): a real-vs-fake logit, and every conv layer's activation (for L_llike).

    No batch norm: the CVAE-GAN compares layer-l activations image by image, and batch statistics
    would couple the real and reconstructed batches. ``conditioning`` and ``spectral_norm``: see
    the module docstring.
    """

    def __init__(
        self,
        image_shape: ImageShape,
        num_classes: int,
        width: int,
        conditioning: str = "planes",
        spectral_norm: bool = False,
        stem: bool = True,
    ):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {', '.join(CONDITIONINGS)}, got {conditioning!r}")
        self.conditioning = conditioning
        self.trunk = ConvTrunk(
            image_shape, num_classes, width, norm="none", label_planes=conditioning == "planes", stem=stem
        )
        self.head = nn.Linear(self.trunk.flat_dim, 1)  # psi
        # embed(y): one vector per class in the space of phi(x), the flattened last activation.
        self.embed = nn.Embedding(num_classes, self.trunk.flat_dim) if conditioning == "projection" else None
        self.spectral_norm = spectral_norm

    def add_spectral_norm(self) -> None:
        """Wrap every weight in spectral normalisation; called after weight initialisation."""
        if self.spectral_norm:
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
                    spectral_norm(module)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = self.trunk(x, y)
        phi = feats[-1].flatten(1)  # [B, flat_dim]
        logit = self.head(phi).squeeze(1)  # [B]
        if self.embed is not None:
            known = (y >= 0)[:, None].to(phi.dtype)  # [B, 1]: no label -> no projection term, psi(phi) alone
            logit = logit + (self.embed(y.clamp_min(0)) * known * phi).sum(dim=1)  # + <embed(y), phi(x)>  [B]
        return logit, feats


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I), so gradients flow to mu and logvar."""
    eps = distributed.randn(*mu.shape, device=mu.device, dtype=mu.dtype)  # randn_like(mu); torchrun: sharded
    return mu + torch.exp(0.5 * logvar) * eps


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) for convolutions, linear layers and class embeddings,
    N(1, 0.02) for batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        if parametrize.is_parametrized(module, "weight"):
            raise RuntimeError("init_weights must run before spectral_norm wraps the weights")
        nn.init.normal_(module.weight, 0.0, 0.02)
        bias = getattr(module, "bias", None)
        if bias is not None:
            nn.init.zeros_(bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
