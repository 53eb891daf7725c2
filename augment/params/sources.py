"""The training sources of the downstream classifier: one list, and what each name means.

A *source* is the training set a downstream classifier sees (docs/design.md, "Sources"):

=========================  ================================================================
``real``                   the real training split alone
``classic``                the real split with classical augmentation (evaluation/classifiers/classic.py)
``<method>``               real + that generator's synthetic images (``data/synthetic/<method>.pt``)
``classic+<method>``       the same mixture, classical augmentation applied to real and synthetic
``<method>-filtered``      real + synthetic images the filter network accepted
                           (``data/synthetic/<method>-filtered.pt``, pipelines/sample.py)
``<method>-restyle``       real + real training images redrawn in their own class from a code
                           near their own (models with an encoder; augment/sampling/restyle.py)
``<method>-transfer``      real + real images of other classes redrawn as the class
``classic+<method>-...``   the restyle and transfer sets with classical augmentation
``pseudo``                 with a label budget (``data.labelled``): real + the unlabelled pool's
                           images that a teacher labels confidently (self-training,
                           ``data/synthetic/pseudo.pt``, evaluation/classifiers/pseudo.py)
``classic+pseudo``         the same with classical augmentation
=========================  ================================================================

Every source gets the same step budget, seeds, model selection and test rule
(evaluation/classifiers/mixing.py, evaluation/classifiers/training.py). ``real`` is the baseline of ``delta_vs_real``; ``classic`` the
baseline of ``delta_vs_classic``: the bar a generator has to clear, because flips, small affine
moves and erasing cost nothing. With a label budget the self-training sources are the bars too:
a generator that learns from the pool must beat what the pool gives a plain teacher. The restyle and transfer sources need an encoder: they exist for
the models in :data:`ENCODER_MODELS` only (the CGAN has none).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from augment.models import ENCODER_MODELS, REGISTRY, NoEncoder
from augment.models.registry import NAME_RULE
from augment.params.config import GENERATOR_NAMES

# The two kinds of styled set (augment/sampling/restyle.py makes them), one source of truth for their names.
RESTYLE = "restyle"
TRANSFER = "transfer"
# What NoEncoder says for a model without an encoder.
NOT_APPLICABLE = "the restyle and transfer sources do not apply to it"
STYLED_KINDS = (RESTYLE, TRANSFER)

__all__ = [
    "REAL",
    "CLASSIC",
    "PSEUDO",
    "SELF_TRAINING",
    "FILTERED",
    "RESTYLE",
    "TRANSFER",
    "STYLED_KINDS",
    "NOT_APPLICABLE",
    "SOURCES",
    "DEFAULT_SOURCES",
    "ENCODER_MODELS",
    "Source",
    "BASELINES",
    "check_sources",
    "sources_for",
    "order_sources",
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
PSEUDO = "pseudo"  # the pseudo-labelled pool's set, and its source
# the self-training bars of a label budget (the pseudo-labelled pool, without and with classic)
SELF_TRAINING = (PSEUDO, f"{CLASSIC}+{PSEUDO}")
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


def sources_for(methods: Sequence[str]) -> tuple[str, ...]:
    """Every source of a run comparing ``methods`` (generators.methods), in report order:
    baselines, each method alone, with classical augmentation, filtered, then the restyle and
    transfer sets of the methods with an encoder, alone and with classical augmentation."""
    styled = tuple(styled_name(m, kind) for kind in STYLED_KINDS for m in methods if _can_encode(m))
    plain = (
        (REAL, CLASSIC)
        + tuple(methods)
        + tuple(f"{CLASSIC}{_COMBINED}{m}" for m in methods)
        + tuple(filtered_name(m) for m in methods)
    )
    return plain + styled + tuple(f"{CLASSIC}{_COMBINED}{s}" for s in styled)


def _can_encode(method: str) -> bool:
    return bool(REGISTRY[method].can_encode)


# The sources of the four built-ins (the default generators.methods): the order reports,
# metrics.json and figures keep, with a label budget's self-training bars after the baselines
# (_REPORT_ORDER), every other name after them.
SOURCES: tuple[str, ...] = sources_for(GENERATOR_NAMES)
_REPORT_ORDER = BASELINES + SELF_TRAINING + SOURCES[len(BASELINES) :]

# The default run (params.yaml, the bundled digits): every plain, classical and filtered source,
# and the CVAE-GAN's (the combined model's) restyle and transfer sets with classical augmentation.
# The 28x28 profile (params-mnist.yaml) lists every source.
DEFAULT_SOURCES: tuple[str, ...] = sources_for(GENERATOR_NAMES)[: 2 + 3 * len(GENERATOR_NAMES)] + tuple(
    f"{CLASSIC}{_COMBINED}{styled_name('cvaegan', kind)}" for kind in STYLED_KINDS
)

_LABELS = {
    "real": "real data",
    "classic": "classical augmentation",
    "pseudo": "self-training",
    "classic+pseudo": "classical augmentation + self-training",
    "cvae": "CVAE",
    "cgan": "CGAN",
    "cvaegan": "CVAE-GAN",
    "cfm": "flow matching",
}
_VARIANT_LABELS = {FILTERED: " (filtered)", RESTYLE: " restyled", TRANSFER: " transfer"}


@dataclass(frozen=True)
class Source:
    """What a source name asks for."""

    name: str
    classic: bool  # classical augmentation of every training image (real and synthetic)
    method: str | None  # the generator whose images are added; None for real, classic, the pseudo sources
    variant: str | None = None  # None: the plain samples; else filtered, restyle or transfer
    pseudo: bool = False  # the pseudo-labelled pool's images are added (a label budget's self-training)

    @property
    def filtered(self) -> bool:
        """The method's filtered set instead of its plain one."""
        return self.variant == FILTERED

    @property
    def synthetic(self) -> str | None:
        """The synthetic dataset's name under ``paths.synthetic`` (``cvae``, ``cvae-filtered``,
        ``cvae-restyle``, ``pseudo``)."""
        if self.pseudo:
            return PSEUDO
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

    Any registered generator (a built-in or an installed plugin, augment/models/registry.py) may
    stand for ``<method>``. Raises ValueError for any other name: :class:`augment.models.NoEncoder`
    for a restyle or transfer source of a model without an encoder, else naming the nearest
    valid source and the built-ins' sources.
    """
    if name == REAL:
        return Source(name, classic=False, method=None)
    if name == CLASSIC:
        return Source(name, classic=True, method=None)
    if name in SELF_TRAINING:
        return Source(name, classic=name != PSEUDO, method=None, pseudo=True)
    classic, method, variant = _split(name)
    if method in BASELINES or not NAME_RULE.match(method) or method not in REGISTRY:
        near = difflib.get_close_matches(name, sources_for(tuple(REGISTRY)), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(
            f"unknown source {name!r}{hint} Choose one of: {', '.join(SOURCES)} "
            f"(or the same forms of another installed generator, docs/plugins.md)"
        )
    if variant in STYLED_KINDS and not _can_encode(method):
        raise NoEncoder(method, NOT_APPLICABLE)
    return Source(name, classic=classic, method=method, variant=variant)


def check_sources(
    names: list[str],
    methods: Sequence[str] = GENERATOR_NAMES,
    styled: Sequence[str] | None = None,
    pool: bool | None = None,
) -> None:
    """Check a run's list of sources (``classifier.sources``): every name known (:func:`parse_source`'s
    errors: a "did you mean", or :class:`augment.models.NoEncoder`), each one's method among the
    run's ``methods`` (generators.methods), each restyle / transfer source's method among
    ``styled`` (sample.styled.methods, the methods whose sets are made; None: not checked), the
    self-training sources where there is an unlabelled ``pool`` and only there (None: not
    checked), none twice, and both :data:`BASELINES` present. Raises ValueError naming the first problem."""
    for name in names:
        source = parse_source(name)
        if source.pseudo and pool is False:
            raise ValueError(
                f"{name!r} learns from the unlabelled pool, which only a label budget makes: set "
                f"data.labelled (or data.unlabelled_root), or drop the source"
            )
        method = source.method
        if method is not None and method not in methods:
            raise ValueError(
                f"{name!r} needs the method {method!r}, which generators.methods does not list "
                f"({', '.join(methods)}); add it there or drop the source"
            )
        if styled is not None and source.variant in STYLED_KINDS and method not in styled:
            raise ValueError(
                f"{name!r} trains on {method}'s {source.variant} set, which sample.styled.methods "
                f"does not list ({', '.join(styled) or 'none'}); add {method} there or drop the source"
            )
    if pool:
        absent = [b for b in SELF_TRAINING if b not in names]
        if absent:
            raise ValueError(
                f"must include {' and '.join(repr(b) for b in absent)} with a label budget: the "
                f"self-training bars a generator that learns from the pool has to beat"
            )
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
    """The sources that train on one synthetic set, in report order: ``cvae`` ->
    (``cvae``, ``classic+cvae``); ``None`` (no synthetic set) -> the baselines; ``pseudo`` -> the
    self-training sources."""
    if synthetic is None:
        return BASELINES
    if synthetic == PSEUDO:
        return SELF_TRAINING
    method = _split(synthetic)[1]
    return tuple(s for s in sources_for((method,)) if parse_source(s).synthetic == synthetic)


def maker_stage(name: str) -> str:
    """The DVC stage that writes a source's data (and its manifest, augment/data/source_files.py):
    ``prepare`` for the baselines, ``pseudo_label`` for the self-training sources,
    ``restyle@<m>`` for the restyle and transfer sets, else ``sample@<m>``."""
    s = parse_source(name)
    if s.pseudo:
        return "pseudo_label"
    if s.method is None:
        return "prepare"
    return f"{'restyle' if s.variant in STYLED_KINDS else 'sample'}@{s.method}"


def order_sources(names: Iterable[str]) -> list[str]:
    """``names`` in report order: the baselines, the self-training sources, the built-ins' other
    sources in :data:`SOURCES` order, then any other (a plugin's) by :func:`sources_for` order of its method, unknown names last."""
    names = list(dict.fromkeys(names))
    known = [s for s in _REPORT_ORDER if s in names]
    rest = [n for n in names if n not in _REPORT_ORDER]
    methods = list(dict.fromkeys(_split(n)[1] for n in rest if _split(n)[1] in REGISTRY))
    extra = [s for s in sources_for(methods) if s in rest and s not in known] if methods else []
    return known + extra + sorted(set(rest) - set(extra))


def source_label(name: str) -> str:
    """How a source is written in prose: ``classic+cvaegan`` -> ``classical augmentation +
    CVAE-GAN``, ``cgan-filtered`` -> ``CGAN (filtered)``, ``cvae-restyle`` -> ``CVAE restyled``."""
    if name in _LABELS:
        return _LABELS[name]
    try:
        s = parse_source(name)
    except ValueError:
        return name
    assert s.method is not None  # the baselines' labels returned above
    label = _LABELS.get(s.method, s.method) + (_VARIANT_LABELS[s.variant] if s.variant else "")
    return f"{_LABELS[CLASSIC]} + {label}" if s.classic else label
