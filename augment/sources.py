"""The training sources of the downstream classifier: one list, and what each name means.

A *source* is the training set a downstream classifier sees (docs/design.md, "Sources"):

=========================  ================================================================
``real``                   the real training split alone
``classic``                the real split with classical augmentation (evaluation/classic.py)
``<method>``               real + that generator's synthetic images (``data/synthetic/<method>.pt``)
``classic+<method>``       the same mixture, classical augmentation applied to real and synthetic
``<method>-filtered``      real + synthetic images the filter network accepted
                           (``data/synthetic/<method>-filtered.pt``, pipelines/sample.py)
``<method>-restyle``       real + real training images redrawn in their own class from a code
                           near their own (models with an encoder; augment/restyle.py)
``<method>-transfer``      real + real images of other classes redrawn as the class
``classic+<method>-...``   the restyle and transfer sets with classical augmentation
=========================  ================================================================

Every source gets the same step budget, seeds, model selection and test rule
(evaluation/mixing.py, evaluation/classifier.py). ``real`` is the baseline of ``delta_vs_real``; ``classic`` the
baseline of ``delta_vs_classic``: the bar a generator has to clear, because flips, small affine
moves and erasing cost nothing. The restyle and transfer sources need an encoder: they exist for
the models in :data:`ENCODER_MODELS` only (the CGAN has none).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from augment.config import MODEL_NAMES
from augment.models import ENCODER_MODELS, NoEncoder
from augment.restyle import NOT_APPLICABLE, RESTYLE, STYLED_KINDS, TRANSFER

__all__ = [
    "REAL",
    "CLASSIC",
    "FILTERED",
    "RESTYLE",
    "TRANSFER",
    "SOURCES",
    "DEFAULT_SOURCES",
    "ENCODER_MODELS",
    "Source",
    "BASELINES",
    "check_sources",
    "sources_using",
    "maker_stage",
    "parse_source",
    "source_label",
    "filtered_name",
    "styled_name",
]

REAL = "real"
CLASSIC = "classic"
BASELINES = (REAL, CLASSIC)  # every run trains both: delta_vs_real and delta_vs_classic need them
FILTERED = "filtered"
_COMBINED = "+"  # classic+<method>
_SUFFIX = "-"  # <method>-filtered, <method>-restyle, <method>-transfer
VARIANTS = (FILTERED, *STYLED_KINDS)  # what may follow <method>-


def filtered_name(method: str) -> str:
    """The name of a method's filtered synthetic set, and of its source: ``cvae-filtered``."""
    return f"{method}{_SUFFIX}{FILTERED}"


def styled_name(method: str, kind: str) -> str:
    """The name of a method's restyle or transfer set, and of its source: ``cvae-restyle``."""
    return f"{method}{_SUFFIX}{kind}"


# The one list: baselines, each method alone, each method with classical augmentation, each
# method's filtered set, then the encoder models' restyle and transfer sets, alone and with
# classical augmentation. Reports, metrics.json and figures keep this order.
_STYLED = tuple(styled_name(m, kind) for kind in STYLED_KINDS for m in ENCODER_MODELS)
_PLAIN = (  # baselines, then every method's samples: alone, with classical augmentation, filtered
    (REAL, CLASSIC)
    + MODEL_NAMES
    + tuple(f"{CLASSIC}{_COMBINED}{m}" for m in MODEL_NAMES)
    + tuple(filtered_name(m) for m in MODEL_NAMES)
)
SOURCES: tuple[str, ...] = _PLAIN + _STYLED + tuple(f"{CLASSIC}{_COMBINED}{s}" for s in _STYLED)

# The default run (params.yaml, the bundled digits): every plain, classical and filtered source,
# and the CVAE-GAN's (the combined model's) restyle and transfer sets with classical augmentation:
# 13 of the 19; all 19 cost 1.62x the digits run of the 11 before them (README, "Cost"). The
# 28x28 profile (params-mnist.yaml) lists every source.
DEFAULT_SOURCES: tuple[str, ...] = _PLAIN + tuple(
    f"{CLASSIC}{_COMBINED}{styled_name('cvaegan', kind)}" for kind in STYLED_KINDS
)

_LABELS = {
    "real": "real data",
    "classic": "classical augmentation",
    "cvae": "CVAE",
    "cgan": "CGAN",
    "cvaegan": "CVAE-GAN",
}
_VARIANT_LABELS = {FILTERED: " (filtered)", RESTYLE: " restyled", TRANSFER: " transfer"}


@dataclass(frozen=True)
class Source:
    """What a source name asks for."""

    name: str
    classic: bool  # classical augmentation of every training image (real and synthetic)
    method: str | None  # the generator whose images are added; None for real and classic
    variant: str | None = None  # None: the plain samples; else filtered, restyle or transfer

    @property
    def filtered(self) -> bool:
        """The method's filtered set instead of its plain one."""
        return self.variant == FILTERED

    @property
    def synthetic(self) -> str | None:
        """The synthetic dataset's name under ``paths.synthetic`` (``cvae``, ``cvae-filtered``,
        ``cvae-restyle``)."""
        if self.method is None:
            return None
        return self.method if self.variant is None else f"{self.method}{_SUFFIX}{self.variant}"


def _split(name: str) -> tuple[bool, str, str | None]:
    """``classic+cvae-restyle`` -> (True, "cvae", "restyle"), without checking the method."""
    classic = name.startswith(CLASSIC + _COMBINED)
    rest = name[len(CLASSIC + _COMBINED) :] if classic else name
    for variant in VARIANTS:
        if rest.endswith(_SUFFIX + variant):
            return classic, rest[: -len(_SUFFIX + variant)], variant
    return classic, rest, None


def parse_source(name: str) -> Source:
    """``classic+cvaegan`` -> Source(classic=True, method="cvaegan", variant=None).

    Raises ValueError for any name not in :data:`SOURCES`: :class:`augment.models.NoEncoder`
    for a restyle or transfer source of a model without an encoder, else naming the nearest
    valid source and all of them.
    """
    if name not in SOURCES:
        classic, method, variant = _split(name)
        if variant in STYLED_KINDS and method in MODEL_NAMES:
            raise NoEncoder(method, NOT_APPLICABLE)
        near = difflib.get_close_matches(name, SOURCES, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"unknown source {name!r}{hint} Choose one of: {', '.join(SOURCES)}")
    if name == REAL:
        return Source(name, classic=False, method=None)
    if name == CLASSIC:
        return Source(name, classic=True, method=None)
    classic, method, variant = _split(name)
    return Source(name, classic=classic, method=method, variant=variant)


def check_sources(names: list[str]) -> None:
    """Check a run's list of sources (``classifier.sources``): every name known (:func:`parse_source`'s
    errors: a "did you mean", or :class:`augment.models.NoEncoder`), none twice, and both
    :data:`BASELINES` present. Raises ValueError naming the first problem."""
    for name in names:
        parse_source(name)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"listed twice: {', '.join(twice)}")
    missing = [b for b in BASELINES if b not in names]
    if missing:
        raise ValueError(
            f"must include {' and '.join(repr(b) for b in missing)}: "
            f"the baselines of every delta (got {', '.join(names) or 'an empty list'})"
        )


def sources_using(synthetic: str | None) -> tuple[str, ...]:
    """The sources that train on one synthetic set, in :data:`SOURCES` order: ``cvae`` ->
    (``cvae``, ``classic+cvae``); ``None`` (no synthetic set) -> the baselines."""
    return tuple(s for s in SOURCES if parse_source(s).synthetic == synthetic)


def maker_stage(name: str) -> str:
    """The DVC stage that writes a source's data (and its manifest, augment/source_files.py):
    ``prepare`` for the baselines, ``restyle@<m>`` for the restyle and transfer sets, else
    ``sample@<m>``."""
    s = parse_source(name)
    if s.method is None:
        return "prepare"
    return f"{'restyle' if s.variant in STYLED_KINDS else 'sample'}@{s.method}"


def source_label(name: str) -> str:
    """How a source is written in prose: ``classic+cvaegan`` -> ``classical augmentation +
    CVAE-GAN``, ``cgan-filtered`` -> ``CGAN (filtered)``, ``cvae-restyle`` -> ``CVAE restyled``."""
    if name in _LABELS:
        return _LABELS[name]
    if name not in SOURCES:
        return name
    s = parse_source(name)
    assert s.method is not None  # the baselines' labels returned above
    label = _LABELS[s.method] + (_VARIANT_LABELS[s.variant] if s.variant else "")
    return f"{_LABELS[CLASSIC]} + {label}" if s.classic else label
