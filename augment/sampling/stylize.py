"""Stylisation and latent interpolation grids.

*Stylisation* (CVAE, CVAE-GAN): encode a real image x with its own label y, keep the posterior
mean mu of Q(z | x, y) as its code (deterministic: no sampling), and decode that one code with
every label 0..K-1. The code carries what the label does not -- the "handwriting": slant, stroke
width, size -- so each row shows one writer's content drawn as every class. The CGAN has no
encoder Q, so it has no code for a real image: stylisation does not apply to it, and
:func:`stylize` raises :class:`augment.models.NoEncoder` rather than faking a grid.

*Interpolation* (all three models): decode the straight line between two codes,
z(t) = (1 - t) z0 + t z1 for t = 0 .. 1 in ``steps`` equal steps.

- within a class: both ends carry the same label y;
- across classes: the label is interpolated too, as a soft one-hot
  c(t) = (1 - t) onehot(y0) + t onehot(y1), fed to the decoder where it normally gets
  ``one_hot(y)``. At t = 0 and t = 1 this is exactly one-hot, so the ends are exactly the
  model's own decodings of (z0, y0) and (z1, y1).

For the CVAE and CVAE-GAN the end codes are the posterior means of two real images; for the CGAN
they are two draws from the prior P(z) = N(0, I) (walking between prior samples needs no encoder).

Everything runs in eval mode without gradients (like :meth:`ConditionalGenerator.generate`), and
every random choice uses a local ``torch.Generator`` seeded by ``seed``: the global RNG is neither
read nor changed.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from augment.core.inference import inference, module_device
from augment.data.labeled import LabeledImages
from augment.models import NoEncoder
from augment.models.base import ConditionalGenerator
from augment.models.layers import Decoder
from augment.sampling.grids import save_grid

STYLIZE_FILE = "stylize.png"
INTERPOLATE_FILE = "interpolate.png"


NOT_APPLICABLE = "stylisation does not apply"  # what NoEncoder says for a model without an encoder


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _check_real(model: ConditionalGenerator, images: torch.Tensor, labels: torch.Tensor) -> None:
    if images.ndim != 4 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"expected images [N, C, H, W] and labels [N], got {tuple(images.shape)} and {tuple(labels.shape)}"
        )
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        raise ValueError(
            f"images of shape {tuple(images.shape[1:])} do not fit a {model.name} trained on "
            f"{tuple(model.image_shape)}; use the data the model was trained on"
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= model.num_classes):
        raise ValueError(
            f"labels must lie in 0..{model.num_classes - 1} for this {model.name}, found "
            f"{int(labels.min())}..{int(labels.max())}"
        )


def _require_encoder(model: ConditionalGenerator) -> None:
    if not model.can_encode:
        raise NoEncoder(model.name, NOT_APPLICABLE)


def can_interpolate(model: ConditionalGenerator) -> bool:
    """Whether ``model`` draws from a code and a one-hot label (``forward_onehot(z, c)``, the
    built-ins' Decoder), which the interpolation grid walks between two images. A generator
    that is not shaped like one (a plugin's) gets no interpolation grid, not an error."""
    return callable(getattr(model.sampling_decoder(), "forward_onehot", None))


def find_decoder(model: ConditionalGenerator) -> Decoder:
    """The :class:`~augment.models.layers.Decoder` behind ``model.decode``: f_d or G, or their
    moving average when the model keeps one."""
    return model.sampling_decoder()


# --------------------------------------------------------------------------------------------
# Stylisation
# --------------------------------------------------------------------------------------------


def stylize(model: ConditionalGenerator, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each image's content drawn as every class: [N, C, H, W], [N] -> [N, K, C, H, W].

    ``out[i, k]`` decodes the posterior mean mu of Q(z | images[i], labels[i]) with label k, so
    ``out[i, labels[i]]`` is the (deterministic) reconstruction of image i. Raises
    :class:`augment.models.NoEncoder` for a model without an encoder.
    """
    _require_encoder(model)
    _check_real(model, images, labels)
    n, k = len(labels), model.num_classes
    device = module_device(model)
    with inference(model):
        mu, _ = model.encode(images.to(device).float(), labels.to(device).long())  # [N, latent]
        z = mu.repeat_interleave(k, dim=0)  # [N*K, latent]: row i's code K times
        y = torch.arange(k, device=device).repeat(n)  # [N*K]: 0..K-1 for each row
        out = model.decode(z, y)  # [N*K, C, H, W]
    return out.view(n, k, *out.shape[1:]).cpu()  # [N, K, C, H, W]


def stylize_grid(model: ConditionalGenerator, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The stylisation grid as a flat batch [N*(K+1), C, H, W], to draw with K+1 columns.

    Layout: row i is image i; column 0 is the real image itself, column 1+k its content drawn as
    class k (k = 0..K-1). The cell in column 1+labels[i] is the image's own reconstruction.
    """
    styled = stylize(model, images, labels)  # [N, K, C, H, W]
    real = images.detach().float().cpu().unsqueeze(1)  # [N, 1, C, H, W]
    grid = torch.cat([real, styled], dim=1)  # [N, K+1, C, H, W]
    return grid.flatten(0, 1)  # [N*(K+1), C, H, W]


def pick_rows(real: LabeledImages, per_class: int = 1, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` images of every class present (fewer where a class has fewer).

    Class-major order (class 0's picks, then class 1's, ...); which images is fixed by ``seed``
    through a local generator, whatever the global RNG.
    """
    if per_class < 1:
        raise ValueError(f"per_class: must be >= 1, got {per_class}")
    g = torch.Generator().manual_seed(seed)
    labels = real.labels.long().cpu()
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    picks = []
    for k in range(num_classes):
        members = torch.nonzero(labels == k).flatten()  # [n_k]
        order = torch.randperm(len(members), generator=g)  # drawn for every class: stable picks
        picks.append(members[order[:per_class]])
    return torch.cat(picks) if picks else torch.empty(0, dtype=torch.long)


def _pick_n_rows(real: LabeledImages, rows: int, num_classes: int, seed: int) -> torch.Tensor:
    """``rows`` indices spread over the classes as evenly as possible, class-major order."""
    if rows < 1:
        raise ValueError(f"rows: must be >= 1, got {rows}")
    per_class = -(-rows // max(num_classes, 1))  # ceil
    index = pick_rows(real, per_class, seed)
    labels = real.labels[index]
    rank = torch.zeros_like(index)  # position of each pick within its class
    for k in labels.unique():
        where = torch.nonzero(labels == k).flatten()
        rank[where] = torch.arange(len(where))
    keep = sorted(range(len(index)), key=lambda i: (int(rank[i]), int(labels[i])))[:rows]  # round robin
    keep.sort(key=lambda i: (int(labels[i]), int(rank[i])))  # back to class-major
    return index[torch.tensor(keep, dtype=torch.long)]


# --------------------------------------------------------------------------------------------
# Interpolation
# --------------------------------------------------------------------------------------------


def interpolate(
    model: ConditionalGenerator,
    z0: torch.Tensor,
    z1: torch.Tensor,
    y0: int | torch.Tensor,
    y1: int | torch.Tensor,
    steps: int = 8,
) -> torch.Tensor:
    """Decode the straight line from (z0, y0) to (z1, y1): [steps, C, H, W].

    Image j decodes z(t) = (1 - t) z0 + t z1 with t = j / (steps - 1). When y0 == y1 every image
    is ``model.generate(z(t), y0)``. When they differ the label is interpolated too, as the soft
    one-hot (1 - t) onehot(y0) + t onehot(y1) fed to the model's decoder (:meth:`Decoder.forward_onehot`, the path ``decoder(z, y)`` itself takes);
    it is exactly one-hot at both ends, so image 0 is the model's decoding of (z0, y0) and the
    last image that of (z1, y1).
    """
    if steps < 2:
        raise ValueError(f"steps: must be >= 2 (both ends), got {steps}")
    y0, y1 = int(y0), int(y1)
    for y in (y0, y1):
        if not 0 <= y < model.num_classes:
            raise ValueError(f"labels must lie in 0..{model.num_classes - 1}, got {y}")
    device = module_device(model)
    z0 = z0.reshape(1, -1).to(device).float()  # [1, latent]
    z1 = z1.reshape(1, -1).to(device).float()  # [1, latent]
    t = torch.linspace(0.0, 1.0, steps, device=device).unsqueeze(1)  # [steps, 1], exact 0 and 1
    z = (1 - t) * z0 + t * z1  # [steps, latent]; t = 0 / 1 give z0 / z1 exactly
    with inference(model):
        if y0 == y1:
            out = model.decode(z, torch.full((steps,), y0, dtype=torch.long, device=device))
        else:
            onehots = F.one_hot(torch.tensor([y0, y1], device=device), model.num_classes).float()  # [2, K]
            c = (1 - t) * onehots[0] + t * onehots[1]  # [steps, K], soft one-hot
            out = find_decoder(model).forward_onehot(z, c)  # [steps, C, H, W]
    return out.cpu()


def _interpolation_ends(real: LabeledImages, num_classes: int, pairs: int, g: torch.Generator) -> list[tuple[int, int]]:
    """Index pairs into ``real``: ``pairs`` within a class, then ``pairs`` across classes."""
    labels = real.labels.long().cpu()
    members = [torch.nonzero(labels == k).flatten() for k in range(num_classes)]
    present = [k for k in range(num_classes) if len(members[k]) >= 1]
    twice = [k for k in range(num_classes) if len(members[k]) >= 2]
    if not twice or len(present) < 2:
        raise ValueError("interpolation needs two images of one class and images of two classes in the real split")

    def one(k: int) -> int:
        return int(members[k][torch.randint(len(members[k]), (1,), generator=g)])

    ends = []
    start = int(torch.randint(len(twice), (1,), generator=g))
    for i in range(pairs):  # within a class: classes in turn, two different images of each
        k = twice[(start + i) % len(twice)]
        a, b = torch.randperm(len(members[k]), generator=g)[:2].tolist()
        ends.append((int(members[k][a]), int(members[k][b])))
    for i in range(pairs):  # across classes: a class in turn, and a different random one
        k0 = present[(start + i) % len(present)]
        others = [k for k in present if k != k0]
        k1 = others[int(torch.randint(len(others), (1,), generator=g))]
        ends.append((one(k0), one(k1)))
    return ends


def interpolation_grid(
    model: ConditionalGenerator,
    real: LabeledImages,
    num_classes: int | None = None,
    steps: int = 8,
    pairs: int = 4,
    seed: int = 0,
) -> torch.Tensor:
    """Latent interpolations as a flat batch [2 * pairs * steps, C, H, W], drawn with ``steps`` columns.

    Layout: the first ``pairs`` rows walk *within a class* (both ends of a row carry one label),
    the next ``pairs`` rows walk *across classes* (codes and soft labels interpolated, see
    :func:`interpolate`); column j is t = j / (steps - 1), so the left and right columns are the
    two ends.

    The ends' labels are those of real images of ``real`` picked by ``seed``. Their codes are:
    - CVAE, CVAE-GAN (``model.can_encode``): the posterior means of those real images, so the
      end columns are the images' reconstructions;
    - CGAN (no encoder): two draws from the prior N(0, I), from the same local generator.
    The grid is the same for the same seed, whatever the global RNG.
    """
    num_classes = model.num_classes if num_classes is None else num_classes
    if num_classes != model.num_classes:
        raise ValueError(f"num_classes: the model has {model.num_classes} classes, got {num_classes}")
    if pairs < 1:
        raise ValueError(f"pairs: must be >= 1, got {pairs}")
    _check_real(model, real.images, real.labels)
    g = torch.Generator().manual_seed(seed)
    ends = _interpolation_ends(real, num_classes, pairs, g)
    flat = [i for pair in ends for i in pair]
    labels = real.labels[flat].long()  # [2 * rows]
    if model.can_encode:
        device = module_device(model)
        with inference(model):
            codes, _ = model.encode(real.images[flat].to(device).float(), labels.to(device))  # [2*rows, latent]
    else:
        codes = torch.randn(len(flat), model.latent_dim, generator=g)  # z_p ~ P(z), [2*rows, latent]
    rows = [
        interpolate(model, codes[2 * r], codes[2 * r + 1], labels[2 * r], labels[2 * r + 1], steps)
        for r in range(len(ends))
    ]
    return torch.cat(rows)  # [rows * steps, C, H, W]


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def write_stylization_figures(
    model: ConditionalGenerator,
    real: LabeledImages,
    out_dir: str | Path,
    seed: int = 0,
    rows: int | None = None,
    steps: int = 8,
    pairs: int = 4,
    only: str | None = None,
) -> dict[str, Path]:
    """Write the figures of ``model`` on the real images ``real`` into ``out_dir``.

    - ``stylize.png`` (CVAE, CVAE-GAN only): :func:`stylize_grid` of ``rows`` real images
      (default: one per class), K+1 columns -- the real image, then classes 0..K-1;
    - ``interpolate.png``: :func:`interpolation_grid`, ``steps`` columns (models whose sampling
      network takes a one-hot label, :func:`can_interpolate`; a plugin's may not).

    ``only`` = "stylize" or "interpolate" writes just that one; ``only="stylize"`` for a model
    without an encoder raises :class:`augment.models.NoEncoder`. Returns {"stylize": path,
    "interpolate": path} for what was written.
    """
    if only not in (None, "stylize", "interpolate"):
        raise ValueError(f"only: must be 'stylize' or 'interpolate', got {only!r}")
    if only == "stylize":
        _require_encoder(model)
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    k = model.num_classes
    if model.can_encode and only in (None, "stylize"):
        index = pick_rows(real, 1, seed) if rows is None else _pick_n_rows(real, rows, k, seed)
        grid = stylize_grid(model, real.images[index], real.labels[index])
        written["stylize"] = save_grid(grid, out_dir / STYLIZE_FILE, ncols=k + 1)
    if only == "interpolate" and not can_interpolate(model):
        raise ValueError(f"{model.name}: its sampling network has no forward_onehot(z, c): no interpolation grid")
    if only in (None, "interpolate") and can_interpolate(model):
        grid = interpolation_grid(model, real, k, steps=steps, pairs=pairs, seed=seed)
        written["interpolate"] = save_grid(grid, out_dir / INTERPOLATE_FILE, ncols=steps)
    return written


NO_FIGURE_FILE = "none.png"


def write_no_figure(out_dir: str | Path, text: str) -> Path:
    """``out_dir/none.png``: ``text`` on a white image, for a model that has neither figure, so
    that its folder (a DVC output and a `dvc plots` folder, where every file is shown as a plot)
    says why instead of holding a file `dvc plots` cannot render."""
    from PIL import Image, ImageDraw

    lines = text.splitlines()
    image = Image.new("L", (8 + 7 * max(len(line) for line in lines), 8 + 14 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((4, 4 + 14 * i), line, fill=0)
    path = Path(out_dir) / NO_FIGURE_FILE
    image.save(path)
    return path


__all__ = [
    "NO_FIGURE_FILE",
    "NOT_APPLICABLE",
    "can_interpolate",
    "find_decoder",
    "interpolate",
    "interpolation_grid",
    "pick_rows",
    "stylize",
    "stylize_grid",
    "write_no_figure",
    "write_stylization_figures",
]
