"""Known-answer tests for evaluation.quality.stats: t intervals, paired deltas, verdicts."""

import math

import numpy as np
import pytest
from scipy import stats as st

from evaluation.quality.stats import paired_delta, summarize, verdict


def test_summarize_matches_hand_computed_t_interval():
    s = summarize([0.9, 0.92, 0.94])
    # By hand: mean 0.92; deviations -0.02, 0, 0.02 -> s = sqrt(0.0008 / 2) = 0.02;
    # t_{0.975, 2} = 4.302652729...; half-width = 4.302652729 * 0.02 / sqrt(3) = 0.049682754.
    assert s["n"] == 3 and s["ci_defined"] is True
    assert s["mean"] == pytest.approx(0.92, abs=1e-12)
    assert s["std"] == pytest.approx(0.02, abs=1e-12)
    assert st.t.ppf(0.975, 2) == pytest.approx(4.302652729, abs=1e-8)
    half = st.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert s["ci_low"] == pytest.approx(0.92 - half, abs=1e-12)
    assert s["ci_high"] == pytest.approx(0.92 + half, abs=1e-12)
    assert s["ci_low"] == pytest.approx(0.870317246, abs=1e-8)
    assert s["ci_high"] == pytest.approx(0.969682754, abs=1e-8)


def test_summarize_larger_sample_uses_n_minus_one_dof():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    s = summarize(x)
    std = math.sqrt(sum((v - 5.0) ** 2 for v in x) / 4)  # mean 5, ddof=1
    half = st.t.ppf(0.975, 4) * std / math.sqrt(5)
    assert (s["mean"], s["std"]) == (pytest.approx(5.0), pytest.approx(std))
    assert (s["ci_low"], s["ci_high"]) == (pytest.approx(5.0 - half), pytest.approx(5.0 + half))


def test_summarize_single_value_has_undefined_interval():
    s = summarize([0.8])
    assert s == {"mean": 0.8, "std": 0.0, "n": 1, "ci_low": 0.8, "ci_high": 0.8, "ci_defined": False}
    assert verdict(s) == "no measurable effect"
    with pytest.raises(ValueError):
        summarize([])


def test_paired_delta_pairs_by_position():
    real = [0.80, 0.90, 0.70]
    method = [0.81, 0.91, 0.71]  # +0.01 on every seed, despite large seed-to-seed spread
    d = paired_delta(method, real)
    assert d["mean"] == pytest.approx(0.01) and d["std"] == pytest.approx(0.0, abs=1e-12)
    assert verdict(d) == "helps"
    # The same numbers, mis-paired, are no longer a constant shift.
    shuffled = paired_delta([0.71, 0.81, 0.91], real)
    assert shuffled["std"] > 0.05 and verdict(shuffled) == "no measurable effect"
    # Identical to summarizing the differences by hand.
    assert d == summarize(np.subtract(method, real))


def test_paired_delta_rejects_bad_lengths():
    with pytest.raises(ValueError):
        paired_delta([0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        paired_delta([], [])


def test_verdict_three_cases():
    assert verdict(summarize([0.02, 0.03, 0.025, 0.028])) == "helps"
    assert verdict(summarize([-0.02, -0.03, -0.025, -0.028])) == "hurts"
    assert verdict(summarize([-0.01, 0.02, 0.005, -0.004])) == "no measurable effect"
    # Mean above 0 but the interval reaches below it: not "helps".
    s = summarize([0.05, -0.01, 0.04])
    assert s["mean"] > 0 and s["ci_low"] < 0 and verdict(s) == "no measurable effect"
    # Boundaries: an interval touching 0 is not entirely above/below it.
    assert verdict({"ci_low": 0.0, "ci_high": 1.0, "ci_defined": True}) == "no measurable effect"
    assert verdict({"ci_low": -1.0, "ci_high": 0.0, "ci_defined": True}) == "no measurable effect"
