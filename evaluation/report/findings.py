"""The explanation of ``reports/comparison.md``: every sentence computed from the numbers.

Every sentence of the explanation is computed from the numbers passed in, one small function per
finding (:func:`explain` lists them); nothing about which model "should" win is assumed. The rules:

- sharpest = highest ``sharpness_ratio``; most label-faithful = highest ``label_fidelity``;
  closest to real = lowest ``fid``; best CAS = highest ``cas``, and whether it is separable from
  the runner-up: their CAS difference paired by classifier seed (``cas_per_seed``) with its 95 %
  interval, "separable" only when the interval excludes 0;
- most diverse = highest ``coverage``: the share of real test images with a synthetic image
  inside their k-nearest-neighbour ball. Unlike the raw intra-class spread (``diversity_ratio``),
  which noise would maximise, coverage only counts variety that lies on the real data;
- two values that print the same at the precision of the tables (:data:`DECIMALS`) are a tie, and
  the sentence names every tied method;
- the effect on the downstream classifier uses exactly the words of
  :func:`evaluation.quality.stats.verdict` ("helps", "hurts", "no measurable effect"), as
  pipelines/compare.py stored them with each delta's 95 % interval (never recomputed here).

Inputs: ``metrics`` is the content of ``reports/metrics.json`` (pipelines/compare.py), ``quality``
maps each method to :func:`evaluation.quality.measures.method_quality`'s dict and ``"real"`` to
:func:`evaluation.quality.measures.real_reference`'s. The tables, figures and the document around these
sentences are evaluation/report/writer.py.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from augment.models import REGISTRY
from augment.params.sources import REAL, STYLED_KINDS, order_sources, parse_source, source_label
from evaluation.quality.stats import HELPS, HURTS, NO_EFFECT, paired_delta, verdict
from evaluation.report.bar import (
    PP_DECIMALS,
    beyond_classic_sentences,
    capitalized,
    filter_sentences,
    interval_verdict,
    one_seed,
    self_training_sentences,
)
from evaluation.report.bar import points as _pp
from evaluation.report.results import Metrics, SourceMetrics

DECIMALS = 3  # quality values are printed, compared and tied at this many decimals


# --------------------------------------------------------------------------------------------
# Small helpers: names, numbers, ties
# --------------------------------------------------------------------------------------------


def method_label(name: str) -> str:
    """How a method or source is written in prose: ``cvaegan`` -> ``CVAE-GAN``
    (augment/params/sources.py holds the labels)."""
    return source_label(name)


def methods_of(table: dict[str, Any]) -> list[str]:
    """The methods of ``table`` (every key except "real"), registry order first. For metrics.json
    these are every source but real, in augment/params/sources.py's order."""
    known = [m for m in order_sources(table) if m != REAL]
    return known + sorted(k for k in table if k != REAL and k not in known)


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, None, nan, infinite)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return None
    return float(value)


def fmt(value: Any, decimals: int = DECIMALS) -> str:
    """``value`` with ``decimals`` decimals, or ``n/a``."""
    x = number(value)
    return "n/a" if x is None else f"{x:.{decimals}f}"


def _join(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _values(quality: dict[str, dict], key: str) -> dict[str, float]:
    """Method -> finite value of ``key`` (methods without one are left out)."""
    out = {m: number(quality[m].get(key)) for m in methods_of(quality)}
    return {m: v for m, v in out.items() if v is not None}


def _best(values: dict[str, float], higher: bool) -> list[str]:
    """Every method whose value, rounded to DECIMALS, is the best (more than one = a tie)."""
    rounded = {m: round(v, DECIMALS) for m, v in values.items()}
    top = max(rounded.values()) if higher else min(rounded.values())
    return [m for m, v in rounded.items() if v == top]


def _others(values: dict[str, float], winners: list[str]) -> str:
    """'CVAE 0.489, CGAN 1.023' for the methods not among ``winners``."""
    return ", ".join(f"{method_label(m)} {fmt(v)}" for m, v in values.items() if m not in winners)


def _reference(quality: dict[str, dict], key: str, what: str) -> str:
    """'; held-out real data: 0.641' when the real reference has ``key``, else ''."""
    value = number(quality.get(REAL, {}).get(key))
    return "" if value is None else f"; {what}: {fmt(value)}"


def _superlative(
    quality: dict[str, dict],
    key: str,
    higher: bool,
    head: Callable[[str, bool], str],
    measure: str,
    reference: str = "",
) -> str | None:
    """One '<head> (<measure> <best>; <others>; <reference>).' sentence for ``key``, naming every
    tied method; None when no method has the value.

    ``head(names, tied)`` writes the start ('CGAN is the sharpest method'), ``measure`` names the
    value, ``reference`` is the tail from :func:`_reference`.
    """
    values = _values(quality, key)
    if not values:
        return None
    winners = _best(values, higher)
    tied = len(winners) > 1
    others = _others(values, winners)
    detail = f"{measure} {fmt(values[winners[0]])}{' each' if tied else ''}"
    detail += (f"; {others}" if others else "") + reference
    return f"{head(_join([method_label(m) for m in winners]), tied)} ({detail})."


def _is_the(what: str) -> Callable[[str, bool], str]:
    """head for _superlative: 'X is the <what> method' / 'X and Y are tied as the <what> methods'."""
    return lambda names, tied: f"{names} are tied as the {what} methods" if tied else f"{names} is the {what} method"


# --------------------------------------------------------------------------------------------
# Findings: one function per sentence (or group of sentences)
# --------------------------------------------------------------------------------------------


def sharpest_sentence(quality: dict[str, dict]) -> str | None:
    """Which method has the highest sharpness ratio (1 = as sharp as the real test images)."""
    return _superlative(
        quality,
        "sharpness_ratio",
        True,
        _is_the("sharpest"),
        "sharpness relative to real test images",
        _reference(quality, "sharpness_ratio", "held-out real data"),
    )


def most_diverse_sentence(quality: dict[str, dict]) -> str | None:
    """Which method has the highest coverage (the report's diversity rule, module docstring)."""
    return _superlative(
        quality,
        "coverage",
        True,
        _is_the("most diverse"),
        "coverage",
        _reference(quality, "coverage", "held-out real data"),
    )


def most_faithful_sentence(quality: dict[str, dict]) -> str | None:
    """Which method's images the judge most often recognises as the class they were drawn for."""
    return _superlative(
        quality,
        "label_fidelity",
        True,
        _is_the("most label-faithful"),
        "judge accuracy on the intended labels",
        _reference(quality, "label_fidelity", "held-out real data"),
    )


def lowest_fid_sentence(quality: dict[str, dict]) -> str | None:
    """Which method is closest to the real test distribution in judge features (lowest FID)."""
    return _superlative(
        quality, "fid", False, _is_the("closest-to-real"), "FID", _reference(quality, "fid", "held-out real data")
    )


def best_cas_sentence(quality: dict[str, dict], metrics: Metrics) -> str | None:
    """Which method's images alone train the best classifier, against real data's accuracy."""

    def head(names: str, tied: bool) -> str:
        return (
            f"{names} {'are tied for' if tied else 'has'} the highest CAS, the accuracy of a "
            "classifier trained on synthetic images alone"
        )

    real = number(metrics.get(REAL, {}).get("accuracy"))
    reference = "" if real is None else f"; trained on real data: {fmt(real)}"
    return _superlative(quality, "cas", True, head, "CAS", reference + _cas_runner_up(quality))


def _cas_runner_up(quality: dict[str, dict]) -> str:
    """'; CFM minus CVAE-GAN, paired by seed: +0.21 points [-0.09, +0.51], not separable' for the
    best and second-best CAS, when both carry ``cas_per_seed`` for the same two or more seeds
    (one run's methods do: evaluate@<method> trains them with classifier.seeds); else ''."""
    values = _values(quality, "cas")
    if len(values) < 2:
        return ""
    best, second = sorted(values, key=values.__getitem__, reverse=True)[:2]
    a, b = quality[best].get("cas_per_seed"), quality[second].get("cas_per_seed")
    if not a or not b or len(a) != len(b) or len(a) < 2:
        return ""
    d = paired_delta(a, b)  # best minus second, per seed: [n]
    # the downstream deltas' rule: the interval entirely above 0 (the mean is >= 0 here)
    separable = "separable" if verdict(d) == HELPS else "not separable"
    return (
        f"; {method_label(best)} minus {method_label(second)}, paired by seed: {_pp(d['mean'])} points "
        f"[{_pp(d['ci_low'])}, {_pp(d['ci_high'])}], {separable}"
    )


def effect_verdict(entry: SourceMetrics) -> str:
    """:func:`evaluation.quality.stats.verdict` of a metrics.json method entry's delta interval.

    The interval counts as undefined (so never "helps"/"hurts") with fewer than two seeds, as in
    :func:`evaluation.quality.stats.summarize`.
    """
    return interval_verdict(entry, "delta")  # delta_ci_low / delta_ci_high: the delta vs real


def _delta_text(entry: SourceMetrics) -> str:
    return (
        f"{_pp(entry['delta_vs_real'])} percentage points of test accuracy against real data "
        f"alone, 95 % interval [{_pp(entry['delta_ci_low'])}, {_pp(entry['delta_ci_high'])}]"
    )


def effect_sentence(name: str, entry: SourceMetrics) -> str:
    """'<method> helps / hurts / has no measurable effect on the classifier: <delta, interval>'."""
    word = effect_verdict(entry)
    label = capitalized(method_label(name))
    if word == HELPS:
        return f"{label} {HELPS} the classifier: {_delta_text(entry)}, entirely above 0."
    if word == HURTS:
        return f"{label} {HURTS} the classifier: {_delta_text(entry)}, entirely below 0."
    why = "one seed only: no interval can be estimated" if one_seed(entry) else "the interval contains 0"
    return f"{label} has {NO_EFFECT} on the classifier: {_delta_text(entry)} ({why})."


def effect_sentences(metrics: Metrics) -> list[str]:
    """One :func:`effect_sentence` per method of ``metrics``."""
    return [effect_sentence(m, metrics[m]) for m in methods_of(metrics) if "delta_ci_low" in metrics[m]]


def helps_most_sentence(metrics: Metrics) -> str | None:
    """Which of the methods that help has the largest mean delta (ties named); or that none helps."""
    entries = {m: metrics[m] for m in methods_of(metrics) if "delta_ci_low" in metrics[m]}
    if not entries:
        return None
    helping = {
        m: round(100 * e["delta_vs_real"], PP_DECIMALS) for m, e in entries.items() if effect_verdict(e) == HELPS
    }  # method -> mean delta in points, as printed
    if not helping:
        return f"No method {HELPS} the classifier in this run."
    top = max(helping.values())
    winners = [m for m, v in helping.items() if v == top]
    names = _join([method_label(m) for m in winners])
    points = f"{top:+.{PP_DECIMALS}f} points"
    if len(helping) == 1:
        return f"{names} is the only method that {HELPS} the classifier ({points})."
    if len(winners) > 1:
        return f"{names} are tied: each {HELPS} the classifier by {points}, the most of any method."
    return f"{names} {HELPS} the classifier most ({points})."


def _compare_part(a: str, b: str, key: str, quality: dict[str, dict], relation: str, measure: str) -> tuple[bool, str]:
    """(a's ``key`` < b's at DECIMALS, '<A> is [not] <relation> than <B> (<measure> x against y)')."""
    va, vb = round(quality[a][key], DECIMALS), round(quality[b][key], DECIMALS)
    holds = va < vb
    return holds, (
        f"{method_label(a)} is {'' if holds else 'not '}{relation} than {method_label(b)} "
        f"({measure} {fmt(va)} against {fmt(vb)})"
    )


def _first_of(family: str, quality: dict[str, dict]) -> str | None:
    """The first method of ``quality`` whose registered model is of ``family`` (models/base.py)."""
    return next((m for m in methods_of(quality) if m in REGISTRY and REGISTRY[m].family == family), None)


def vae_gan_claim_sentence(quality: dict[str, dict]) -> str | None:
    """Whether the textbook claim "VAE blurrier, GAN sharper but less diverse" holds here, on the
    first method of the family "vae" and the first of "gan" (the registry says which).

    It holds when the VAE's sharpness ratio is below the GAN's *and* the GAN's coverage (the
    diversity rule) is below the VAE's, both strictly at DECIMALS: a tie is not a difference.
    """
    claim = 'The claim "the VAE is blurrier, the GAN sharper but less diverse"'
    keys = ("sharpness_ratio", "coverage")
    vae, gan = _first_of("vae", quality), _first_of("gan", quality)
    if vae is None or gan is None or any(number(quality[m].get(k)) is None for m in (vae, gan) for k in keys):
        return f"{claim} cannot be checked in this run: it needs a VAE and a GAN among the methods."
    blurrier, blur_text = _compare_part(vae, gan, "sharpness_ratio", quality, "blurrier", "sharpness ratio")
    less_diverse, div_text = _compare_part(gan, vae, "coverage", quality, "less diverse", "coverage")
    word = "holds" if blurrier and less_diverse else "does not hold"
    return f"{claim} {word} in this run: {blur_text}, and {div_text}."


def stylisation_sentence(quality: dict[str, dict], combinations: Mapping[str, str] | None = None) -> str | None:
    """How well the encoders carry an image's style: the judge's accuracy on stylised images (the
    asked class drawn from another image's code), how much of the source's slant and thickness
    the other-class drawings keep (style r), and each combined model's reconstruction error as a
    multiple of the model it started from (``combinations``). None without any stylisation accuracy."""
    accuracy = _values(quality, "stylize_accuracy")
    if not accuracy:
        return None
    parts = [f"{method_label(m)} {fmt(v)}" for m, v in accuracy.items()]
    text = (
        "Stylisation: the judge recognises the asked class in stylised images (a real test "
        f"image's code decoded as every class) at {_join(parts)}"
    )
    slant, thick = _values(quality, "style_r_slant"), _values(quality, "style_r_thickness")
    gain_s, gain_t = _values(quality, "style_gain_slant"), _values(quality, "style_gain_thickness")
    kept = [
        f"{method_label(m)} r = {fmt(slant[m], 2)} / {fmt(thick.get(m), 2)}, gain "
        f"{fmt(gain_s.get(m), 2)} / {fmt(gain_t.get(m), 2)}"
        for m in slant
    ]
    if kept:
        text += (
            "; drawn as the other classes, a source's own slant / stroke thickness is followed "
            f"with {_join(kept)} (r: correlation within each pair of classes; gain: the share of "
            "the source's deviation the drawing keeps, 1 = all of it; docs/style.md)"
        )
    rec = _values(quality, "reconstruction_error")
    for combined, base in (combinations or {}).items():
        if combined in rec and base in rec and rec[base] > 0:
            a, b, ratio = method_label(combined), method_label(base), rec[combined] / rec[base]
            text += (
                f"; the {a} reconstructs with {ratio:.2f} times the {b}'s pixel error "
                f"({fmt(rec[combined], 4)} vs {fmt(rec[base], 4)}), so its code keeps "
                f"{'most' if ratio <= 1.5 else 'less'} of what the {b}'s keeps"
            )
    return text + "."


def _compare_numbers(a: str, b: str, quality: dict[str, dict], keys: tuple[tuple[str, str, bool], ...]) -> list[str]:
    """'sharpness 0.47 vs 0.28 (better)' for each (key, name, higher is better) both methods have."""
    out = []
    for key, name, higher in keys:
        x, y = number(quality.get(a, {}).get(key)), number(quality.get(b, {}).get(key))
        if x is None or y is None:
            continue
        word = "tie" if round(x, DECIMALS) == round(y, DECIMALS) else ("better" if (x > y) == higher else "worse")
        out.append(f"{name} {fmt(x)} vs {fmt(y)} ({word})")
    return out


def combination_sentences(
    metrics: Metrics, quality: dict[str, dict], combinations: Mapping[str, str] | None = None
) -> list[str]:
    """ "Why the combination is best", answered by this run's numbers for each combined model
    (``combinations``: combined method -> the method it started from): against that model
    (sharpness, FID, CAS, recall), against the methods without an encoder (what only an encoder
    gives: style r), and as a source of restyle and transfer sets (their deltas against classical
    augmentation)."""
    out = []
    for combined, base in (combinations or {}).items():
        if combined not in quality:
            continue
        label = method_label(combined)
        versus = _compare_numbers(
            combined,
            base,
            quality,
            (
                ("sharpness_ratio", "sharpness ratio", True),
                ("fid", "FID", False),
                ("cas", "CAS", True),
                ("recall", "recall", True),
            ),
        )
        if versus:
            better = sum(part.endswith("(better)") for part in versus)
            out.append(
                f"The combination against the {method_label(base)}: {label} {'; '.join(versus)}: "
                f"better on {better} of {len(versus)}."
            )
        r = number(quality[combined].get("style_r_slant"))
        without = [m for m in methods_of(quality) if m in REGISTRY and not REGISTRY[m].can_encode]
        if without and r is not None:
            q = quality[combined]
            names = _join([method_label(m) for m in without])
            out.append(
                f"Against {names}, the combination can stylise and {'they' if len(without) > 1 else 'it'} "
                f"cannot (no encoder): the {label}'s drawings in other classes follow a source's slant "
                f"with r = {fmt(r, 2)} (gain {fmt(q.get('style_gain_slant'), 2)}) and its thickness with "
                f"r = {fmt(q.get('style_r_thickness'), 2)} (gain {fmt(q.get('style_gain_thickness'), 2)})."
            )
        styled = [
            s
            for s in order_sources(metrics)
            if parse_source(s).method == combined
            and parse_source(s).variant in STYLED_KINDS
            and "delta_vs_classic" in metrics[s]
        ]
        if styled:
            parts = [
                f"{source_label(s)} {_pp(metrics[s]['delta_vs_classic'])} points "
                f"({interval_verdict(metrics[s], 'delta_vs_classic')})"
                for s in styled
            ]
            best = any(interval_verdict(metrics[s], "delta_vs_classic") == HELPS for s in styled)
            out.append(
                f"As a source of stylised images against classical augmentation: {_join(parts)}; "
                + (
                    "so in this run the combination's stylisation pays."
                    if best
                    else "so in this run the combination is not best as augmentation: none of its "
                    "stylised sources beats classical augmentation measurably."
                )
            )
    return out


def explain(metrics: Metrics, quality: dict[str, dict], combinations: Mapping[str, str] | None = None) -> list[str]:
    """The explanation's sentences, each computed from ``metrics`` / ``quality`` (module rules);
    ``combinations``: combined method -> the method it started from (pipelines/compare.py)."""
    findings: list[Callable[[], str | list[str] | None]] = [
        lambda: effect_sentences(metrics),
        lambda: helps_most_sentence(metrics),
        lambda: beyond_classic_sentences(metrics),
        lambda: self_training_sentences(metrics),
        lambda: filter_sentences(metrics),
        lambda: sharpest_sentence(quality),
        lambda: most_diverse_sentence(quality),
        lambda: most_faithful_sentence(quality),
        lambda: lowest_fid_sentence(quality),
        lambda: best_cas_sentence(quality, metrics),
        lambda: vae_gan_claim_sentence(quality),
        lambda: stylisation_sentence(quality, combinations),
        lambda: combination_sentences(metrics, quality, combinations),
    ]
    sentences: list[str] = []
    for finding in findings:
        result = finding()
        sentences += result if isinstance(result, list) else [result] if result else []
    return sentences
