"""The comparison report, ``reports/comparison.md``: setup, accuracy table with intervals and
verdicts, quality table, figures, and an explanation.

Every sentence of the explanation is computed from the numbers passed in, one small function per
finding (:func:`explain` lists them); nothing about which model "should" win is assumed. The rules:

- sharpest = highest ``sharpness_ratio``; most label-faithful = highest ``label_fidelity``;
  closest to real = lowest ``fid``; best CAS = highest ``cas``;
- most diverse = highest ``coverage``: the share of real test images with a synthetic image
  inside their k-nearest-neighbour ball. Unlike the raw intra-class spread (``diversity_ratio``),
  which noise would maximise, coverage only counts variety that lies on the real data;
- two values that print the same at the precision of the tables (:data:`DECIMALS`) are a tie, and
  the sentence names every tied method;
- the effect on the downstream classifier uses exactly the words of
  :func:`evaluation.stats.verdict` ("helps", "hurts", "no measurable effect"), recomputed here from
  the delta's 95 % interval.

Inputs: ``metrics`` is the content of ``reports/metrics.json`` (pipelines/compare.py), ``quality``
maps each method to :func:`evaluation.quality.method_quality`'s dict and ``"real"`` to
:func:`evaluation.quality.real_reference`'s, ``figures`` maps figure keys (:data:`FIGURE_KINDS`)
to image paths.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable

from augment.config import MODEL_NAMES
from augment.models import REGISTRY
from augment.outputs import StagedOutputs
from augment.sources import CLASSIC, REAL, SOURCES, source_label
from evaluation.report_bar import (
    PP_DECIMALS,
    beyond_classic_sentences,
    capitalized,
    delta_cells,
    filter_sentences,
    interval_verdict,
    one_seed,
    rare_class_section,
)
from evaluation.quality import QUALITY_METRICS, QualityMetric
from evaluation.report_bar import points as _pp
from evaluation.stats import HELPS, HURTS, NO_EFFECT

__all__ = [
    "DECIMALS",
    "FIGURE_KINDS",
    "method_label",
    "figure_key",
    "effect_verdict",
    "explain",
    "accuracy_table",
    "quality_table",
    "figures_section",
    "render_report",
    "write_report",
]

DECIMALS = 3  # quality values are printed, compared and tied at this many decimals
# figures: "accuracy" (the bar plot) and "<kind>/<method>" for each kind below
FIGURE_KINDS = {
    "samples": "Samples, one row per class",
    "stylisation": "Stylisation: real images re-drawn as every class",
    "interpolation": "Interpolation between latent codes",
    "training": "Training curves",
}


# --------------------------------------------------------------------------------------------
# Small helpers: names, numbers, ties
# --------------------------------------------------------------------------------------------


def method_label(name: str) -> str:
    """How a method or source is written in prose: ``cvaegan`` -> ``CVAE-GAN``
    (augment/sources.py holds the labels)."""
    return source_label(name)


def figure_key(kind: str, method: str) -> str:
    """The key of a method's figure in ``figures``: ``figure_key("samples", "cvae") ==
    "samples/cvae"``."""
    return f"{kind}/{method}"


def _methods(table: dict[str, Any]) -> list[str]:
    """The methods of ``table`` (every key except "real"), registry order first. For metrics.json
    these are every source but real, in augment/sources.py's order."""
    known = [m for m in SOURCES if m in table and m != REAL]
    return known + sorted(k for k in table if k != REAL and k not in known)


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, None, nan, infinite)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return None
    return float(value)


def _fmt(value: Any, decimals: int = DECIMALS) -> str:
    number = _number(value)
    return "n/a" if number is None else f"{number:.{decimals}f}"


def _join(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _values(quality: dict[str, dict], key: str) -> dict[str, float]:
    """Method -> finite value of ``key`` (methods without one are left out)."""
    out = {m: _number(quality[m].get(key)) for m in _methods(quality)}
    return {m: v for m, v in out.items() if v is not None}


def _best(values: dict[str, float], higher: bool) -> list[str]:
    """Every method whose value, rounded to DECIMALS, is the best (more than one = a tie)."""
    rounded = {m: round(v, DECIMALS) for m, v in values.items()}
    top = max(rounded.values()) if higher else min(rounded.values())
    return [m for m, v in rounded.items() if v == top]


def _others(values: dict[str, float], winners: list[str]) -> str:
    """'CVAE 0.489, CGAN 1.023' for the methods not among ``winners``."""
    return ", ".join(f"{method_label(m)} {_fmt(v)}" for m, v in values.items() if m not in winners)


def _reference(quality: dict[str, dict], key: str, what: str) -> str:
    """'; held-out real data: 0.641' when the real reference has ``key``, else ''."""
    value = _number(quality.get(REAL, {}).get(key))
    return "" if value is None else f"; {what}: {_fmt(value)}"


def _superlative(quality: dict[str, dict], key: str, higher: bool, head: Callable[[str, bool], str],
                 measure: str, reference: str = "") -> str | None:
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
    detail = f"{measure} {_fmt(values[winners[0]])}{' each' if tied else ''}"
    detail += (f"; {others}" if others else "") + reference
    return f"{head(_join([method_label(m) for m in winners]), tied)} ({detail})."


def _is_the(what: str) -> Callable[[str, bool], str]:
    """head for _superlative: 'X is the <what> method' / 'X and Y are tied as the <what> methods'."""
    return lambda names, tied: (f"{names} are tied as the {what} methods" if tied
                                else f"{names} is the {what} method")


# --------------------------------------------------------------------------------------------
# Findings: one function per sentence (or group of sentences)
# --------------------------------------------------------------------------------------------


def sharpest_sentence(quality: dict[str, dict]) -> str | None:
    """Which method has the highest sharpness ratio (1 = as sharp as the real test images)."""
    return _superlative(quality, "sharpness_ratio", True, _is_the("sharpest"),
                        "sharpness relative to real test images",
                        _reference(quality, "sharpness_ratio", "held-out real data"))


def most_diverse_sentence(quality: dict[str, dict]) -> str | None:
    """Which method has the highest coverage (the report's diversity rule, module docstring)."""
    return _superlative(quality, "coverage", True, _is_the("most diverse"), "coverage",
                        _reference(quality, "coverage", "held-out real data"))


def most_faithful_sentence(quality: dict[str, dict]) -> str | None:
    """Which method's images the judge most often recognises as the class they were drawn for."""
    return _superlative(quality, "label_fidelity", True, _is_the("most label-faithful"),
                        "judge accuracy on the intended labels",
                        _reference(quality, "label_fidelity", "held-out real data"))


def lowest_fid_sentence(quality: dict[str, dict]) -> str | None:
    """Which method is closest to the real test distribution in judge features (lowest FID)."""
    return _superlative(quality, "fid", False, _is_the("closest-to-real"), "FID",
                        _reference(quality, "fid", "held-out real data"))


def best_cas_sentence(quality: dict[str, dict], metrics: dict[str, dict]) -> str | None:
    """Which method's images alone train the best classifier, against real data's accuracy."""
    def head(names: str, tied: bool) -> str:
        return (f"{names} {'are tied for' if tied else 'has'} the highest CAS, the accuracy of a "
                "classifier trained on synthetic images alone")

    real = _number(metrics.get(REAL, {}).get("accuracy"))
    return _superlative(quality, "cas", True, head, "CAS",
                        "" if real is None else f"; trained on real data: {_fmt(real)}")


def effect_verdict(entry: dict[str, Any]) -> str:
    """:func:`evaluation.stats.verdict` of a metrics.json method entry's delta interval.

    The interval counts as undefined (so never "helps"/"hurts") with fewer than two seeds, as in
    :func:`evaluation.stats.summarize`.
    """
    return interval_verdict(entry, "delta")  # delta_ci_low / delta_ci_high: the delta vs real


def _delta_text(entry: dict[str, Any]) -> str:
    return (f"{_pp(entry['delta_vs_real'])} percentage points of test accuracy against real data "
            f"alone, 95 % interval [{_pp(entry['delta_ci_low'])}, {_pp(entry['delta_ci_high'])}]")


def effect_sentence(name: str, entry: dict[str, Any]) -> str:
    """'<method> helps / hurts / has no measurable effect on the classifier: <delta, interval>'."""
    word = effect_verdict(entry)
    label = capitalized(method_label(name))
    if word == HELPS:
        return f"{label} {HELPS} the classifier: {_delta_text(entry)}, entirely above 0."
    if word == HURTS:
        return f"{label} {HURTS} the classifier: {_delta_text(entry)}, entirely below 0."
    why = ("one seed only: no interval can be estimated" if one_seed(entry)
           else "the interval contains 0")
    return f"{label} has {NO_EFFECT} on the classifier: {_delta_text(entry)} ({why})."


def effect_sentences(metrics: dict[str, dict]) -> list[str]:
    """One :func:`effect_sentence` per method of ``metrics``."""
    return [effect_sentence(m, metrics[m]) for m in _methods(metrics)
            if "delta_ci_low" in metrics[m]]


def helps_most_sentence(metrics: dict[str, dict]) -> str | None:
    """Which of the methods that help has the largest mean delta (ties named); or that none helps."""
    entries = {m: metrics[m] for m in _methods(metrics) if "delta_ci_low" in metrics[m]}
    if not entries:
        return None
    helping = {m: round(100 * e["delta_vs_real"], PP_DECIMALS) for m, e in entries.items()
               if effect_verdict(e) == HELPS}  # method -> mean delta in points, as printed
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


def _compare_part(a: str, b: str, key: str, quality: dict[str, dict], relation: str,
                  measure: str) -> tuple[bool, str]:
    """(a's ``key`` < b's at DECIMALS, '<A> is [not] <relation> than <B> (<measure> x against y)')."""
    va, vb = round(quality[a][key], DECIMALS), round(quality[b][key], DECIMALS)
    holds = va < vb
    return holds, (f"{method_label(a)} is {'' if holds else 'not '}{relation} than {method_label(b)} "
                   f"({measure} {_fmt(va)} against {_fmt(vb)})")


def vae_gan_claim_sentence(quality: dict[str, dict], vae: str = "cvae",
                           gan: str = "cgan") -> str | None:
    """Whether the textbook claim "VAE blurrier, GAN sharper but less diverse" holds here.

    It holds when the VAE's sharpness ratio is below the GAN's *and* the GAN's coverage (the
    diversity rule) is below the VAE's, both strictly at DECIMALS: a tie is not a difference.
    """
    claim = 'The claim "the VAE is blurrier, the GAN sharper but less diverse"'
    keys = ("sharpness_ratio", "coverage")
    if any(_number(quality.get(m, {}).get(k)) is None for m in (vae, gan) for k in keys):
        return (f"{claim} cannot be checked in this run: it needs both {method_label(vae)} and "
                f"{method_label(gan)}.")
    blurrier, blur_text = _compare_part(vae, gan, "sharpness_ratio", quality, "blurrier",
                                        "sharpness ratio")
    less_diverse, div_text = _compare_part(gan, vae, "coverage", quality, "less diverse", "coverage")
    word = "holds" if blurrier and less_diverse else "does not hold"
    return f"{claim} {word} in this run: {blur_text}, and {div_text}."


def stylisation_sentence(quality: dict[str, dict]) -> str | None:
    """How well the encoders carry an image's style: the judge's accuracy on stylised images (the
    asked class drawn from another image's code) and the CVAE-GAN's reconstruction error as a
    multiple of the CVAE's. None without any stylisation accuracy."""
    accuracy = _values(quality, "stylize_accuracy")
    if not accuracy:
        return None
    parts = [f"{method_label(m)} {_fmt(v)}" for m, v in accuracy.items()]
    text = ("Stylisation: the judge recognises the asked class in stylised images (a real test "
            f"image's code decoded as every class) at {_join(parts)}")
    rec = _values(quality, "reconstruction_error")
    if "cvae" in rec and "cvaegan" in rec and rec["cvae"] > 0:
        text += (f"; the CVAE-GAN reconstructs with {rec['cvaegan'] / rec['cvae']:.2f} times the CVAE's "
                 f"pixel error ({_fmt(rec['cvaegan'], 4)} vs {_fmt(rec['cvae'], 4)}), so its code keeps "
                 f"{'most' if rec['cvaegan'] <= 1.5 * rec['cvae'] else 'less'} of what the CVAE's keeps")
    return text + "."


def explain(metrics: dict[str, dict], quality: dict[str, dict]) -> list[str]:
    """The explanation's sentences, each computed from ``metrics`` / ``quality`` (module rules)."""
    findings: list[Callable[[], str | list[str] | None]] = [
        lambda: effect_sentences(metrics),
        lambda: helps_most_sentence(metrics),
        lambda: beyond_classic_sentences(metrics),
        lambda: filter_sentences(metrics),
        lambda: sharpest_sentence(quality),
        lambda: most_diverse_sentence(quality),
        lambda: most_faithful_sentence(quality),
        lambda: lowest_fid_sentence(quality),
        lambda: best_cas_sentence(quality, metrics),
        lambda: vae_gan_claim_sentence(quality),
        lambda: stylisation_sentence(quality),
    ]
    sentences: list[str] = []
    for finding in findings:
        result = finding()
        sentences += result if isinstance(result, list) else [result] if result else []
    return sentences


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header))] + [_row(r) for r in rows]
    return "\n".join(lines)


def accuracy_table(metrics: dict[str, dict]) -> str:
    """Source | accuracy | its 95 % interval | delta vs real (points) with interval and verdict |
    the same against classical augmentation, when the run has the ``classic`` source."""
    header = ["Source", "Test accuracy", "95 % interval", "Δ vs real (points)",
              "Δ 95 % interval", "Verdict"]
    with_classic = any("delta_vs_classic" in m for m in metrics.values())
    if with_classic:
        header += ["Δ vs classic (points)", "Δ 95 % interval", "Verdict vs classic"]
    rows = []
    for source in ([REAL] if REAL in metrics else []) + _methods(metrics):
        m = metrics[source]
        row = [method_label(source), f"{m['accuracy']:.4f}",
               f"[{m['accuracy_ci_low']:.4f}, {m['accuracy_ci_high']:.4f}]"]
        if "delta_ci_low" in m:
            row += [_pp(m["delta_vs_real"]), f"[{_pp(m['delta_ci_low'])}, {_pp(m['delta_ci_high'])}]",
                    effect_verdict(m)]
        else:
            row += ["(baseline)", "", ""]
        if with_classic:
            row += (delta_cells(m, "classic") if "delta_vs_classic" in m
                    else ["(baseline)" if source == CLASSIC else "", "", ""])
        rows.append(row)
    return _table(header, rows)


def _pm(mean: Any, std: Any, decimals: int = DECIMALS) -> str:
    """'0.820 ± 0.021', or the mean alone without a std."""
    if _number(mean) is None:
        return "n/a"
    return _fmt(mean, decimals) + ("" if _number(std) is None else f" ± {_fmt(std, decimals)}")


def _quality_cell(metric: QualityMetric) -> Callable[[dict], str]:
    if metric.spread is not None:
        return lambda q: _pm(q.get(metric.key), q.get(metric.spread), metric.decimals)
    return lambda q: _fmt(q.get(metric.key), metric.decimals)


# header, cell: one column per evaluation/quality.py QUALITY_METRICS entry, then the set size
QUALITY_COLUMNS = [(m.label, _quality_cell(m)) for m in QUALITY_METRICS] + [("n", lambda q: _fmt(q.get("n"), 0))]


def quality_table(quality: dict[str, dict], metrics: dict[str, dict] | None = None) -> str:
    """One row per method, then the held-out real reference. The reference's CAS is the real
    source's downstream accuracy (a classifier trained on real data, tested on the real test
    split), taken from ``metrics`` when the reference itself has none."""
    rows = [[method_label(m)] + [cell(quality[m]) for _, cell in QUALITY_COLUMNS]
            for m in _methods(quality)]
    if REAL in quality:
        ref = dict(quality[REAL])
        real = (metrics or {}).get(REAL, {})
        if _number(ref.get("cas")) is None and _number(real.get("accuracy")) is not None:
            ref["cas"], ref["cas_std"] = real["accuracy"], real.get("accuracy_std")
        rows.append(["held-out real (reference)"] + [cell(ref) for _, cell in QUALITY_COLUMNS])
    return _table(["Method"] + [h for h, _ in QUALITY_COLUMNS], rows)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _link(path: str | os.PathLike, out_dir: Path, alt: str) -> str:
    """A markdown image whose target is ``path`` relative to the report's folder."""
    rel = Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()
    target = f"<{rel}>" if " " in rel else rel
    return f"![{alt}]({target})"


def _can_encode(name: str, quality: dict[str, dict]) -> bool:
    """From the model registry; for a name it does not know, whether a reconstruction was measured."""
    if name in REGISTRY:
        return bool(REGISTRY[name].can_encode)
    return _number(quality.get(name, {}).get("reconstruction_error")) is not None


def _method_figures(name: str, figures: dict[str, str], quality: dict[str, dict],
                    out_dir: Path) -> list[str]:
    """The subsection of one method: one line per figure kind, or why it is absent."""
    label = method_label(name)
    lines = [f"### {label}", ""]
    for kind, caption in FIGURE_KINDS.items():
        path = figures.get(figure_key(kind, name))
        if kind == "stylisation" and not _can_encode(name, quality):
            lines.append(f"Stylisation does not apply to {label}: it has no encoder, so it cannot "
                         "take the style of a real image.")
        elif path is None:
            lines.append(f"_{caption} — no figure was produced._")
        else:
            lines.append(f"**{caption}**\n\n{_link(path, out_dir, f'{label}: {caption.lower()}')}")
        lines.append("")
    return lines


def figures_section(figures: dict[str, str], methods: list[str], quality: dict[str, dict],
                    out_dir: Path) -> str:
    """Accuracy bars, then each method's figures, then any other figure passed in (by its key)."""
    lines = ["## Figures", ""]
    if "accuracy" in figures:
        alt = "Test accuracy per source with 95 % intervals"
        lines += [_link(figures["accuracy"], out_dir, alt), ""]
    for name in methods:
        lines += _method_figures(name, figures, quality, out_dir)
    used = {"accuracy"} | {figure_key(k, m) for k in FIGURE_KINDS for m in methods}
    for key in sorted(set(figures) - used):
        lines += [f"**{key}**", "", _link(figures[key], out_dir, key), ""]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def _setup(context: dict[str, Any], metrics: dict[str, dict]) -> str:
    """'Setup: dataset digits, 1294 real training images, classifier seeds 0, 1, 2.' plus a bullet
    for every other context item."""
    seeds = context.get("seeds", metrics.get(REAL, {}).get("seeds"))
    seeds_text = ", ".join(str(s) for s in seeds) if seeds else "not given"
    line = (f"**Setup:** dataset `{context.get('dataset', 'not given')}`, "
            f"{context.get('train_size', 'an unstated number of')} real training images, "
            f"classifier seeds {seeds_text}.")
    extra = [f"- {k}: {v}" for k, v in context.items() if k not in ("dataset", "train_size", "seeds")]
    return "\n".join([line, ""] + extra) if extra else line


RULES = (
    f"Rules: a method {HELPS} only when the 95 % interval of its per-seed accuracy delta lies "
    f"entirely above 0, {HURTS} when it lies entirely below 0, and otherwise has {NO_EFFECT}. "
    "Sharpest = highest sharpness ratio; most diverse = highest coverage; most label-faithful = "
    "highest label fidelity; closest to real = lowest FID; values equal at the "
    f"{DECIMALS} decimals shown are ties."
)

QUALITY_NOTE = (
    "Feature metrics (FID, KID, precision, recall, density, coverage, diversity, label fidelity) "
    "use the judge network, a classifier trained on the real training split only, separate from "
    "the downstream classifier; they are computed on n class-balanced synthetic and real test "
    "images. CAS trains the downstream classifier on synthetic images alone and tests it on the "
    "real test split (mean ± std over seeds). Diversity and sharpness ratios are relative to the "
    "real test images (1 = like real data). The reference row compares the real validation split "
    "with the real test split: what real data scores against real data, the level a perfect "
    "generator would reach; its n is smaller, which biases its FID upward (KID is unbiased); its "
    "CAS is the accuracy of the downstream classifier trained on real data."
)


def render_report(metrics: dict[str, dict], quality: dict[str, dict], figures: dict[str, str],
                  out_dir: str | os.PathLike, context: dict[str, Any] | None = None) -> str:
    """The markdown text of the report; figure links are relative to ``out_dir``."""
    methods = [m for m in MODEL_NAMES if m in metrics or m in quality]
    methods += sorted(set(_methods(quality)) - set(methods))
    parts = [
        "# Synthetic data as augmentation: comparison", "",
        _setup(context or {}, metrics), "",
        "## Downstream accuracy", "",
        accuracy_table(metrics), "",
        RULES, "",
        *rare_class_section(metrics),
        "## Quality of the synthetic data", "",
        quality_table(quality, metrics), "",
        QUALITY_NOTE, "",
        figures_section(figures, methods, quality, Path(out_dir)),
        "## What the numbers say", "",
        *[f"- {s}" for s in explain(metrics, quality)],
    ]
    return "\n".join(parts).rstrip() + "\n"


def write_report(metrics: dict[str, dict], quality: dict[str, dict], figures: dict[str, str],
                 out_path: str | os.PathLike, context: dict[str, Any] | None = None) -> str:
    """Write :func:`render_report` to ``out_path`` (e.g. ``reports/comparison.md``) atomically
    and return the markdown text."""
    out_path = Path(out_path)
    text = render_report(metrics, quality, figures, out_path.parent, context)
    with StagedOutputs() as staged:
        staged.path(out_path).write_text(text, encoding="utf-8")
    return text
