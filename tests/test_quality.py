"""The judge network and the per-method quality metrics, on scikit-learn's digits.

Real images passed as "synthetic" must look like real data to every metric (label fidelity near
the judge's accuracy, FID far below that of noise, sharpness ratio ~1); noise must not.
"""

import math

import pytest
import torch

from augment.data.labeled import LabeledImages
from augment.models import CVAE, build_model
from augment.params.config import CGANConfig, ClassifierConfig, CVAEConfig
from evaluation.classifiers.judge import JudgeConfig, load_judge, save_judge, train_judge
from evaluation.classifiers.net import build_classifier, save_classifier
from evaluation.classifiers.prediction import features, predict
from evaluation.quality.measures import (
    QUALITY_KEYS,
    STYLIZATION_KEYS,
    QualityConfig,
    balanced_subset,
    classification_accuracy_score,
    classifier_accuracy,
    method_quality,
    real_reference,
    reconstruction_error,
    stylization_metrics,
)

JUDGE_STEPS = 200  # measured on digits: val 0.958-0.986, test 0.944-0.964 over 5 seeds
JUDGE_BAR = 0.90  # honest margin below the worst measured test accuracy (0.944)


@pytest.fixture(scope="module")
def judged(digits):
    return train_judge(digits, JudgeConfig(steps=JUDGE_STEPS))


@pytest.fixture(scope="module")
def cfg():
    """Few CAS steps: the tests check wiring and sanity, not the CAS of a good run."""
    return QualityConfig(max_images=360, classifier=ClassifierConfig(steps=100, seeds=[0, 1]))


@pytest.fixture(scope="module")
def real_as_synthetic(digits, judged, cfg):
    """The real validation split passed as a CVAE's "synthetic" data (untrained CVAE: encoder)."""
    cvae = build_model("cvae", CVAEConfig(latent_dim=4, width=8), digits.image_shape, digits.num_classes)
    return method_quality("cvae", cvae, digits.val, digits, judged[0], cfg)


def noise_set(n_per_class=36, num_classes=10, shape=(1, 8, 8), seed=0):
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)  # [n]
    images = torch.rand(len(labels), *shape, generator=torch.Generator().manual_seed(seed))
    return LabeledImages(images, labels)


@pytest.fixture(scope="module")
def noise_quality(digits, judged, cfg):
    """Uniform noise passed as a CGAN's synthetic data."""
    cgan = build_model("cgan", CGANConfig(latent_dim=4, width=8), digits.image_shape, digits.num_classes)
    return method_quality("cgan", cgan, noise_set(), digits, judged[0], cfg)


def finite(value):
    return isinstance(value, float) and math.isfinite(value)


# --------------------------------------------------------------------------------------------
# The judge
# --------------------------------------------------------------------------------------------


def test_judge_reaches_a_sensible_accuracy(judged):
    _, info = judged
    assert info["val_accuracy"] >= JUDGE_BAR
    assert info["test_accuracy"] >= JUDGE_BAR
    assert info["config"]["steps"] == JUDGE_STEPS


def test_judge_round_trip_and_role(tmp_path, judged, digits):
    model, info = judged
    path = save_judge(tmp_path / "judge.pt", model, info)
    loaded, meta = load_judge(path)
    assert meta["role"] == "judge" and "history" not in meta
    assert meta["test_accuracy"] == pytest.approx(info["test_accuracy"])
    assert torch.equal(features(loaded, digits.test), features(model, digits.test))
    other = save_classifier(tmp_path / "downstream.pt", build_classifier((1, 8, 8), 10, 8, 0))
    with pytest.raises(ValueError, match="not a judge"):
        load_judge(other)


# --------------------------------------------------------------------------------------------
# Which images
# --------------------------------------------------------------------------------------------


def test_balanced_subset_is_balanced_and_deterministic(digits):
    pick = balanced_subset(digits.test, 100, seed=3)
    counts = torch.bincount(pick.labels, minlength=10)
    assert len(pick) == 100 and counts.max() - counts.min() <= 1
    assert torch.equal(pick.images, balanced_subset(digits.test, 100, seed=3).images)
    assert not torch.equal(pick.images, balanced_subset(digits.test, 100, seed=4).images)


def test_balanced_subset_fills_in_when_a_class_runs_out():
    data = LabeledImages(torch.rand(13, 1, 8, 8), torch.tensor([0] * 2 + [1] * 11))
    counts = torch.bincount(balanced_subset(data, 10).labels, minlength=2)
    assert counts.tolist() == [2, 8]
    with pytest.raises(ValueError):
        balanced_subset(data, 14)


# --------------------------------------------------------------------------------------------
# The metrics
# --------------------------------------------------------------------------------------------


def test_every_key_is_a_finite_float(real_as_synthetic, noise_quality):
    for q in (real_as_synthetic, noise_quality):
        assert set(q) == set(QUALITY_KEYS) | {"n", "cas_per_seed"}
        assert all(finite(v) for v in q["cas_per_seed"])
        for key, value in q.items():
            if key == "cas_per_seed":
                continue  # a list (above)
            if key in ("reconstruction_error", *STYLIZATION_KEYS) and q is noise_quality:
                continue  # a CGAN has no encoder
            if key in ("classifier_accuracy", "style_r_colour", "style_gain_colour"):
                assert value is None  # trained without a pool: no q(y | x); grey digits: no colour
                continue
            assert finite(value), (key, value)


def test_the_m2_classifier_accuracy_is_the_share_of_test_images_q_gets_right(digits, monkeypatch):
    model = build_model("cvae", CVAEConfig(latent_dim=4, width=8), digits.image_shape, 10, unlabelled=True)
    test = digits.test.subset(torch.arange(40))
    wrong = set(range(0, 40, 4))  # q misreads every fourth image
    truth = test.labels.clone()
    truth[list(wrong)] = (truth[list(wrong)] + 1) % 10
    calls = iter(truth.split(512))
    monkeypatch.setattr(model, "classify", lambda x: torch.nn.functional.one_hot(next(calls), 10).float())
    assert classifier_accuracy(model, test) == pytest.approx(0.75)
    assert classifier_accuracy(build_model("cvae", CVAEConfig(latent_dim=4, width=8), (1, 8, 8), 10), test) is None


def test_real_data_as_synthetic_looks_real(real_as_synthetic, noise_quality, judged, digits, cfg):
    q, (_, info) = real_as_synthetic, judged
    assert q["n"] == len(digits.val)  # n = min(len(test), len(synthetic), max_images)
    assert abs(q["label_fidelity"] - info["test_accuracy"]) <= 0.05
    assert q["fid"] < noise_quality["fid"] / 10
    assert q["kid"] < noise_quality["kid"] / 10
    assert 0.8 <= q["sharpness_ratio"] <= 1.25
    assert 0.8 <= q["diversity_ratio"] <= 1.25
    assert q["coverage"] > noise_quality["coverage"] and q["precision"] > noise_quality["precision"]
    assert q["cas"] > noise_quality["cas"]
    # each seed's CAS, in the order of classifier.seeds: their mean is the reported CAS
    assert len(q["cas_per_seed"]) == len(cfg.classifier.seeds) == 2
    assert q["cas"] == pytest.approx(sum(q["cas_per_seed"]) / 2)


def test_noise_is_neither_faithful_nor_close(noise_quality):
    assert noise_quality["label_fidelity"] < 0.4  # ~1/10 for labels the images do not carry
    assert noise_quality["coverage"] < 0.2


def test_reconstruction_error_only_with_an_encoder(noise_quality, real_as_synthetic, digits):
    assert noise_quality["reconstruction_error"] is None  # cgan: no encoder
    assert finite(real_as_synthetic["reconstruction_error"])  # cvae
    assert reconstruction_error(None, digits.test) is None
    assert all(noise_quality[key] is None for key in STYLIZATION_KEYS)
    assert 0.0 <= real_as_synthetic["stylize_accuracy"] <= 1.0
    assert 0.0 <= real_as_synthetic["transfer_accuracy"] <= 1.0
    assert -1.0 <= real_as_synthetic["style_r_slant"] <= 1.0


class _Prototypes(CVAE):
    """A stand-in encoder-decoder: decode(z, k) draws a fixed image of class k (``mode="class"``),
    or the image whose code z is, ignoring k (``mode="copy"``): known answers for stylisation."""

    def __init__(self, prototypes, images, mode):
        super().__init__(CVAEConfig(latent_dim=4, width=8), tuple(images.shape[1:]), len(prototypes))
        self.prototypes, self.images, self.mode = prototypes, images, mode

    def encode(self, x, y):
        index = torch.stack([torch.nonzero((self.images == xi).flatten(1).all(1))[0, 0] for xi in x])
        return index.float()[:, None].repeat(1, 4), torch.zeros(len(x), 4)  # mu = the image's index

    def decode(self, z, y):
        return self.prototypes[y] if self.mode == "class" else self.images[z[:, 0].long()]


def stylize_accuracy(model, rows, judge):
    return stylization_metrics(model, rows, judge)["stylize_accuracy"]


def test_stylize_accuracy_known_answers(judged, digits):
    judge = judged[0]
    rows = digits.test.subset(torch.arange(60))
    right = predict(judge, digits.val.images) == digits.val.labels
    prototypes = torch.stack([digits.val.images[(digits.val.labels == k) & right][0] for k in range(10)])
    # a decoder that always draws the asked class: every stylised image is judged right
    assert stylize_accuracy(_Prototypes(prototypes, rows.images, "class"), rows, judge) == 1.0
    # a decoder that ignores the asked class draws the row's own image in all 10 columns: the
    # judge's one reading of it matches exactly one asked class, so the score is 1/10
    assert stylize_accuracy(_Prototypes(prototypes, rows.images, "copy"), rows, judge) == pytest.approx(0.1)
    assert stylize_accuracy(None, rows, judge) is None


def test_transfer_accuracy_and_style_r_known_answers(judged, digits):
    judge = judged[0]
    rows = digits.test.subset(torch.arange(60))
    right = predict(judge, rows.images) == rows.labels
    prototypes = torch.stack([digits.val.images[digits.val.labels == k][0] for k in range(10)])
    # every other class drawn as its fixed prototype: the style is lost (no correlation exists)
    drawn = stylization_metrics(_Prototypes(prototypes, rows.images, "class"), rows, judge)
    assert drawn["style_r_slant"] is None and drawn["style_r_thickness"] is None
    assert drawn["style_gain_slant"] == pytest.approx(0.0, abs=1e-12)
    assert drawn["style_gain_thickness"] == pytest.approx(0.0, abs=1e-12)
    # the source copied into every column: the style is kept exactly (r = 1), but the asked other
    # class is never drawn, so transfer accuracy counts only the judge's misreadings of the copy
    copied = stylization_metrics(_Prototypes(prototypes, rows.images, "copy"), rows, judge)
    assert copied["style_r_slant"] == pytest.approx(1.0) and copied["style_r_thickness"] == pytest.approx(1.0)
    assert copied["style_gain_slant"] == pytest.approx(1.0) and copied["style_gain_thickness"] == pytest.approx(1.0)
    assert copied["transfer_accuracy"] == pytest.approx(float((~right).sum()) / (60 * 9))


def test_real_reference_matches_the_same_computation(real_as_synthetic, digits, judged, cfg):
    ref = real_reference(digits, judged[0], cfg)
    assert set(ref) == set(QUALITY_KEYS) | {"n"}
    assert ref["cas"] is None and ref["cas_std"] is None and ref["reconstruction_error"] is None
    assert ref["stylize_accuracy"] is None
    for key in ("fid", "kid", "coverage", "label_fidelity", "sharpness_ratio"):
        assert ref[key] == pytest.approx(real_as_synthetic[key])  # the val split, both times


def test_cas_trains_on_synthetic_and_tests_on_real(digits):
    cfg = ClassifierConfig(steps=100, seeds=[0, 1])
    cas = classification_accuracy_score(digits.train, digits, cfg, seeds=[0, 1, 2])
    assert cas["seeds"] == [0, 1, 2] and len(cas["per_seed"]) == 3
    assert cas["mean"] > 0.8 and cas["ci_low"] <= cas["mean"] <= cas["ci_high"]
    assert classification_accuracy_score(digits.train, digits, cfg)["seeds"] == [0, 1]


def test_method_quality_refuses_a_mismatched_model(digits, judged, cfg):
    cgan = build_model("cgan", CGANConfig(latent_dim=4, width=8), digits.image_shape, 10)
    with pytest.raises(ValueError, match="cgan"):
        method_quality("cvae", cgan, digits.val, digits, judged[0], cfg)
