"""Shared building blocks, sized from the data's (channels, height, width).

Every network conditions on the label: image-side networks (encoder, discriminator) see the
one-hot label broadcast as extra input channels; latent-side networks (decoder/generator) see it
concatenated to z. Images are floats in [0, 1] everywhere; decoders end in a sigmoid.

Down/upsampling is by stride-2 4x4 convolutions, which exactly halve/double an even side. The
number of halvings is chosen so that the smallest feature map stays >= 4 pixels:
1x8x8 -> 1 halving (4x4), 1x28x28 -> 2 (7x7), 3x32x32 -> 3 (4x4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ImageShape = tuple[int, int, int]  # (C, H, W)


def num_halvings(height: int, width: int, max_halvings: int = 3) -> int:
    """How many stride-2 halvings keep both sides even and the smallest side >= 4."""
    n = 0
    while n < max_halvings and height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, n = height // 2, width // 2, n + 1
    return n


def label_planes(y: torch.Tensor, num_classes: int, height: int, width: int) -> torch.Tensor:
    """One-hot labels as constant image planes: [B] -> [B, K, H, W]."""
    onehot = F.one_hot(y, num_classes).float()  # [B, K]
    return onehot[:, :, None, None].expand(-1, -1, height, width)


class ConvTrunk(nn.Module):
    """Image + label planes -> a stack of stride-2 conv feature maps.

    Used by the encoder and the discriminator. ``forward`` returns every layer's activation so
    that the CVAE-GAN can compare real and reconstructed images at layer l (L_llike).
    """

    def __init__(self, image_shape: ImageShape, num_classes: int, width: int, norm: str) -> None:
        super().__init__()
        c, h, w = image_shape
        self.num_classes = num_classes
        self.layers = nn.ModuleList()
        channels = c + num_classes
        n = num_halvings(h, w)
        # A first stride-1 layer so that 8x8 inputs (one halving) still get two conv layers.
        strides = [1] + [2] * n
        for i, stride in enumerate(strides):
            out = width * 2 ** max(i - 1, 0)
            conv = nn.Conv2d(channels, out, 4 if stride == 2 else 3, stride, 1, bias=norm == "none")
            block = [conv]
            if norm == "batch" and i > 0:
                block.append(nn.BatchNorm2d(out))
            block.append(nn.LeakyReLU(0.2))
            self.layers.append(nn.Sequential(*block))
            channels = out
        self.out_channels = channels
        self.out_hw = (h >> n, w >> n)
        self.flat_dim = channels * self.out_hw[0] * self.out_hw[1]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        b, _, h, w = x.shape
        h_ = torch.cat([x, label_planes(y, self.num_classes, h, w)], dim=1)  # [B, C+K, H, W]
        feats = []
        for layer in self.layers:
            h_ = layer(h_)
            feats.append(h_)
        return feats  # last: [B, out_channels, H/2^n, W/2^n]


class Decoder(nn.Module):
    """(z, y) -> image in [0, 1]: a linear layer to a small feature map, then stride-2 upsampling.

    The CVAE's decoder f_d, the CGAN's generator G and the CVAE-GAN's decoder are this network.
    """

    def __init__(self, image_shape: ImageShape, num_classes: int, latent_dim: int, width: int):
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
        for i in range(n):
            out = max(width, channels // 2)
            ups += [nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.ups = nn.Sequential(*ups)
        self.to_image = nn.Conv2d(channels, c, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(y, self.num_classes).float()  # [B, K]
        h = self.fc(torch.cat([z, onehot], dim=1))  # [B, base_c * h0 * w0]
        h = h.view(-1, self.base_channels, *self.base_hw)  # [B, base_c, h0, w0]
        h = self.ups(h)  # [B, width, H, W]
        return torch.sigmoid(self.to_image(h))  # [B, C, H, W] in [0, 1]


class Encoder(nn.Module):
    """Q(z | x, y): a Gaussian with diagonal covariance, returned as (mu, logvar), each [B, latent]."""

    def __init__(self, image_shape: ImageShape, num_classes: int, latent_dim: int, width: int):
        super().__init__()
        self.trunk = ConvTrunk(image_shape, num_classes, width, norm="batch")
        self.head = nn.Linear(self.trunk.flat_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x, y)[-1].flatten(1)  # [B, flat_dim]
        mu, logvar = self.head(h).chunk(2, dim=1)  # [B, latent] each
        return mu, logvar


class Discriminator(nn.Module):
    """D(x, y): a real-vs-fake logit, and every conv layer's activation (for L_llike).

    No batch norm: the CVAE-GAN compares layer-l activations image by image, and batch statistics
    would couple the real and reconstructed batches.
    """

    def __init__(self, image_shape: ImageShape, num_classes: int, width: int):
        super().__init__()
        self.trunk = ConvTrunk(image_shape, num_classes, width, norm="none")
        self.head = nn.Linear(self.trunk.flat_dim, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = self.trunk(x, y)
        logit = self.head(feats[-1].flatten(1)).squeeze(1)  # [B]
        return logit, feats


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I), so gradients flow to mu and logvar."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) for convolutions, N(1, 0.02) for batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
