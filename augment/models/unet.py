"""A small class-conditional U-Net: the velocity network v(x_t, t, y) of flow matching.

Two resolution levels below the input (H -> H/2 -> H/4, each side rounded up, so 8x8, 28x28 and
32x32 all fit) with one residual block per level on the way down, one in the middle and one per
level on the way up, skip connections by concatenation. The time t in [0, 1] enters through a
sinusoidal embedding and an MLP, the label through an embedding table with one extra row, the
"no label" of classifier-free guidance (index ``num_classes``); their sum is added to every
residual block's features. GroupNorm (no batch statistics: a network evaluated at many t per
sample must not depend on the batch), SiLU, and a zero-initialised last layer so that training
starts from v = 0.

Written here rather than taken from diffusers' ``UNet2DModel``: that network's smallest useful
configuration (attention blocks, four levels) is built for 32x32 and above, adds a dependency of
its own to the library, and a 2-level network is all 8x8 images have room for.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t [B] in [0, 1]: [B, dim], frequencies from 1 to 1000 (scaled t)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / max(1, half))
    angles = 1000.0 * t.float()[:, None] * freqs[None, :]  # [B, half]
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))  # odd dim: one zero column


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3, plus the (time, label) embedding, twice; a 1x1 skip when the
    channel count changes."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # [B, c_out, H, W]
        h = h + self.emb(emb)[:, :, None, None]  # the embedding, broadcast over the pixels
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class ConditionalUNet(nn.Module):
    """v(x, t, y): images [B, C, H, W], times [B], labels [B] (``num_classes`` = no label) ->
    velocities [B, C, H, W]."""

    def __init__(self, channels: int, num_classes: int, width: int) -> None:
        super().__init__()
        w, emb_dim = width, 4 * width
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(w, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label = nn.Embedding(num_classes + 1, emb_dim)  # the last row: no label (guidance)
        self.inp = nn.Conv2d(channels, w, 3, padding=1)
        self.down1 = ResBlock(w, w, emb_dim)  # H
        self.pool1 = nn.Conv2d(w, w, 3, stride=2, padding=1)  # -> ceil(H / 2)
        self.down2 = ResBlock(w, 2 * w, emb_dim)
        self.pool2 = nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)  # -> ceil(H / 4)
        self.mid = ResBlock(2 * w, 2 * w, emb_dim)
        self.up2 = ResBlock(4 * w, 2 * w, emb_dim)  # after the skip of level 2
        self.up1 = ResBlock(3 * w, w, emb_dim)  # after the skip of level 1
        self.out_norm = nn.GroupNorm(_groups(w), w)
        self.out = nn.Conv2d(w, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # v = 0 at the start
        if self.out.bias is not None:
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(time_embedding(t, self.width)) + self.label(y)  # [B, 4w]
        h1 = self.down1(self.inp(x), emb)  # [B, w, H, W]
        h2 = self.down2(self.pool1(h1), emb)  # [B, 2w, H/2, W/2]
        h = self.mid(self.pool2(h2), emb)  # [B, 2w, H/4, W/4]
        h = F.interpolate(h, size=h2.shape[-2:], mode="nearest")
        h = self.up2(torch.cat([h, h2], dim=1), emb)  # [B, 2w, H/2, W/2]
        h = F.interpolate(h, size=h1.shape[-2:], mode="nearest")
        h = self.up1(torch.cat([h, h1], dim=1), emb)  # [B, w, H, W]
        return self.out(F.silu(self.out_norm(h)))
