"""Style statistics of an image, and how much of a source image's style its stylisations keep.

A handwritten digit's *style* is what its label does not say. Two numbers of it are measured
here, both from the image's moments (docs/style.md has the definitions and a worked example):

- **slant**: the horizontal shear of the ink, -mu11 / mu02. mu11 and mu02 are the ink's central
  second moments, sum I (x - xc)(y - yc) and sum I (y - yc)^2, with x the column and y the row
  (rows grow *downward*). A stroke whose top leans right has x falling as y grows, so mu11 < 0;
  the minus sign makes its slant positive (sign convention, the one place it is written). A shear
  x -> x + s (yc - y) of an upright shape has slant s.
- **thickness**: the mean stroke width in pixels, 2 * m00 / P. m00 = sum I is the ink's area (the
  zeroth moment), P = sum |grad I| its boundary length (the total variation: by the coarea
  formula the mean length of the level sets' boundaries). A long bar of width w has area L w and
  boundary 2 (L + w), so 2 m00 / P = L w / (L + w) -> w; a thicker stroke of the same length has
  more ink and a larger thickness. Unlike m00 alone it does not grow with the digit's size.

**Ink** (:func:`ink`): what the moments are taken of. A grey image is ink on a black ground
already (the image itself). A colour image is ink of any colour on a ground of any colour (an
MNIST-M-style digit over a photograph): its ink is each pixel's distance from the ground's
colour, mean |x_c - g_c| over the channels, with the ground's colour g the per-channel median of
the image's outer frame (a ring ``FRAME`` of the side wide: digits are centred, the frame is
ground). For white ink on black it is the grey image again, so slant and thickness mean the same
on both.

**Colour** (RGB images only, :func:`colour_statistics`): six numbers, the ground's colour g (3
channels) and the ink's colour, the ink-weighted mean colour of the image (3 channels). In an
MNIST-M-style image these are what the label leaves free besides the strokes' shape; a
stylisation that keeps the source's style draws the same ground and ink colours in every class.
``style_r_colour`` and ``style_gain_colour`` are the means of the six statistics' r and gain.

*Style transfer* (:func:`style_transfer`): the stylisation of a model with an encoder decodes a
real image's code as every class (augment/sampling/stylize.py). Its outputs in the *other* classes keep the
source's style when their statistics follow the source's: for each pair of a source class a and
a target class b != a, the Pearson r over the source images of class a between the source's
statistic and that of its output drawn as b; then the mean over the pairs. Correlating within one
source class and one target class takes both classes' own mean slant and width out, so only the
writer's variation within a class counts (a 1 is thinner than a 0 whatever the code says). r near
1: a slanted, thick source is drawn slanted and thick in every class; r near 0: the outputs look
alike whatever their source.

r says whether the drawings *follow* the source; the **gain** says how much of the source's
deviation they keep: the least-squares slope of the drawing's statistic on the source's, over the
same pairs. Gain 1: a source 1 pixel thicker than its class's mean is drawn 1 pixel thicker; gain
0.3: only a third of it shows, and the drawings of one class look alike even where r is high.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "STYLE_STATISTICS",
    "COLOUR_STATISTICS",
    "style_statistics",
    "slant",
    "thickness",
    "ink",
    "ground_colour",
    "colour_statistics",
    "style_transfer",
]

STYLE_STATISTICS = ("slant", "thickness")
# RGB images: the ground's and the ink's colour, channel by channel; summarised as "colour"
COLOUR_STATISTICS = tuple(f"{part}_{c}" for part in ("ground", "ink") for c in ("r", "g", "b"))
FRAME = 1 / 8  # the outer frame that shows the ground: this share of the side (at least 1 pixel)

_EPS = 1e-8  # an empty (all-zero) image has no slant or thickness: it scores 0, not a NaN


def _batch(images: np.ndarray) -> np.ndarray:
    """[N, C, H, W] or [N, H, W] (one channel) in [0, 1] -> [N, C, H, W] float64."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"expected images [N, C, H, W] or [N, H, W], got shape {images.shape}")
    return images


def ground_colour(images: np.ndarray) -> np.ndarray:
    """The ground's colour [N, C]: each channel's median over the image's outer frame (``FRAME``
    of the side wide, at least one pixel)."""
    x = _batch(images)  # [N, C, H, W]
    _, c, h, w = x.shape
    f = max(1, int(FRAME * min(h, w)))
    frame = np.ones((h, w), dtype=bool)
    frame[f : h - f, f : w - f] = False  # [H, W]: True on the ring
    return np.median(x[:, :, frame], axis=2)  # [N, C]


def ink(images: np.ndarray) -> np.ndarray:
    """[N, C, H, W] -> [N, H, W]: the image itself for one channel; for colour, each pixel's mean
    absolute distance from the ground's colour over the channels (module docstring)."""
    x = _batch(images)
    if x.shape[1] == 1:
        return x[:, 0]
    return np.abs(x - ground_colour(x)[:, :, None, None]).mean(axis=1)


def colour_statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """RGB images [N, 3, H, W] -> {"ground_r" ... "ink_b": [N]}: the ground's colour and the
    ink-weighted mean colour (module docstring; an image without ink has the ground's colour)."""
    x = _batch(images)
    if x.shape[1] != 3:
        raise ValueError(f"colour statistics need RGB images [N, 3, H, W], got {x.shape[1]} channel(s)")
    ground = ground_colour(x)  # [N, 3]
    weight = ink(x)  # [N, H, W]
    total = weight.sum(axis=(1, 2))  # [N]
    inked = (x * weight[:, None]).sum(axis=(2, 3)) / np.maximum(total, _EPS)[:, None]  # [N, 3]
    colour = np.where(total[:, None] > _EPS, inked, ground)
    parts = {"ground": ground, "ink": colour}
    return {name: parts[name.split("_")[0]][:, "rgb".index(name[-1])] for name in COLOUR_STATISTICS}


def slant(images: np.ndarray) -> np.ndarray:
    """-mu11 / mu02 per image: [N, C, H, W] -> [N] (module docstring; 0 for an empty image)."""
    g = ink(images)  # [N, H, W]
    _, h, w = g.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)  # [H, W] each: row and column of each pixel
    m00 = g.sum(axis=(1, 2)) + _EPS  # [N]
    xc = (g * x).sum(axis=(1, 2)) / m00  # [N]
    yc = (g * y).sum(axis=(1, 2)) / m00  # [N]
    dx = x[None] - xc[:, None, None]  # [N, H, W]
    dy = y[None] - yc[:, None, None]  # [N, H, W]
    mu11 = (g * dx * dy).sum(axis=(1, 2))  # [N]
    mu02 = (g * dy * dy).sum(axis=(1, 2))  # [N]
    return -mu11 / (mu02 + _EPS)


def thickness(images: np.ndarray) -> np.ndarray:
    """2 * m00 / sum |grad I| per image, in pixels: [N, C, H, W] -> [N] (0 for an empty image).

    The gradient is the central difference over the image and one ring of zeros around it, so
    the ink's edge counts in full even where the ink touches the border.
    """
    g = np.pad(ink(images), ((0, 0), (2, 2), (2, 2)))  # [N, H+4, W+4]
    gy = 0.5 * (g[:, 2:, 1:-1] - g[:, :-2, 1:-1])  # [N, H+2, W+2] d/drow
    gx = 0.5 * (g[:, 1:-1, 2:] - g[:, 1:-1, :-2])  # [N, H+2, W+2] d/dcolumn
    boundary = np.sqrt(gx**2 + gy**2).sum(axis=(1, 2))  # [N]
    return 2.0 * g.sum(axis=(1, 2)) / (boundary + _EPS)


def style_statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """{"slant": [N], "thickness": [N]} of a batch of images in [0, 1], and for RGB images the
    six colour statistics (:data:`COLOUR_STATISTICS`)."""
    stats = {"slant": slant(images), "thickness": thickness(images)}
    if _batch(images).shape[1] == 3:
        stats.update(colour_statistics(images))
    return stats


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson's r of two [n] arrays; None when either is constant (to rounding) or n < 3."""
    if len(a) < 3 or np.ptp(a) <= 1e-9 or np.ptp(b) <= 1e-9:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _gain(a: np.ndarray, b: np.ndarray) -> float | None:
    """The least-squares slope of b on a, cov(a, b) / var(a); None when a is constant or n < 3.
    0 (not None) when b is constant: the drawings do not follow the source at all."""
    if len(a) < 3 or np.ptp(a) <= 1e-9:
        return None
    a0 = a - a.mean()
    return float((a0 * (b - b.mean())).sum() / (a0 * a0).sum())


def style_transfer(sources: np.ndarray, labels: np.ndarray, styled: np.ndarray) -> dict[str, float | None]:
    """How much of each source image's style its stylisations into other classes keep.

    ``sources`` [N, C, H, W] real images with ``labels`` [N]; ``styled`` [N, K, C, H, W], the
    source i drawn as class k (augment.sampling.stylize.stylize). Returns ``style_r_<statistic>`` and
    ``style_gain_<statistic>`` for each of :data:`STYLE_STATISTICS`: the mean over (source class
    a, target class b != a) of Pearson's r, and of the slope, over the sources of class a, between
    the source's statistic and its output's as b (module docstring); None when no pair has three
    sources with a varying statistic.
    """
    labels = np.asarray(labels)
    n, k = styled.shape[:2]
    if len(sources) != n or len(labels) != n:
        raise ValueError(f"style_transfer: {len(sources)} sources, {len(labels)} labels, {n} styled rows")
    src = style_statistics(sources)  # name -> [N]
    out = style_statistics(styled.reshape(n * k, *styled.shape[2:]))  # name -> [N*K]
    result: dict[str, float | None] = {}
    pairs = [(a, b) for a in np.unique(labels) for b in range(k) if b != a]

    def over_pairs(name: str, fn) -> float | None:
        per_target = out[name].reshape(n, k)  # [N, K]: source i drawn as class k
        values = [fn(src[name][labels == a], per_target[labels == a, b]) for a, b in pairs]
        defined = [v for v in values if v is not None]
        return float(np.mean(defined)) if defined else None

    for measure, fn in (("r", _pearson), ("gain", _gain)):
        for name in STYLE_STATISTICS:
            result[f"style_{measure}_{name}"] = over_pairs(name, fn)
        # colour: the mean over the six statistics that are defined; None for grey images
        colour = [v for v in (over_pairs(name, fn) for name in COLOUR_STATISTICS if name in src) if v is not None]
        result[f"style_{measure}_colour"] = float(np.mean(colour)) if colour else None
    return result
