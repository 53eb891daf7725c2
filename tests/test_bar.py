"""The bar synthetic data must clear: classical augmentation, combined sources, filtered sets,
rare classes. Known answers where one exists; the metrics and report contract for the new sources."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from augment.core.labels import labels_from_counts
from augment.core.pixels import quantize
from augment.data.labeled import DataError, LabeledImages
from augment.data.splits import load_splits
from augment.models import build_model
from augment.params.config import (
    AugmentationConfig,
    ClassifierConfig,
    CVAEConfig,
    DataConfig,
    FilterConfig,
    ImbalanceConfig,
)
from augment.params.sources import SOURCES, filtered_name, parse_source, source_label
from augment.sampling.generation import sample_images
from augment.sampling.restyle import StyledDraw, styled_set
from evaluation.classifiers.classic import (
    ClassicAugmentation,
    affine_theta,
    color_jitter,
    erase_mask,
    hsv_to_rgb,
    rgb_to_hsv,
)
from evaluation.classifiers.filtering import class_thresholds, filtered_sample, load_filter, save_filter, train_filter
from evaluation.classifiers.judge import load_judge
from evaluation.classifiers.mixing import mix_training_data
from evaluation.classifiers.prediction import probabilities
from evaluation.classifiers.training import train_classifier
from evaluation.quality.stats import paired_delta, summarize, verdict
from evaluation.report.bar import capitalized
from evaluation.report.entries import comparison
from evaluation.report.findings import explain
from evaluation.report.writer import accuracy_table, render_report

NO_AUGMENTATION = AugmentationConfig(degrees=0, translate=0, scale_min=1, scale_max=1, erasing=0, hflip=0)
TINY = ClassifierConfig(seeds=[0], steps=30, width=8, batch_size=32)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def test_every_source_parses_to_what_its_name_says():
    assert SOURCES[:2] == ("real", "classic")
    # 3 methods x (alone, classic+, filtered) + 2 encoder models x (restyle, transfer) x (alone, classic+)
    assert len(SOURCES) == len(set(SOURCES)) == 2 + 12 + 12  # 4 methods x 3; 3 encoders x 2 kinds x 2
    combined = parse_source("classic+cgan")
    assert (combined.classic, combined.method, combined.filtered, combined.synthetic) == (True, "cgan", False, "cgan")
    kept = parse_source("cvaegan-filtered")
    assert (kept.classic, kept.method, kept.filtered, kept.synthetic) == (False, "cvaegan", True, "cvaegan-filtered")
    assert parse_source("classic").synthetic is None and parse_source("classic").classic
    assert filtered_name("cvae") == "cvae-filtered"
    assert source_label("classic+cvaegan") == "classical augmentation + CVAE-GAN"
    with pytest.raises(ValueError, match="unknown source 'classic\\+gan'"):
        parse_source("classic+gan")


# --------------------------------------------------------------------------------------------
# Classical augmentation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("angle,translate,scale", [(10.0, (0, 0), 1.0), (-15.0, (2, -1), 0.9), (30.0, (-4, 5), 1.2)])
def test_the_batched_warp_is_torchvisions_affine(angle, translate, scale):
    x = torch.rand(1, 1, 28, 20)  # not square: the aspect terms matter
    expected = TF.affine_image(
        x,
        angle=angle,
        translate=list(translate),
        scale=scale,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )
    theta = affine_theta(
        torch.tensor([angle]), torch.tensor([translate], dtype=torch.float32), torch.tensor([scale]), 28, 20
    )
    got = F.grid_sample(
        x,
        F.affine_grid(theta, list(x.shape), align_corners=False),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    assert torch.allclose(got, expected, atol=1e-5)


def test_no_augmentation_settings_give_the_images_back():
    x = torch.rand(16, 1, 8, 8)
    out = ClassicAugmentation(NO_AUGMENTATION)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-5)


def test_each_image_gets_its_own_draw_and_the_generator_fixes_them():
    x = torch.rand(1, 1, 28, 28).expand(8, 1, 28, 28).contiguous()  # 8 copies of one image
    aug = ClassicAugmentation(AugmentationConfig())
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert len({tuple(img.flatten()[:50].tolist()) for img in a}) == 8  # all different
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


def test_flips_turn_images_over_with_their_probabilities_and_draw_nothing_when_off():
    x = torch.rand(4000, 1, 6, 6)
    both = ClassicAugmentation(dataclasses.replace(NO_AUGMENTATION, hflip=1.0, vflip=1.0))
    assert torch.allclose(both(x[:8], torch.Generator().manual_seed(0)), x[:8].flip(-1).flip(-2), atol=1e-5)
    half = ClassicAugmentation(dataclasses.replace(NO_AUGMENTATION, vflip=0.5))(x, torch.Generator().manual_seed(1))
    upside_down = (half - x.flip(-2)).flatten(1).abs().max(dim=1).values < 1e-5  # [4000]
    assert upside_down.float().mean().item() == pytest.approx(0.5, abs=0.03)
    # off, the vertical flip draws nothing: the generator ends where it ended before the option existed
    g_off, g_ref = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    ClassicAugmentation(AugmentationConfig())(x[:8], g_off)
    torch.rand(8, 5, generator=g_ref)  # the angle, shift, scale, flip draws
    erase_mask(8, 6, 6, 0.0, 0.1, g_ref)
    assert torch.equal(torch.rand(3, generator=g_off), torch.rand(3, generator=g_ref))


def test_colour_jitter_hue_is_torchvisions_and_off_draws_nothing():
    x = torch.rand(6, 3, 5, 7)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-6)
    out = color_jitter(x, 0.0, 0.0, 0.0, 0.3, torch.Generator().manual_seed(4))
    shift = (2 * torch.rand(6, generator=torch.Generator().manual_seed(4)) - 1) * 0.3
    expected = torch.stack([TF.adjust_hue(x[i], float(shift[i])) for i in range(6)])
    assert torch.allclose(out, expected, atol=1e-5)
    g = torch.Generator().manual_seed(5)
    assert torch.equal(color_jitter(x, 0.0, 0.0, 0.0, 0.0, g), x)
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=torch.Generator().manual_seed(5)))


def test_colour_jitter_factors_and_what_they_keep():
    g = torch.Generator().manual_seed(0)
    x = 0.25 + 0.45 * torch.rand(2000, 3, 4, 4)  # in [0.25, 0.7]: no clamping at a factor in [0.6, 1.4]
    bright = color_jitter(x, 0.4, 0.0, 0.0, 0.0, g)
    ratio = (bright / x).flatten(1)  # one factor per image
    assert torch.allclose(ratio.min(1).values, ratio.max(1).values, atol=1e-5)
    assert 0.6 - 1e-4 <= ratio.min().item() and ratio.max().item() <= 1.4 + 1e-4
    assert ratio[:, 0].std().item() > 0.2  # drawn per image, uniform on [0.6, 1.4]: sd 0.23
    luma = lambda t: (0.299 * t[:, 0] + 0.587 * t[:, 1] + 0.114 * t[:, 2]).mean(dim=(1, 2))  # noqa: E731
    contrasted = color_jitter(x, 0.0, 0.3, 0.0, 0.0, g)
    assert torch.allclose(luma(contrasted), luma(x), atol=1e-5)  # contrast turns about the mean grey
    grey = x[:, :1].expand(-1, 3, -1, -1).contiguous()  # R = G = B
    assert torch.allclose(color_jitter(grey, 0.0, 0.0, 0.9, 0.5, g), grey, atol=1e-6)  # no colour to change
    one_channel = torch.rand(4, 1, 4, 4)
    assert torch.equal(color_jitter(one_channel, 0.0, 0.0, 0.9, 0.5, g), one_channel)


def test_erasing_probability_and_area():
    g = torch.Generator().manual_seed(0)
    mask = erase_mask(4000, 28, 28, p=0.25, max_area=0.1, generator=g)
    erased = mask.flatten(1).any(dim=1)
    assert erased.float().mean().item() == pytest.approx(0.25, abs=0.03)
    area = mask.flatten(1).float().mean(dim=1)[erased]
    assert 0.01 <= area.min().item() and area.max().item() <= 0.13  # 2 %..10 %, rounding of sides
    assert not erase_mask(100, 8, 8, p=0.0, max_area=0.5, generator=g).any()


def test_classic_never_changes_labels_or_batches(digits):
    """An augmentation that changes nothing gives the real source's classifier bit for bit: the
    classic source differs from real only by its images' augmentation, never by labels, batch
    order or initialisation. And the augmentation is handed images only."""
    seen = []

    def identity(images, generator):
        seen.append(images.shape)
        return images

    real, _ = train_classifier(digits.train, digits.val, 10, TINY, seed=0, progress=False)
    same, _ = train_classifier(digits.train, digits.val, 10, TINY, seed=0, progress=False, augment=identity)
    assert len(seen) == TINY.steps and all(s[1:] == (1, 8, 8) for s in seen)
    for a, b in zip(real.state_dict().values(), same.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    augmented, _ = train_classifier(
        digits.train, digits.val, 10, TINY, seed=0, progress=False, augment=ClassicAugmentation(AugmentationConfig())
    )
    assert not torch.equal(augmented.head.weight, real.head.weight)


# --------------------------------------------------------------------------------------------
# Rare classes and top-up
# --------------------------------------------------------------------------------------------


def test_imbalance_keeps_exactly_the_asked_counts(digits):
    cfg = DataConfig(imbalance=ImbalanceConfig(classes=[0, 3], keep=0.1))
    thinned = load_splits(cfg)
    before = torch.bincount(digits.train.labels, minlength=10)
    after = torch.bincount(thinned.train.labels, minlength=10)
    for c in range(10):
        want = max(1, round(0.1 * int(before[c]))) if c in (0, 3) else int(before[c])
        assert int(after[c]) == want, c
    assert torch.equal(thinned.val.labels, digits.val.labels) and torch.equal(thinned.test.images, digits.test.images)
    # a subset of the balanced split's images
    rows = {tuple(x.flatten().tolist()) for x in digits.train.images}
    assert all(tuple(x.flatten().tolist()) in rows for x in thinned.train.images)
    # keep so small that round() gives 0: one image stays
    one = load_splits(DataConfig(imbalance=ImbalanceConfig(classes=[5], keep=0.001)))
    assert int((one.train.labels == 5).sum()) == 1


def test_imbalance_with_a_class_that_does_not_exist_names_the_key():
    with pytest.raises(DataError, match="data.imbalance.classes: class index 10 does not exist"):
        load_splits(DataConfig(imbalance=ImbalanceConfig(classes=[10])))


def _labeled(counts, value=0.0):
    labels = labels_from_counts(counts)
    return LabeledImages(torch.full((len(labels), 1, 4, 4), value), labels)


def test_top_up_fills_every_class_to_the_largest():
    real = _labeled([10, 2, 7])
    synthetic = _labeled([20, 20, 20], value=1.0)
    mixed = mix_training_data(real, synthetic, ratio=5.0, seed=0, mode="top_up")  # ratio unused
    assert torch.bincount(mixed.labels).tolist() == [10, 10, 10]
    added = mixed.labels[len(real) :]
    assert torch.bincount(added, minlength=3).tolist() == [0, 8, 3]
    assert (mixed.images[len(real) :] == 1.0).all()  # synthetic images after the real ones
    with pytest.raises(ValueError, match=r"needs 8 synthetic images of class 1 .* \(sample.per_class\)"):
        mix_training_data(real, _labeled([5, 5, 5]), 1.0, 0, mode="top_up")


def test_ratio_mode_is_unchanged_class_balanced():
    real = _labeled([10, 2, 7])
    mixed = mix_training_data(real, _labeled([20, 20, 20], 1.0), ratio=1.0, seed=0)
    assert len(mixed) == 2 * len(real)
    assert sorted(torch.bincount(mixed.labels[len(real) :]).tolist()) == [6, 6, 7]


# --------------------------------------------------------------------------------------------
# Judge-filtered synthesis
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_generator_and_filter(digits):
    torch.manual_seed(0)
    model = build_model("cvae", CVAEConfig(latent_dim=4, width=8), (1, 8, 8), 10).eval()
    net, info = train_filter(digits, TINY, FilterConfig(seed=7))
    return model, net, info


def test_a_filter_with_threshold_zero_keeps_the_plain_sample(tiny_generator_and_filter):
    model, net, _ = tiny_generator_and_filter
    kept = filtered_sample(model, net, per_class=6, threshold=0.0, seed=5, batch_size=16)
    plain = sample_images(model, labels_from_counts([6] * 10), seed=5, batch_size=16)
    assert torch.equal(kept.images, quantize(plain))
    assert torch.equal(kept.labels, labels_from_counts([6] * 10))
    assert kept.drawn == [6] * 10 and kept.accepted == [6] * 10 and kept.acceptance_rate == 1.0


class MislabellingGenerator(torch.nn.Module):
    """A stand-in generator with a known answer: for label y it returns a real digit of class y
    when the first coordinate of z is >= 0, and a real digit of class y + 1 otherwise (half its
    images are mislabelled)."""

    name = "stub"
    latent_dim = 2
    num_classes = 10
    image_shape = (1, 8, 8)

    def __init__(self, real: LabeledImages):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the stub a device
        self.by_class = [real.images[real.labels == c] for c in range(10)]

    @torch.no_grad()
    def generate(self, z, labels):
        drawn = torch.where(z[:, 0] >= 0, labels, (labels + 1) % 10)
        index = (z[:, 1].abs() * 1000).long()
        return torch.stack(
            [self.by_class[c][i % len(self.by_class[c])] for c, i in zip(drawn.tolist(), index.tolist(), strict=True)]
        )


def test_filtered_images_all_pass_and_rates_are_recorded(digits):
    stub = MislabellingGenerator(digits.train)
    net, _ = train_filter(digits, ClassifierConfig(seeds=[0]), FilterConfig(seed=7))  # the default classifier
    threshold = 0.5
    kept = filtered_sample(stub, net, per_class=20, threshold=threshold, seed=0, batch_size=64)
    assert torch.bincount(kept.labels).tolist() == [20] * 10
    prob = probabilities(net, kept.images.float() / 255.0)  # [N, K]
    assert (prob[torch.arange(len(kept.labels)), kept.labels] >= threshold).all()
    for rate, a, d in zip(kept.acceptance, kept.accepted, kept.drawn, strict=True):
        assert rate == pytest.approx(a / d) and a >= 20
    assert kept.acceptance_rate == pytest.approx(sum(kept.accepted) / sum(kept.drawn))
    # half the candidates carry the wrong class: a filter that knows digits keeps about half
    assert 0.4 <= kept.acceptance_rate <= 0.6
    # and every kept image is one the filter reads as its label
    truth = probabilities(net, kept.images.float() / 255.0).argmax(dim=1)
    assert (truth == kept.labels).float().mean() == 1.0


def test_an_impossible_threshold_fills_with_the_best_candidates_and_records_it(tiny_generator_and_filter):
    model, net, _ = tiny_generator_and_filter
    kept = filtered_sample(model, net, per_class=4, threshold=1.0, seed=0, max_draws=3)  # P >= 1: none pass
    assert torch.bincount(kept.labels).tolist() == [4] * 10 and len(kept.images) == 40
    assert kept.accepted == [0] * 10 and kept.filled == [4] * 10 and kept.drawn == [12] * 10
    # each class's fill is its best candidates, in decreasing P(intended class)
    p_kept = probabilities(net, kept.images.float() / 255.0)[torch.arange(40), kept.labels]  # [40]
    for c in range(10):
        mine = p_kept[4 * c : 4 * c + 4]
        assert torch.equal(mine, mine.sort(descending=True).values)


class HardClassFilter(torch.nn.Module):
    """A stand-in filter with known probabilities: it finds the nearest image of ``pool`` and
    gives its class P 0.95 (the next class the rest), except class 3, whose own P is 0.3: a class
    the filter finds hard, for real images as for synthetic ones."""

    def __init__(self, pool: torch.Tensor, owner: torch.Tensor):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the stub a device
        self.pool, self.owner = pool.flatten(1), owner  # [M, D], [M]

    def forward(self, x):
        y = self.owner[torch.cdist(x.flatten(1), self.pool).argmin(dim=1)]  # [B] the nearest image's class
        p_own = torch.where(y == 3, 0.3, 0.95)  # [B]
        logits = torch.full((len(x), 10), -30.0)
        logits[torch.arange(len(x)), y] = torch.log(p_own)
        logits[torch.arange(len(x)), (y + 1) % 10] = torch.log(1 - p_own)
        return logits


def test_a_class_the_filter_finds_hard_gets_real_datas_threshold(digits):
    stub = MislabellingGenerator(digits.train)  # half of each class's candidates are mislabelled
    pool = torch.cat(stub.by_class + [digits.val.images])  # every image either may show
    owner = torch.cat([torch.full((len(b),), c) for c, b in enumerate(stub.by_class)] + [digits.val.labels])
    net = HardClassFilter(pool, owner)
    thresholds = class_thresholds(net, digits.val, threshold=0.9, real_pass=0.9, num_classes=10)
    # real 3s reach only P 0.3: class 3's threshold is lowered to 0.3, the others keep 0.9
    assert thresholds[3] == pytest.approx(0.3, abs=1e-4) and all(t == 0.9 for c, t in enumerate(thresholds) if c != 3)
    kept = filtered_sample(stub, net, per_class=10, threshold=thresholds, seed=0, batch_size=64, max_draws=4)
    assert torch.bincount(kept.labels).tolist() == [10] * 10
    assert kept.filled == [0] * 10  # with real data's threshold, class 3 fills from its own 3s
    assert 0.3 <= kept.acceptance[3] <= 0.7
    # at the fixed 0.9 class 3 never passes: the run goes on, filled with its best, recorded
    fixed = filtered_sample(stub, net, per_class=10, threshold=0.9, seed=0, batch_size=64, max_draws=4)
    assert fixed.accepted[3] == 0 and fixed.filled[3] == 10 and fixed.drawn[3] == 40
    assert class_thresholds(net, digits.val, 0.9, 0.0, 10) == [0.9] * 10  # real_pass 0: off


def test_a_styled_set_through_a_filter_with_threshold_zero_is_the_styled_set(tiny_generator_and_filter, digits):
    model, net, _ = tiny_generator_and_filter  # a CVAE: it has an encoder
    for kind in ("restyle", "transfer"):
        draw = StyledDraw(model, digits.train, kind, noise=1.0, seed=3)
        kept = filtered_sample(model, net, per_class=5, threshold=0.0, seed=3, batch_size=16, draw=draw)
        plain = styled_set(model, digits.train, kind, per_class=5, noise=1.0, seed=3, batch_size=16)
        assert torch.equal(kept.images, quantize(plain.images)) and torch.equal(kept.labels, plain.labels)
        assert torch.equal(kept.items, torch.arange(50))  # round 0 only: items 0 .. K * per_class - 1
        assert torch.equal(torch.tensor(draw.origins)[kept.items], plain.sources)


class MislabellingEncoder(torch.nn.Module):
    """A stand-in model with an encoder and a known answer: its code is the noise alone (mu 0,
    sigma 1), and decoding as y returns a real digit of class y when z[0] >= 0, of class y + 1
    otherwise, so half its restyled and transferred images are mislabelled."""

    name = "stub-encoder"
    latent_dim = 2
    num_classes = 10
    image_shape = (1, 8, 8)
    can_encode = True

    def __init__(self, real: LabeledImages):
        super().__init__()
        self.stub = MislabellingGenerator(real)

    def encode(self, x, y):
        zeros = torch.zeros(len(x), self.latent_dim)
        return zeros, zeros  # mu, logvar: z = noise * eps

    def decode(self, z, labels):
        return self.stub.generate(z, labels)


@pytest.mark.parametrize("kind", ["restyle", "transfer"])
def test_a_filtered_styled_set_keeps_what_the_filter_reads_and_continues_the_pools(digits, kind):
    model = MislabellingEncoder(digits.train)
    net, _ = train_filter(digits, ClassifierConfig(seeds=[0]), FilterConfig(seed=7))  # the default classifier
    draw = StyledDraw(model, digits.train, kind, noise=1.0, seed=0)
    kept = filtered_sample(model, net, per_class=8, threshold=0.5, seed=0, batch_size=32, draw=draw)
    assert torch.bincount(kept.labels).tolist() == [8] * 10 and kept.filled == [0] * 10
    p = probabilities(net, kept.images.float() / 255.0)[torch.arange(80), kept.labels]  # [80]
    assert (p >= 0.5).all()  # every kept redraw reads as its class
    assert 0.35 <= kept.acceptance_rate <= 0.65  # half the redraws carry the wrong class
    assert bool((kept.items >= 80).any())  # rejected items were replaced by later ones
    origins = torch.tensor(draw.origins)  # item number -> real image
    assert len(origins) == sum(kept.drawn)  # one real image per candidate, none skipped
    same = digits.train.labels[origins[kept.items]] == kept.labels
    assert bool(same.all()) if kind == "restyle" else not bool(same.any())
    # a class asked again continues its pool: class 0's candidates are its pool in order
    for c in range(10):
        mine = [o for o, y in zip(draw.origins, draw.targets, strict=True) if y == c]  # in item order
        pool = draw.pools[c]
        assert len(mine) == kept.drawn[c] and mine == pool[torch.arange(len(mine)) % len(pool)].tolist()
    with pytest.raises(ValueError, match="numbered without gaps"):
        draw(torch.tensor([0]), 0)


def test_the_filter_network_is_tagged_and_not_the_judge(tiny_generator_and_filter, tmp_path):
    _, net, info = tiny_generator_and_filter
    save_filter(tmp_path / "filter.pt", net, info)
    loaded, meta = load_filter(tmp_path / "filter.pt")
    assert meta["role"] == "filter" and torch.equal(loaded.head.weight, net.head.weight)
    with pytest.raises(ValueError, match="not a judge"):
        load_judge(tmp_path / "filter.pt")


# --------------------------------------------------------------------------------------------
# metrics.json and the report
# --------------------------------------------------------------------------------------------

REAL = [0.90, 0.91, 0.92]
OFFSETS = {  # per-seed accuracy = real + offset + noise
    "classic": 0.02,
    "cvae": 0.0,
    "cgan": -0.03,
    "cvaegan": 0.03,
    "classic+cvae": 0.02,
    "classic+cgan": 0.0,
    "classic+cvaegan": 0.05,
    "cvae-filtered": 0.01,
    "cgan-filtered": -0.01,
    "cvaegan-filtered": 0.03,
    "cvae-restyle": 0.005,
    "cvaegan-restyle": 0.01,
    "cvae-transfer": -0.005,
    "cvaegan-transfer": 0.0,
    "classic+cvae-restyle": 0.015,
    "classic+cvaegan-restyle": 0.02,
    "classic+cvae-transfer": 0.01,
    "classic+cvaegan-transfer": 0.02,
}
NOISE = (0.001, -0.001, 0.0005)
NOISY = {"cvaegan": (0.012, -0.011, 0.004)}  # +1 point over classic, but an interval around 0


def _result(accs, rare_per_class=None):
    runs = []
    for seed, acc in enumerate(accs):
        per_class = [acc] * 10 if rare_per_class is None else rare_per_class[seed]
        runs.append(
            {
                "seed": seed,
                "accuracy": acc,
                "macro_f1": acc - 0.01,
                "train_images": 100,
                "per_class_accuracy": per_class,
            }
        )
    return {"runs": runs, "classes": [str(c) for c in range(10)]}


def _results(rare_per_class=None):
    out = {"real": _result(REAL, rare_per_class)}
    for source, offset in OFFSETS.items():
        noise = NOISY.get(source, NOISE)
        out[source] = _result([a + offset + e for a, e in zip(REAL, noise, strict=True)], rare_per_class)
    return out


def test_every_source_carries_its_deltas_with_intervals_and_verdicts():
    results = _results()
    samples = {filtered_name(m): {"acceptance_rate": 0.8} for m in ("cvae", "cgan", "cvaegan")}
    metrics = comparison(results, samples=samples)
    listed = [s for s in SOURCES if s in results]  # the 19 of the three latent-code methods
    assert list(metrics) == listed and len(listed) == 19
    acc = {s: [r["accuracy"] for r in results[s]["runs"]] for s in listed}
    for source, m in metrics.items():
        assert m["macro_f1_ci_low"] <= m["macro_f1"] <= m["macro_f1_ci_high"]
        if source == "real":
            assert "delta_vs_real" not in m and "delta_vs_classic" not in m
            continue
        d = paired_delta(acc[source], acc["real"])
        assert (m["delta_vs_real"], m["delta_ci_low"], m["verdict"]) == (d["mean"], d["ci_low"], verdict(d))
        if source == "classic":
            assert "delta_vs_classic" not in m
            continue
        d = paired_delta(acc[source], acc["classic"])
        assert m["delta_vs_classic"] == pytest.approx(d["mean"])
        assert (m["delta_vs_classic_ci_low"], m["delta_vs_classic_ci_high"]) == (d["ci_low"], d["ci_high"])
        assert m["verdict_vs_classic"] == verdict(d)
    assert metrics["classic+cvaegan"]["verdict_vs_classic"] == "helps"
    assert metrics["cgan"]["verdict_vs_classic"] == "hurts"
    d = paired_delta(acc["cvae-filtered"], acc["cvae"])
    assert metrics["cvae-filtered"]["delta_vs_unfiltered"] == pytest.approx(d["mean"])
    assert metrics["cvae-filtered"]["verdict_vs_unfiltered"] == verdict(d) == "helps"
    assert metrics["cvae-filtered"]["acceptance_rate"] == 0.8
    assert "delta_vs_unfiltered" not in metrics["cvae"]


def test_the_report_says_beyond_classical_augmentation_only_when_the_interval_is_above_zero():
    metrics = comparison(_results())
    sentences = explain(metrics, {})
    beyond = {
        s.split(" helps beyond classical augmentation")[0]
        for s in sentences
        if " helps beyond classical augmentation" in s
    }
    above = {capitalized(source_label(s)) for s, m in metrics.items() if m.get("delta_vs_classic_ci_low", -1) > 0}
    assert beyond == above == {"Classical augmentation + CVAE-GAN", "CVAE-GAN (filtered)"}
    # CVAE-GAN alone: +1 point over classic on average, but its interval contains 0
    cvaegan = metrics["cvaegan"]
    assert cvaegan["delta_vs_classic"] == pytest.approx(0.01, abs=2e-3)
    assert cvaegan["delta_vs_classic_ci_low"] < 0 < cvaegan["delta_vs_classic_ci_high"]
    assert any(s.startswith("CVAE-GAN does not beat classical augmentation measurably") for s in sentences)
    assert any(s.startswith("CVAE does worse than classical augmentation") for s in sentences)
    table = accuracy_table(metrics)
    assert "Δ vs classic (points)" in table and "| classical augmentation + CVAE-GAN |" in table


def test_filtering_sentences_report_the_change_and_the_acceptance():
    samples = {"cgan-filtered": {"acceptance_rate": 0.625}}
    sentences = explain(comparison(_results(), samples=samples), {})
    cgan = [s for s in sentences if s.startswith("Filtering CGAN's images")]
    assert cgan == [s for s in cgan if "(the filter accepted 62.5 % of the candidates) helps" in s]
    assert len(cgan) == 1


def test_rare_classes_get_per_class_accuracy_with_intervals_and_macro_f1():
    rare = [[0.5, 0.6] + [0.9] * 8, [0.55, 0.65] + [0.9] * 8, [0.52, 0.62] + [0.9] * 8]
    results = _results(rare_per_class=rare)  # every source as good as real on the rare classes...
    better = [[v + 0.2 if c < 2 else v for c, v in enumerate(row)] for row in rare]
    results["cvae"] = _result(REAL, rare_per_class=better)  # ...but the CVAE: +20 points
    metrics = comparison(results, rare_classes=[0, 1], class_names=[str(c) for c in range(10)])
    real = metrics["real"]
    expected = summarize([0.5, 0.55, 0.52])
    assert real["rare_per_class"]["0"] == {
        "accuracy": expected["mean"],
        "ci_low": expected["ci_low"],
        "ci_high": expected["ci_high"],
    }
    assert real["rare_accuracy"] == pytest.approx(np.mean([0.55, 0.6, 0.57]))
    assert metrics["cvae"]["rare_delta_vs_real"] == pytest.approx(0.2)
    assert metrics["cvae"]["rare_verdict_vs_real"] == "helps"
    text = render_report(metrics, {}, {}, ".", {"dataset": "digits"})
    assert "## Rare classes" in text and "| CVAE | 0.723 [0.661, 0.786] |" in text
    assert "Sources that help the rare classes (interval of the delta above 0): CVAE (+20.00)." in text
    assert "## Rare classes" not in render_report(comparison(_results()), {}, {}, ".", {})
