"""Known-answer tests for evaluation.quality.metrics (all deterministic: fixed-seed local generators)."""

import itertools
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import evaluation.quality.metrics as m
from evaluation.quality.metrics import (
    checkerboard,
    frechet_distance,
    frechet_distance_gaussians,
    intra_class_diversity,
    kernel_inception_distance,
    label_fidelity,
    precision_recall_density_coverage,
    reconstruction_error,
    relative_checkerboard,
    relative_sharpness,
    sharpness,
)


def gaussian(n: int, d: int, mean: float = 0.0, var: float = 1.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, math.sqrt(var), size=(n, d))  # [n, d]


# ---------------------------------------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero():
    x = gaussian(500, 16)
    assert abs(frechet_distance(x, x)) < 1e-6 * max(1.0, np.trace(np.cov(x, rowvar=False)))


def test_fid_gaussians_closed_form():
    # N(mu1, I) vs N(mu2, 2I): (I * 2I)^{1/2} = sqrt(2) I, so the trace term is d (1 + 2 - 2 sqrt 2).
    d = 6
    mu1, mu2 = np.zeros(d), np.linspace(-1.0, 2.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + d * (1 + 2 - 2 * math.sqrt(2))
    got = frechet_distance_gaussians(mu1, np.eye(d), mu2, 2 * np.eye(d))
    assert got == pytest.approx(expected, rel=1e-10)
    # A non-diagonal pair: the distance of a Gaussian to itself is 0, and the formula is symmetric.
    a = np.random.default_rng(1).normal(size=(d, d))
    s = a @ a.T + np.eye(d)
    assert frechet_distance_gaussians(mu2, s, mu2, s) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance_gaussians(mu1, s, mu2, 2 * np.eye(d)) == pytest.approx(
        frechet_distance_gaussians(mu2, 2 * np.eye(d), mu1, s), rel=1e-8
    )


def test_fid_from_large_samples_matches_closed_form():
    # d=4, mu2 - mu1 = (1, 1, 1, 1): true FID = 4 + 4 (3 - 2 sqrt 2) = 4.686.
    # Sampling error with n=20000 per set: the dominant term 2 (mu2-mu1) . (mean-estimate error)
    # has std 2 * ||mu2-mu1|| * sqrt((1 + 2)/n) = 2 * 2 * 0.0122 = 0.049; the covariance terms add
    # O(sqrt(d/n)) ~ 0.03. A tolerance of 0.25 is > 4 standard deviations; bias is O(d/n) ~ 1e-3.
    d, n = 4, 20_000
    a, b = gaussian(n, d, 0.0, 1.0, seed=2), gaussian(n, d, 1.0, 2.0, seed=3)
    expected = d * 1.0 + d * (3 - 2 * math.sqrt(2))
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.25)


def test_fid_is_symmetric_and_grows_with_mean_shift():
    a, b = gaussian(1000, 8, seed=4), gaussian(1000, 8, 0.3, 1.5, seed=5)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)
    fids = [frechet_distance(a, gaussian(1000, 8, shift, seed=6)) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in itertools.pairwise(fids))


def test_fid_handles_singular_covariance():
    # Fewer samples than dimensions: singular covariances; the eps * I retry keeps it finite.
    a, b = gaussian(5, 20, seed=7), gaussian(5, 20, seed=8)
    fid = frechet_distance(a, b)
    assert math.isfinite(fid) and fid > 0


def test_fid_retries_with_eps_when_sqrtm_is_not_finite(monkeypatch):
    # Force the pytorch-fid fallback: the first square root fails, the retry adds eps * I.

    real_sqrtm, calls = m.linalg.sqrtm, []

    def flaky_sqrtm(mat):
        calls.append(mat)
        return np.full_like(mat, np.nan) if len(calls) == 1 else real_sqrtm(mat)

    monkeypatch.setattr(m.linalg, "sqrtm", flaky_sqrtm)
    d, eps = 3, 1e-6
    got = m.frechet_distance_gaussians(np.zeros(d), np.eye(d), np.ones(d), 2 * np.eye(d), eps=eps)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], (1 + eps) * (2 + eps) * np.eye(d))
    # As in pytorch-fid, eps enters the square-root term only; the traces use the given sigmas.
    expected = d + 3 * d - 2 * d * math.sqrt((1 + eps) * (2 + eps))
    assert got == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------------------- KID


def test_kid_matches_direct_double_loop():
    x = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, -1.0]])
    y = np.array([[0.5, 0.5], [-1.0, 1.0], [1.5, 0.0]])
    k = lambda u, v: (u @ v / 2 + 1) ** 3  # noqa: E731  d = 2
    m = 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    # A subset of all 3 rows is a permutation, and the estimator is permutation-invariant.
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=100)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift():
    a, b = gaussian(2000, 8, seed=9), gaussian(2000, 8, seed=10)
    mean, std = kernel_inception_distance(a, b, subsets=10, subset_size=500)
    assert abs(mean) < max(3 * std, 0.01)
    shifted = gaussian(2000, 8, 1.0, seed=11)
    mean_s, std_s = kernel_inception_distance(a, shifted, subsets=10, subset_size=500)
    assert mean_s > 0.5 and mean_s > 10 * std_s and mean_s > 10 * abs(mean)


def test_kid_is_deterministic_for_a_seed():
    a, b = gaussian(300, 4, seed=12), gaussian(300, 4, 0.2, seed=13)
    assert kernel_inception_distance(a, b, seed=3) == kernel_inception_distance(a, b, seed=3)


# --------------------------------------------------------------------------------------------- PRDC


def prdc_reference(real, fake, k):
    """The Naeem et al. 2020 reference algorithm, written directly on full distance matrices."""
    r_rad = np.sort(cdist(real, real), axis=1)[:, k]  # k-th neighbour, self (0) at index 0
    f_rad = np.sort(cdist(fake, fake), axis=1)[:, k]
    d = cdist(real, fake)  # [N, M]
    return {
        "precision": (d < r_rad[:, None]).any(axis=0).mean(),
        "recall": (d < f_rad[None, :]).any(axis=1).mean(),
        "density": (d < r_rad[:, None]).sum(axis=0).mean() / k,
        "coverage": (d.min(axis=1) < r_rad).mean(),
    }


def test_prdc_matches_reference_on_random_data():
    real, fake = gaussian(300, 5, seed=14), gaussian(250, 5, 0.4, 1.3, seed=15)
    got = precision_recall_density_coverage(real, fake, k=5)
    want = prdc_reference(real, fake, 5)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key


def test_prdc_identical_sets_are_perfect():
    x = gaussian(400, 6, seed=16)
    got = precision_recall_density_coverage(x, x.copy(), k=5)
    assert got["precision"] == 1.0 and got["recall"] == 1.0 and got["coverage"] == 1.0


def test_prdc_far_apart_sets_are_zero():
    real, fake = gaussian(200, 4, seed=17), gaussian(200, 4, 100.0, seed=18)
    assert precision_recall_density_coverage(real, fake, k=5) == {
        "precision": 0.0,
        "recall": 0.0,
        "density": 0.0,
        "coverage": 0.0,
    }


def test_prdc_density_near_one_for_one_distribution():
    real, fake = gaussian(2000, 4, seed=19), gaussian(2000, 4, seed=20)
    got = precision_recall_density_coverage(real, fake, k=5)
    assert got["density"] == pytest.approx(1.0, abs=0.15)
    assert got["precision"] > 0.8 and got["recall"] > 0.8 and got["coverage"] > 0.8


# ----------------------------------------------------------------------------- labels and diversity


def test_label_fidelity():
    assert label_fidelity(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])  # argmax -> [0, 1, 0]
    assert label_fidelity(scores, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        label_fidelity(np.array([0, 1]), np.array([0]))


def test_intra_class_diversity_known_values():
    feats = np.array(
        [
            [0.0, 0.0],
            [3.0, 4.0],  # class 0: one pair at distance 5
            [0.0, 0.0],
            [1.0, 0.0],
            [3.0, 0.0],  # class 1: distances 1, 3, 2
            [7.0, 7.0],
            [7.0, 7.0],
        ]
    )  # class 2: identical points
    labels = np.array([0, 0, 1, 1, 1, 2, 2])
    div = intra_class_diversity(feats, labels)
    assert div[0] == pytest.approx(5.0) and div[1] == pytest.approx(2.0) and div[2] == 0.0
    assert div["mean"] == pytest.approx(7.0 / 3)


def test_intra_class_diversity_subsamples_deterministically():
    feats = gaussian(1200, 3, seed=21)
    labels = np.repeat([0, 1], 600)
    a = intra_class_diversity(feats, labels, max_per_class=100, seed=5)
    assert a == intra_class_diversity(feats, labels, max_per_class=100, seed=5)
    full = intra_class_diversity(feats, labels, max_per_class=1000)
    assert a[0] == pytest.approx(full[0], rel=0.1)  # a subsample estimates the same mean distance


# ---------------------------------------------------------------------------------- images: blur


def test_sharpness_known_values():
    delta = np.zeros((1, 1, 5, 5))
    delta[0, 0, 2, 2] = 1.0
    # Valid 3x3 Laplacian output: -4 at the centre, 1 at its 4 neighbours, 0 at the 4 corners:
    # mean 0, variance (16 + 4) / 9.
    assert sharpness(delta) == pytest.approx(20 / 9)
    rgb = np.concatenate([delta, np.zeros_like(delta), np.zeros_like(delta)], axis=1)
    assert sharpness(rgb) == pytest.approx(20 / 81)  # grey = delta / 3
    ramp = np.broadcast_to(np.linspace(0, 1, 8), (2, 1, 8, 8))
    assert sharpness(ramp) == pytest.approx(0.0, abs=1e-20)
    assert sharpness(np.full((2, 3, 8, 8), 0.5)) == 0.0


def test_blurred_images_are_less_sharp():
    noise = np.random.default_rng(22).random((8, 1, 32, 32))  # [8, 1, 32, 32]
    pooled = noise.reshape(8, 1, 16, 2, 16, 2).mean(axis=(3, 5))  # 2x2 average pool
    blurred = pooled.repeat(2, axis=2).repeat(2, axis=3)  # nearest upsample back to 32x32
    checker = (np.indices((32, 32)).sum(axis=0) % 2).astype(float)[None, None]
    checker_blurred = checker.reshape(1, 1, 16, 2, 16, 2).mean(axis=(3, 5)).repeat(2, 2).repeat(2, 3)
    assert sharpness(blurred) < 0.5 * sharpness(noise)
    assert sharpness(checker_blurred) < sharpness(checker)  # pooled checkerboard is flat grey
    assert relative_sharpness(blurred, noise) < 0.5
    assert relative_sharpness(noise, noise) == pytest.approx(1.0)


def test_checkerboard_known_values():
    i, j = np.indices((8, 8))
    checker = np.where((i + j) % 2 == 0, 1.0, -1.0)  # power (8 x 8)^2 = 4096 in bin (4, 4)
    wave = np.cos(2 * np.pi * 3 * j / 8)  # power (8 x 8 / 2)^2 = 1024 in bins (0, 3) and (0, 5)
    # peak: bin (4, 4) 4096, bins (4, 0) and (0, 4) 0; level: (0, 4)'s neighbours (0, 3) and
    # (0, 5) hold 1024 each, mean 512; the other two bins' neighbours 0: 4096 / 512 = 8
    assert checkerboard((checker + wave)[None, None]) == pytest.approx(8.0)
    assert checkerboard(wave[None, None]) == 0.0  # no peak: the bins hold nothing
    assert checkerboard(checker[None, None]) == float("inf")  # a peak with nothing around it
    assert checkerboard(np.full((2, 1, 8, 8), 0.3)) == 0.0  # constant: no power at all


def test_a_transposed_convolutions_pattern_raises_the_checkerboard_ratio():
    """Smooth blobs, then the same blobs with the taps of every other pixel stronger (the in-phase
    stride-2 pattern of a transposed convolution): the ratio rises well above 1."""
    rng = np.random.default_rng(24)
    i, j = np.indices((28, 28))
    centres = rng.uniform(6, 22, size=(32, 2, 2))
    blobs = np.zeros((32, 1, 28, 28))
    for n in range(32):
        for r, c in centres[n]:
            blobs[n, 0] += np.exp(-((i - r) ** 2 + (j - c) ** 2) / 4)
    blobs = blobs.clip(0, 1)
    pattern = np.where((i % 2 == 0) & (j % 2 == 0), 1.0, 0.7)
    assert checkerboard(blobs) < 1.0
    assert relative_checkerboard(blobs * pattern, blobs) > 1.5
    assert relative_checkerboard(blobs, blobs) == pytest.approx(1.0)
    assert relative_checkerboard(blobs, np.full((2, 1, 8, 8), 0.3)) is None  # real: no power at all
    upscaled = blobs[:, :, ::2, ::2].repeat(2, axis=2).repeat(2, axis=3)  # x2 by repeated pixels
    assert relative_checkerboard(blobs, upscaled) is None


def test_reconstruction_error():
    x = np.random.default_rng(23).random((4, 3, 8, 8))
    assert reconstruction_error(x, x) == 0.0
    assert reconstruction_error(x, x + 0.1) == pytest.approx(0.01)
    recon = x.copy()
    recon[1] += 0.2  # per-image MSE [0, 0.04, 0, 0] -> mean 0.01
    assert reconstruction_error(x, recon) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        reconstruction_error(x, x[:2])
