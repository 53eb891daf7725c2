"""The comparison report: its sentences follow the numbers passed in, its verdicts are those of
evaluation.quality.stats, and the markdown carries the tables and the figure links."""

import copy

import pytest

from evaluation.quality.stats import HELPS, HURTS, NO_EFFECT, paired_delta, summarize, verdict
from evaluation.report.findings import explain
from evaluation.report.writer import render_report, write_report

REAL_ACC = [0.90, 0.92, 0.91]


def entry(per_seed, real=REAL_ACC):
    """A metrics.json entry built as pipelines/compare.py builds it (real=None: the baseline)."""
    s = summarize(per_seed)
    out = {
        "accuracy": s["mean"],
        "accuracy_std": s["std"],
        "accuracy_ci_low": s["ci_low"],
        "accuracy_ci_high": s["ci_high"],
        "accuracy_per_seed": list(per_seed),
        "seeds": list(range(len(per_seed))),
    }
    if real is not None:
        d = paired_delta(per_seed, real)
        out.update(delta_vs_real=d["mean"], delta_ci_low=d["ci_low"], delta_ci_high=d["ci_high"], verdict=verdict(d))
    return out


def make_metrics(helps="cvaegan"):
    """``helps`` gains ~2 points on every seed, cgan loses ~3, the third is noisy around 0."""
    gain = [a + 0.02 + e for a, e in zip(REAL_ACC, (0.001, -0.001, 0.0), strict=True)]
    noisy = [a + e for a, e in zip(REAL_ACC, (0.01, -0.012, 0.003), strict=True)]
    other = "cvae" if helps == "cvaegan" else "cvaegan"
    return {
        "real": entry(REAL_ACC, real=None),
        helps: entry(gain),
        "cgan": entry([a - 0.03 + e for a, e in zip(REAL_ACC, (0.001, 0.0, -0.001), strict=True)]),
        other: entry(noisy),
    }


def q(sharp, cov, fid=5.0, fidelity=0.9, cas=0.8, recon=0.02):
    return {
        "cas": cas,
        "cas_std": 0.01,
        "fid": fid,
        "kid": 0.1,
        "kid_std": 0.01,
        "precision": 0.8,
        "recall": 0.5,
        "density": 0.9,
        "coverage": cov,
        "label_fidelity": fidelity,
        "diversity_ratio": 0.8,
        "sharpness_ratio": sharp,
        "reconstruction_error": recon,
        "n": 360.0,
    }


def make_quality(cvae_sharp=0.5, cgan_sharp=1.0, cvae_cov=0.8, cgan_cov=0.6):
    return {
        "cvae": q(cvae_sharp, cvae_cov, fid=4.0, fidelity=0.99, cas=0.82),
        "cgan": q(cgan_sharp, cgan_cov, fid=3.0, fidelity=0.85, cas=0.75, recon=None),
        "cvaegan": q(0.9, 0.7, fid=2.0, fidelity=0.95, cas=0.80),
        "real": {**q(1.0, 0.99, fid=0.5, fidelity=0.98, cas=None, recon=None), "cas_std": None, "n": 144.0},
    }


def sentence(sentences, start):
    found = [s for s in sentences if s.startswith(start)]
    assert len(found) == 1, (start, sentences)
    return found[0]


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


def test_verdict_words_are_those_of_stats():
    metrics = make_metrics()
    text = render_report(metrics, make_quality(), {}, ".")
    sentences = explain(metrics, make_quality())
    expected = {"cvaegan": HELPS, "cgan": HURTS, "cvae": NO_EFFECT}
    for method, label in (("cvae", "CVAE"), ("cgan", "CGAN"), ("cvaegan", "CVAE-GAN")):
        word = expected[method]
        assert metrics[method]["verdict"] == word  # the made-up numbers do what they should
        row = [line for line in text.splitlines() if line.startswith(f"| {label} |")][0]
        assert row.rstrip(" |").endswith(word)
        assert sentence(sentences, f"{label} {word} " if word != NO_EFFECT else f"{label} has {word} ")
    assert sentence(sentences, "CVAE-GAN is the only method that helps the classifier (+2.00 points)")


def test_one_seed_never_claims_an_effect():
    metrics = {"real": entry([0.9], real=None), "cvae": entry([0.95], real=[0.9])}
    metrics["cvae"].update(delta_ci_low=0.05, delta_ci_high=0.05)  # what summarize gives for n=1
    sentences = explain(metrics, {})
    assert sentence(sentences, f"CVAE has {NO_EFFECT} on the classifier").endswith(
        "(one seed only: no interval can be estimated)."
    )
    assert f"No method {HELPS} the classifier in this run." in sentences


# --------------------------------------------------------------------------------------------
# Sentences follow the numbers
# --------------------------------------------------------------------------------------------


def test_explanation_changes_with_the_numbers():
    a = explain(make_metrics(helps="cvaegan"), make_quality(cvae_sharp=0.5, cgan_sharp=1.0))
    b = explain(make_metrics(helps="cvae"), make_quality(cvae_sharp=1.0, cgan_sharp=0.5))
    assert a != b
    assert sentence(a, "CGAN is the sharpest method")
    assert sentence(b, "CVAE is the sharpest method")
    assert sentence(a, "CVAE-GAN is the only method that helps the classifier")
    assert sentence(b, "CVAE is the only method that helps the classifier")


def test_the_method_that_helps_most_is_named():
    metrics = make_metrics(helps="cvaegan")
    metrics["cvae"] = entry([a + 0.01 for a in REAL_ACC])  # helps too, by less
    s = explain(metrics, {})
    assert sentence(s, "CVAE-GAN helps the classifier most (+2.00 points).")
    metrics["cvae"] = copy.deepcopy(metrics["cvaegan"])  # helps by as much
    assert sentence(explain(metrics, {}), "CVAE and CVAE-GAN are tied: each helps the classifier by +2.00 points")


def test_superlatives_name_the_right_methods():
    s = explain(make_metrics(), make_quality())
    assert sentence(s, "CVAE is the most diverse method (coverage 0.800;")
    assert sentence(s, "CVAE is the most label-faithful method")
    assert sentence(s, "CVAE-GAN is the closest-to-real method (FID 2.000;")
    assert sentence(s, "CVAE has the highest CAS").endswith("trained on real data: 0.910).")


def test_best_cas_is_compared_with_the_runner_up_paired_by_seed():
    quality = make_quality()  # CAS: CVAE 0.82, CVAE-GAN 0.80 (runner-up), CGAN 0.75
    quality["cvae"]["cas_per_seed"] = [0.821, 0.819, 0.822, 0.818]
    quality["cvaegan"]["cas_per_seed"] = [0.801, 0.800, 0.799, 0.800]  # 2.0 points below on every seed
    text = sentence(explain(make_metrics(), quality), "CVAE has the highest CAS")
    assert "; CVAE minus CVAE-GAN, paired by seed: +2.00 points [" in text and text.endswith("], separable).")
    quality["cvaegan"]["cas_per_seed"] = [0.821, 0.779, 0.810, 0.790]  # 2.0 points below on average, 0 on seed 0
    assert sentence(explain(make_metrics(), quality), "CVAE has the highest CAS").endswith("not separable).")
    quality["cvaegan"]["cas_per_seed"] = [0.80, 0.80]  # other seeds than the best's: no pairing
    assert sentence(explain(make_metrics(), quality), "CVAE has the highest CAS").endswith(
        "trained on real data: 0.910)."
    )


def test_ties_are_named():
    s = explain(make_metrics(), make_quality(cvae_sharp=1.0, cgan_sharp=1.0001))
    assert sentence(
        s,
        "CVAE and CGAN are tied as the sharpest methods (sharpness relative to real "
        "test images 1.000 each; CVAE-GAN 0.900",
    )


@pytest.mark.parametrize(
    "cvae_sharp, cgan_cov, word",
    [
        (0.5, 0.6, "holds"),  # VAE blurrier and GAN less diverse
        (1.2, 0.6, "does not hold"),  # VAE sharper
        (0.5, 0.9, "does not hold"),  # GAN more diverse
        (0.5, 0.8, "does not hold"),  # equal coverage: a tie is no difference
    ],
)
def test_vae_gan_claim_is_checked_not_assumed(cvae_sharp, cgan_cov, word):
    s = explain(make_metrics(), make_quality(cvae_sharp=cvae_sharp, cgan_cov=cgan_cov))
    assert sentence(s, "The claim").split(" in this run")[0].endswith(f'diverse" {word}')


def test_claim_cannot_be_checked_without_both_models():
    quality = make_quality()
    del quality["cgan"]
    assert "cannot be checked" in sentence(explain(make_metrics(), quality), "The claim")


# --------------------------------------------------------------------------------------------
# The markdown
# --------------------------------------------------------------------------------------------


def test_markdown_has_tables_links_and_context(tmp_path):
    reports = tmp_path / "reports"
    figures = {
        "accuracy": str(reports / "figures" / "accuracy.png"),
        "samples/cvae": str(reports / "samples" / "cvae.png"),
        "samples/cgan": str(reports / "samples" / "cgan.png"),
        "stylisation/cvae": str(reports / "figures" / "stylise_cvae.png"),
        "stylisation/cgan": str(reports / "figures" / "stylise_cgan.png"),  # must not show
        "interpolation/cgan": str(reports / "figures" / "interp_cgan.png"),
        "training/cvaegan": str(tmp_path / "elsewhere" / "losses.png"),
    }
    metrics, quality = make_metrics(), make_quality()
    out = reports / "comparison.md"
    text = write_report(metrics, quality, figures, out, {"dataset": "digits", "train_size": 1294, "seeds": [0, 1, 2]})
    assert out.read_text() == text
    assert text.startswith("# ")
    assert "dataset `digits`, 1294 real training images, classifier seeds 0, 1, 2" in text
    assert "| Source | Test accuracy | 95 % interval |" in text
    assert "| Method | CAS ↑ | FID ↓ |" in text
    for link in (
        "(figures/accuracy.png)",
        "(samples/cvae.png)",
        "(samples/cgan.png)",
        "(figures/stylise_cvae.png)",
        "(figures/interp_cgan.png)",
        "(../elsewhere/losses.png)",
    ):
        assert link in text
    assert "stylise_cgan" not in text
    assert "Stylisation does not apply to CGAN: it has no encoder" in text
    for s in explain(metrics, quality):
        assert f"- {s}" in text
    reference = [line for line in text.splitlines() if line.startswith("| held-out real")][0]
    real = metrics["real"]
    assert reference.split(" | ")[1] == f"{real['accuracy']:.3f} ± {real['accuracy_std']:.3f}"


def test_inputs_are_not_modified(tmp_path):
    metrics, quality = make_metrics(), make_quality()
    before = copy.deepcopy((metrics, quality))
    write_report(metrics, quality, {}, tmp_path / "comparison.md")
    assert (metrics, quality) == before


def test_stylisation_sentence_reports_both_encoders_and_the_reconstruction_ratio():
    quality = make_quality()
    quality["cvae"].update(stylize_accuracy=0.95, reconstruction_error=0.010)
    quality["cvaegan"].update(stylize_accuracy=0.91, reconstruction_error=0.012)
    quality["cgan"]["stylize_accuracy"] = None
    combined = {"cvaegan": "cvae"}  # the combined model and the one it started from
    s = sentence(explain(make_metrics(), quality, combined), "Stylisation:")
    assert "CVAE 0.950 and CVAE-GAN 0.910" in s and "CGAN" not in s
    assert "1.20 times the CVAE's pixel error (0.0120 vs 0.0100)" in s and "keeps most" in s
    assert "times the" not in sentence(explain(make_metrics(), quality), "Stylisation:")  # no combination given
    quality["cvaegan"]["reconstruction_error"] = 0.02
    assert "keeps less" in sentence(explain(make_metrics(), quality, combined), "Stylisation:")


def test_the_combination_sentences_follow_the_combinations_given_not_the_names():
    """A plugin pair (mix started from toy) gets the sentences the CVAE-GAN gets from the CVAE."""
    quality = {"toy": make_quality()["cvae"], "mix": make_quality()["cvaegan"], "real": make_quality()["real"]}
    quality["mix"]["style_r_slant"] = 0.8
    plain = explain(make_metrics(), quality)
    assert not [s for s in plain if s.startswith("The combination against")]
    s = explain(make_metrics(), quality, {"mix": "toy"})
    assert sentence(s, "The combination against the toy: mix sharpness ratio 0.900 vs 0.500 (better)")
    assert not [x for x in explain(make_metrics(), make_quality()) if x.startswith("Stylisation")]


def test_the_quality_table_leaves_out_a_column_that_is_n_a_in_every_row():
    from evaluation.report.writer import quality_table

    quality = make_quality()
    table = quality_table(quality)
    header = table.splitlines()[0]
    assert "Sharpness ratio" in header and "Reconstruction MSE" in header  # the CVAE has one
    assert "Style r (colour)" not in header and "q(y|x) accuracy" not in header  # grey, no pool: n/a everywhere
    quality["cvae"]["style_r_colour"] = 0.8
    assert "Style r (colour)" in quality_table(quality).splitlines()[0]
    widths = {line.count("|") for line in quality_table(quality).splitlines() if line.startswith("|")}
    assert len(widths) == 1  # every row has the header's cells
