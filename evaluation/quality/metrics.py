"""Metrics for synthetic images: distribution distances, fidelity/diversity, blur, reconstruction.

Pure functions on numpy arrays (converted to float64 inside); nothing here touches torch, files or
global random state. Conventions:

- features: ``[N, D]`` arrays, e.g. penultimate-layer activations of the judge classifier on real
  or generated images (the role Inception-v3 plays for FID on ImageNet-like data);
- images: ``[N, C, H, W]`` floats in ``[0, 1]`` (``[N, H, W]`` is read as one channel).

What each metric answers:

- ``frechet_distance`` / ``kernel_inception_distance``: how far the generated feature distribution
  is from the real one (lower is better; KID is unbiased, so it is the one to trust on small sets);
- ``precision_recall_density_coverage``: *fidelity* (are fakes on the real manifold?) separately
  from *diversity* (is the whole real manifold covered?);
- ``label_fidelity``: does the judge recognise the class the generator was asked for?
- ``intra_class_diversity``: mode collapse within a class shows up as a small value;
- ``sharpness`` / ``relative_sharpness``: VAEs blur; this makes it a number;
- ``checkerboard`` / ``relative_checkerboard``: the period-2 pattern that stride-2 transposed
  convolutions leave (Odena et al. 2016), as a number;
- ``reconstruction_error``: the pixel MSE of an autoencoding model.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import polynomial_kernel
from sklearn.neighbors import NearestNeighbors

__all__ = [
    "frechet_distance",
    "frechet_distance_gaussians",
    "kernel_inception_distance",
    "precision_recall_density_coverage",
    "label_fidelity",
    "intra_class_diversity",
    "sharpness",
    "relative_sharpness",
    "checkerboard",
    "relative_checkerboard",
    "reconstruction_error",
]


def _features(x: np.ndarray, name: str, min_rows: int = 1) -> np.ndarray:
    """Return ``x`` as a float64 ``[N, D]`` array, checking its shape."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a [N, D] array, got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {x.shape[0]}")
    return x


def _same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")


# --------------------------------------------------------------------------------------------------
# Frechet distance (FID)
# --------------------------------------------------------------------------------------------------


def frechet_distance_gaussians(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Frechet (2-Wasserstein) distance squared between N(mu1, sigma1) and N(mu2, sigma2).

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2})

    Follows the pytorch-fid reference (mseitzer/pytorch-fid, ``calculate_frechet_distance``): if the
    matrix square root of the product is not finite (singular product, e.g. fewer samples than
    dimensions), ``eps * I`` is added to both covariances and the root retried; a numerically tiny
    imaginary part of the root is dropped, a large one is an error.

    Reference: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
    Nash Equilibrium" (FID); Dowson & Landau 1982 for the closed form.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))  # [D, D]
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))  # [D, D]
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shape mismatch: mu {mu1.shape}, {mu2.shape}; sigma {sigma1.shape}, {sigma2.shape}")
    diff = mu1 - mu2  # [D]

    with warnings.catch_warnings():  # scipy warns on singular input; we check and retry ourselves
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(sigma1 @ sigma2)  # [D, D], possibly complex
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if not np.isfinite(covmean).all():
        raise ValueError("matrix square root of sigma1 @ sigma2 is not finite, even with eps * I")
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag)):.3g} in sqrtm")
        covmean = covmean.real

    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """FID between two feature sets: fit a Gaussian (mean, sample covariance) to each, then
    ``frechet_distance_gaussians``. Symmetric; 0 for a set with itself (up to rounding).

    Biased upward on small sets (Binkowski et al. 2018): compare FIDs only at equal sample sizes.
    Reference: Heusel et al. 2017 (arXiv:1706.08500).
    """
    a = _features(feats_a, "feats_a", min_rows=2)  # [Na, D]
    b = _features(feats_b, "feats_b", min_rows=2)  # [Nb, D]
    _same_dim(a, b)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))  # [D, D]
    s_b = np.atleast_2d(np.cov(b, rowvar=False))  # [D, D]
    return frechet_distance_gaussians(a.mean(axis=0), s_a, b.mean(axis=0), s_b)


# --------------------------------------------------------------------------------------------------
# Kernel Inception Distance (KID)
# --------------------------------------------------------------------------------------------------


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for all pairs: [n, D] x [m, D] -> [n, m] (KID's kernel;
    scikit-learn's, bit-identical to the formula written out)."""
    return polynomial_kernel(x, y, degree=3, gamma=1.0 / x.shape[1], coef0=1.0)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-size samples x, y ([m, D] each):

    1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j)
    - 2/m^2 sum_{i,j} k(x_i, y_j)
    """
    m = x.shape[0]
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    off_diag = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(off_diag - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 10, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3, averaged
    over ``subsets`` random subsets of ``subset_size`` rows drawn without replacement from each set
    (``subset_size`` is capped at the smaller set). Returns ``(mean, std)`` over subsets (std with
    ddof=0, as in the reference implementations).

    Unlike FID the estimator is unbiased, so two samples of one distribution give ~0 (it can be
    slightly negative) at any sample size. Subsets are drawn with a local
    ``np.random.default_rng(seed)``: the same inputs and seed give the same answer.

    Reference: Binkowski et al. 2018, "Demystifying MMD GANs" (arXiv:1801.01401).
    """
    a = _features(feats_a, "feats_a", min_rows=2)  # [Na, D]
    b = _features(feats_b, "feats_b", min_rows=2)  # [Nb, D]
    _same_dim(a, b)
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = min(int(subset_size), a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    rng = np.random.default_rng(seed)
    mmds = np.array(
        [
            _mmd2_unbiased(a[rng.choice(a.shape[0], m, replace=False)], b[rng.choice(b.shape[0], m, replace=False)])
            for _ in range(subsets)
        ]
    )  # [subsets]
    return float(mmds.mean()), float(mmds.std())


# --------------------------------------------------------------------------------------------------
# Precision, recall, density, coverage
# --------------------------------------------------------------------------------------------------


def _kth_neighbour_radius(feats: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row to its k-th nearest neighbour in the same set, itself excluded."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(feats)
    dist, _ = nn.kneighbors(feats)  # [N, k+1]; column 0 is the point itself (distance 0)
    return dist[:, k]


def _count_in_balls(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """For each query q: #{centres c : ||q - c|| < radius_c}. Chunked to bound memory. -> [Nq].

    Written out rather than ``NearestNeighbors.radius_neighbors``: that takes one radius per
    *query* and counts ``<=``, while PRDC needs each *centre's* own radius and a strict ``<``."""
    counts = np.empty(queries.shape[0], dtype=np.int64)
    c_sq = (centres**2).sum(axis=1)  # [Nc]
    for start in range(0, queries.shape[0], chunk):
        q = queries[start : start + chunk]  # [n, D]
        d2 = (q**2).sum(axis=1)[:, None] + c_sq[None, :] - 2.0 * q @ centres.T  # [n, Nc]
        dist = np.sqrt(np.maximum(d2, 0.0))
        counts[start : start + chunk] = (dist < radii[None, :]).sum(axis=1)
    return counts


def precision_recall_density_coverage(real_feats: np.ndarray, fake_feats: np.ndarray, k: int = 5) -> dict[str, float]:
    """Fidelity and diversity of fakes relative to reals, from k-NN balls (Naeem et al. 2020).

    With B(x, r) the open ball and NND_k(x) the distance from x to its k-th nearest neighbour in its
    own set (itself excluded), for M fakes Y and N reals X:

        precision = 1/M sum_j 1[exists i: Y_j in B(X_i, NND_k(X_i))]   fakes on the real manifold
        recall    = 1/N sum_i 1[exists j: X_i in B(Y_j, NND_k(Y_j))]   reals on the fake manifold
        density   = 1/(kM) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]    ~1 when fake ~ real
        coverage  = 1/N sum_i 1[exists j: Y_j in B(X_i, NND_k(X_i))]   reals with a fake nearby

    Precision/recall are Kynkaanniemi et al. 2019; density/coverage (robust to outliers) are Naeem
    et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models" (arXiv:2002.09797),
    whose reference code (clovaai/generative-evaluation-prdc) this mirrors, strict ``<`` included.
    Returns a dict with keys ``precision``, ``recall``, ``density``, ``coverage``.
    """
    real = _features(real_feats, "real_feats", min_rows=k + 1)  # [N, D]
    fake = _features(fake_feats, "fake_feats", min_rows=k + 1)  # [M, D]
    _same_dim(real, fake)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")

    real_radius = _kth_neighbour_radius(real, k)  # [N]
    fake_radius = _kth_neighbour_radius(fake, k)  # [M]
    fake_in_real_balls = _count_in_balls(fake, real, real_radius)  # [M]
    real_in_fake_balls = _count_in_balls(real, fake, fake_radius)  # [N]
    nearest_fake, _ = NearestNeighbors(n_neighbors=1).fit(fake).kneighbors(real)  # [N, 1]

    return {
        "precision": float((fake_in_real_balls > 0).mean()),
        "recall": float((real_in_fake_balls > 0).mean()),
        "density": float(fake_in_real_balls.mean() / k),
        "coverage": float((nearest_fake[:, 0] < real_radius).mean()),
    }


# --------------------------------------------------------------------------------------------------
# Labels and diversity
# --------------------------------------------------------------------------------------------------


def label_fidelity(judge_predictions: np.ndarray, intended_labels: np.ndarray) -> float:
    """Fraction of synthetic images the judge classifies as the class they were generated for:

        label_fidelity = 1/N sum_i 1[judge(x_i) == y_i]

    ``judge_predictions`` is ``[N]`` predicted labels or ``[N, K]`` scores (argmax taken). A
    conditional generator that ignores its label scores ~1/K. This is the "GAN-train"-style check
    of Shmelkov et al. 2018, "How good is my GAN?", with a fixed judge.
    """
    pred = np.asarray(judge_predictions)
    if pred.ndim == 2:
        pred = pred.argmax(axis=1)  # [N, K] scores -> [N] labels
    target = np.asarray(intended_labels)
    if pred.ndim != 1 or pred.shape != target.shape or pred.size == 0:
        raise ValueError(f"need equal non-empty [N] labels, got {pred.shape} and {target.shape}")
    return float((pred == target).mean())


def intra_class_diversity(
    feats: np.ndarray, labels: np.ndarray, max_per_class: int = 500, seed: int = 0
) -> dict[int | str, float]:
    """Mean pairwise L2 distance between the features of each class:

        div(c) = 2/(n_c (n_c - 1)) sum_{i<j, y_i=y_j=c} ||f_i - f_j||

    A class-conditional generator that collapses to few modes per class scores low compared with
    real data. Classes with more than ``max_per_class`` samples are subsampled (local
    ``np.random.default_rng(seed)``) to keep the O(n^2) cost bounded; classes with fewer than two
    samples have no pairs and are left out. Returns ``{class: div(c)}`` plus ``"mean"``, the
    unweighted mean over the classes present (nan if none).
    """
    x = _features(feats, "feats")  # [N, D]
    y = np.asarray(labels)
    if y.shape != (x.shape[0],):
        raise ValueError(f"labels must be [N]={x.shape[0]}, got {y.shape}")
    rng = np.random.default_rng(seed)
    out: dict[int | str, float] = {}
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if idx.size < 2:
            continue
        if idx.size > max_per_class:
            idx = np.sort(rng.choice(idx, max_per_class, replace=False))
        out[int(c)] = float(pdist(x[idx]).mean())
    values = list(out.values())
    out["mean"] = float(np.mean(values)) if values else float("nan")
    return out


# --------------------------------------------------------------------------------------------------
# Images: blur and reconstruction
# --------------------------------------------------------------------------------------------------


def _images(x: np.ndarray, name: str) -> np.ndarray:
    """Return images as float64 ``[N, C, H, W]`` (``[N, H, W]`` gets C=1)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, C, H, W] array, got shape {x.shape}")
    return x


def sharpness(images: np.ndarray) -> float:
    """Mean over images of the variance of the Laplacian of the grey image (channel mean):

        L = [[0, 1, 0], [1, -4, 1], [0, 1, 0]] (*) grey      (valid convolution, [H-2, W-2])
        sharpness = 1/N sum_n Var(L_n)

    Edges and fine texture give large Laplacian responses; blur removes them, so a blurry set
    (typical of VAEs) scores lower. Constant and linear-ramp images score 0. Only comparable
    between sets of the same resolution and intensity scale; use ``relative_sharpness``.

    Reference: Pech-Pacheco et al. 2000, "Diatom autofocusing in brightfield microscopy: a
    comparative study" (variance of Laplacian as a focus measure).
    """
    x = _images(images, "images")
    grey = x.mean(axis=1)  # [N, H, W]
    if grey.shape[1] < 3 or grey.shape[2] < 3:
        raise ValueError(f"images must be at least 3x3, got {grey.shape[1:]}")
    lap = (
        grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:] - 4.0 * grey[:, 1:-1, 1:-1]
    )  # [N, H-2, W-2]
    return float(lap.reshape(lap.shape[0], -1).var(axis=1).mean())


def relative_sharpness(fake_images: np.ndarray, real_images: np.ndarray) -> float:
    """``sharpness(fake) / sharpness(real)``: 1 means as sharp as the real data, < 1 blurrier."""
    real = sharpness(real_images)
    if real == 0.0:
        raise ValueError("real images have zero sharpness (constant or linear); ratio undefined")
    return sharpness(fake_images) / real


def checkerboard(images: np.ndarray) -> float:
    """The period-2 peak of the set's mean power spectrum:

        g_n = grey_n - mean(grey_n)                              ([H, W], each image's own mean)
        P(u, v) = 1/N sum_n |DFT(g_n)(u, v)|^2                   (the mean power spectrum)
        checkerboard = sum_b P(b) / sum_b mean(P at b's 4 neighbours)
            over the three period-2 bins b = (H/2, 0), (0, W/2), (H/2, W/2)

    A stride-2 transposed convolution paints the same kernel taps on every other pixel, in phase
    across the image (Odena et al. 2016, "Deconvolution and checkerboard artifacts"): its pattern
    is a peak in exactly these bins, above the neighbouring frequencies. Strokes, edges and noise
    spread their power smoothly over the high frequencies, so without the pattern the bins are
    level with their neighbours or below them (real MNIST digits: 0.86, the 1,000 first test
    images); ``relative_checkerboard`` reads it against real images. Images with odd sides use
    the bins nearest the period 2 (H // 2, W // 2), which for an odd side have a neighbour of
    the same power (the spectrum's mirror image): there the peak reads lower.
    """
    x = _images(images, "images")
    grey = x.mean(axis=1)  # [N, H, W]
    g = grey - grey.mean(axis=(1, 2), keepdims=True)
    h, w = g.shape[1:]
    power = (np.abs(np.fft.fft2(g)) ** 2).mean(axis=0)  # [H, W], P(u, v)
    power[power < 1e-12 * power.max()] = 0.0  # the FFT's rounding, not power
    peaks = [(h // 2, 0), (0, w // 2), (h // 2, w // 2)]
    around = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    peak = sum(power[u, v] for u, v in peaks)
    level = sum(np.mean([power[(u + du) % h, (v + dv) % w] for du, dv in around]) for u, v in peaks)
    if level == 0.0:
        return float("inf") if peak > 0 else 0.0
    return float(peak / level)


def relative_checkerboard(fake_images: np.ndarray, real_images: np.ndarray) -> float | None:
    """``checkerboard(fake) / checkerboard(real)``: 1 means as little period-2 peak as the real
    data, above 1 the generator adds a pattern of its own (below 1: less than the real images,
    e.g. blurred ones). None where it is undefined: real images with no power in or around the
    bins (constant, or upscaled x2 by repeating pixels), or an infinite peak on either side."""
    real, fake = checkerboard(real_images), checkerboard(fake_images)
    if not (np.isfinite(real) and np.isfinite(fake)) or real == 0.0:
        return None
    return fake / real


def reconstruction_error(images: np.ndarray, reconstructions: np.ndarray) -> float:
    """Mean over images of the per-image mean squared error:

        1/N sum_n 1/(CHW) sum_{c,h,w} (x_nchw - x~_nchw)^2

    (equal to the global MSE when all images have the same shape; stated per image so that the
    per-image values could be reported too).
    """
    x = _images(images, "images")
    r = _images(reconstructions, "reconstructions")
    if x.shape != r.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {r.shape}")
    per_image = ((x - r) ** 2).reshape(x.shape[0], -1).mean(axis=1)  # [N]
    return float(per_image.mean())
