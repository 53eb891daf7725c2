"""The training sources of the downstream classifier: one list, and what each name means.

A *source* is the training set a downstream classifier sees (docs/design.md, "Sources"):

====================  =====================================================================
``real``              the real training split alone
``classic``           the real split with classical augmentation (evaluation/classic.py)
``<method>``          real + that generator's synthetic images (``data/synthetic/<method>.pt``)
``classic+<method>``  the same mixture, classical augmentation applied to real and synthetic
``<method>-filtered`` real + synthetic images the filter network accepted
                      (``data/synthetic/<method>-filtered.pt``, pipelines/sample.py)
====================  =====================================================================

Every source gets the same step budget, seeds, model selection and test rule
(evaluation/mixing.py, evaluation/classifier.py). ``real`` is the baseline of ``delta_vs_real``; ``classic`` the
baseline of ``delta_vs_classic``: the bar a generator has to clear, because flips, small affine
moves and erasing cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from augment.config import MODEL_NAMES

__all__ = ["REAL", "CLASSIC", "FILTERED", "SOURCES", "Source", "parse_source", "source_label",
           "filtered_name"]

REAL = "real"
CLASSIC = "classic"
FILTERED = "filtered"
_COMBINED = "+"  # classic+<method>
_SUFFIX = "-"  # <method>-filtered


def filtered_name(method: str) -> str:
    """The name of a method's filtered synthetic set, and of its source: ``cvae-filtered``."""
    return f"{method}{_SUFFIX}{FILTERED}"


# The one list: baselines, each method alone, each method with classical augmentation, each
# method's filtered set. Reports, metrics.json and figures keep this order.
SOURCES: tuple[str, ...] = (
    (REAL, CLASSIC)
    + MODEL_NAMES
    + tuple(f"{CLASSIC}{_COMBINED}{m}" for m in MODEL_NAMES)
    + tuple(filtered_name(m) for m in MODEL_NAMES)
)

_LABELS = {"real": "real data", "classic": "classical augmentation", "cvae": "CVAE", "cgan": "CGAN",
           "cvaegan": "CVAE-GAN"}


@dataclass(frozen=True)
class Source:
    """What a source name asks for."""

    name: str
    classic: bool  # classical augmentation of every training image (real and synthetic)
    method: str | None  # the generator whose images are added; None for real and classic
    filtered: bool  # the method's filtered set instead of its plain one

    @property
    def synthetic(self) -> str | None:
        """The synthetic dataset's name under ``paths.synthetic`` (``cvae``, ``cvae-filtered``)."""
        if self.method is None:
            return None
        return filtered_name(self.method) if self.filtered else self.method


def parse_source(name: str) -> Source:
    """``classic+cvaegan`` -> Source(classic=True, method="cvaegan", filtered=False).

    Raises ValueError, naming the valid sources, for any name not in :data:`SOURCES`.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")
    if name == REAL:
        return Source(name, classic=False, method=None, filtered=False)
    if name == CLASSIC:
        return Source(name, classic=True, method=None, filtered=False)
    classic = name.startswith(CLASSIC + _COMBINED)
    rest = name[len(CLASSIC + _COMBINED):] if classic else name
    filtered = rest.endswith(_SUFFIX + FILTERED)
    method = rest[: -len(_SUFFIX + FILTERED)] if filtered else rest
    return Source(name, classic=classic, method=method, filtered=filtered)


def source_label(name: str) -> str:
    """How a source is written in prose: ``classic+cvaegan`` -> ``classical augmentation +
    CVAE-GAN``, ``cgan-filtered`` -> ``CGAN (filtered)``."""
    if name in _LABELS:
        return _LABELS[name]
    if name not in SOURCES:
        return name
    s = parse_source(name)
    label = _LABELS[s.method] + (" (filtered)" if s.filtered else "")
    return f"{_LABELS[CLASSIC]} + {label}" if s.classic else label
