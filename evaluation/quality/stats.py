"""Statistics over seeds: mean with a t confidence interval, paired deltas, and a verdict.

Each downstream result (e.g. test accuracy) is measured over several seeds. A method is said to
*help* only when the 95% confidence interval of its per-seed improvement over the real-data
baseline lies entirely above zero; with few seeds the interval is wide and the honest answer is
"no measurable effect".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# The Student t quantile: scipy.stats.t.ppf's own kernel, without importing scipy.stats (1-2 s
# of every classifier stage's start-up).
from scipy.special import stdtrit

__all__ = ["summarize", "paired_delta", "verdict", "HELPS", "HURTS", "NO_EFFECT"]

HELPS = "helps"
HURTS = "hurts"
NO_EFFECT = "no measurable effect"


def summarize(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> dict[str, Any]:
    """Mean, sample std and a two-sided Student-t confidence interval for the mean.

        mean = 1/n sum x_i,   s = sqrt(1/(n-1) sum (x_i - mean)^2)
        CI   = mean +- t_{(1+confidence)/2, n-1} * s / sqrt(n)

    Returns ``{"mean", "std", "n", "ci_low", "ci_high", "ci_defined"}`` with plain Python types.
    With a single value the interval cannot be estimated: std is 0, the interval is
    ``[mean, mean]`` and ``ci_defined`` is False (``verdict`` then never claims an effect).

    Reference: any statistics text, e.g. Wasserman 2004, "All of Statistics", sec. 10.
    """
    x = np.asarray(values, dtype=np.float64).ravel()  # [n]
    n = x.size
    if n == 0:
        raise ValueError("summarize needs at least one value")
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "n": 1, "ci_low": mean, "ci_high": mean, "ci_defined": False}
    std = float(x.std(ddof=1))
    half = float(stdtrit(n - 1, (1.0 + confidence) / 2.0)) * std / np.sqrt(n)  # t_{(1+c)/2, n-1}
    return {"mean": mean, "std": std, "n": int(n), "ci_low": mean - half, "ci_high": mean + half, "ci_defined": True}


def paired_delta(
    method_values: Sequence[float] | np.ndarray, real_values: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> dict[str, Any]:
    """``summarize`` of the per-seed differences ``method[i] - real[i]``, paired by position.

    Position i must be the same seed in both lists (same split, same classifier initialisation),
    so seed-to-seed noise common to both cancels: the paired interval is narrower than comparing
    two independent means. Raises ValueError if the lengths differ or are zero.
    """
    m = np.asarray(method_values, dtype=np.float64).ravel()  # [n]
    r = np.asarray(real_values, dtype=np.float64).ravel()  # [n]
    if m.size != r.size:
        raise ValueError(f"paired values need equal lengths, got {m.size} and {r.size}")
    if m.size == 0:
        raise ValueError("paired_delta needs at least one pair")
    return summarize(m - r, confidence)


def verdict_key(prefix: str) -> str:
    """The metrics.json key of the verdict on the interval ``<prefix>_ci_low`` / ``_ci_high``:
    ``delta`` -> ``verdict``, ``delta_vs_classic`` -> ``verdict_vs_classic``,
    ``rare_delta_vs_real`` -> ``rare_verdict_vs_real``."""
    return prefix.replace("delta", "verdict", 1)


def delta_fields(value_key: str, prefix: str, delta_summary: dict[str, Any]) -> dict[str, Any]:
    """A paired delta as metrics.json fields: the mean under ``value_key``, the interval under
    ``<prefix>_ci_low`` / ``<prefix>_ci_high`` and its :func:`verdict` under :func:`verdict_key`.
    The verdict is computed here, once; the report reads it back."""
    d = delta_summary
    return {
        value_key: d["mean"],
        f"{prefix}_ci_low": d["ci_low"],
        f"{prefix}_ci_high": d["ci_high"],
        verdict_key(prefix): verdict(d),
    }


def verdict(delta_summary: dict[str, Any]) -> str:
    """ "helps" if the delta's interval lies entirely above 0 (``ci_low > 0``), "hurts" if entirely
    below (``ci_high < 0``), otherwise -- including when the interval is undefined (one seed) --
    "no measurable effect"."""
    if not delta_summary.get("ci_defined", True):
        return NO_EFFECT
    if delta_summary["ci_low"] > 0:
        return HELPS
    if delta_summary["ci_high"] < 0:
        return HURTS
    return NO_EFFECT
