"""The axes of classical augmentation the sweep varies, and the candidate values of each.

An axis is one user-facing knob (``--degrees 0,5,10,20``) that sets one or more fields of
:class:`~augment.params.config.AugmentationConfig`: ``zoom`` z sets ``scale_min = 1 - z`` and
``scale_max = 1 + z``; the others set the field of their name. The default candidates are the
settings a practitioner would try first on an image classifier: flips (on at p = 0.5, or off),
rotation, shift, zoom and erasing at a few strengths around the usual ones (torchvision's
``RandomErasing`` default p is 0.5), and on colour images colour jitter (one strength for
brightness, contrast and saturation, a quarter of it for the hue: ColorJitter's usual 0.2-0.4).

The order of :data:`DEFAULT_AXES` is the sweep's order (evaluation/classic_sweep/search.py):
flips first, the choice with the largest effect either way (a mirrored digit is another digit or
none; a mirrored face is a face), then the geometric strengths, then erasing, then colour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from augment.params.config import AugmentationConfig, ConfigError
from augment.params.file import check_ranges

__all__ = ["JITTER", "Axis", "DEFAULT_AXES", "SWEPT_FIELDS", "parse_values", "with_value", "current_value", "describe"]


@dataclass(frozen=True)
class Axis:
    """``name``: the command's option and the table's column; ``values``: its candidates, in the
    order they are tried; ``help``: what one value means."""

    name: str
    values: tuple[float, ...]
    help: str

    def settings(self, value: float) -> dict[str, Any]:
        """The AugmentationConfig fields one value of this axis sets."""
        if self.name == "zoom":
            return {"scale_min": 1.0 - value, "scale_max": 1.0 + value}
        if self.name == JITTER:  # one strength for the four, the hue's a quarter of it
            return {"brightness": value, "contrast": value, "saturation": value, "hue": value / 4}
        return {self.name: value}


JITTER = "jitter"  # the colour axis: swept by default on RGB data only (pipelines/classic_sweep.py)


DEFAULT_AXES: tuple[Axis, ...] = (
    Axis("hflip", (0.0, 0.5), "probability of a horizontal flip"),
    Axis("vflip", (0.0, 0.5), "probability of a vertical flip"),
    Axis("degrees", (0.0, 5.0, 10.0, 20.0), "rotation up to this many degrees"),
    Axis("translate", (0.0, 0.05, 0.1, 0.15), "shift up to this share of the side"),
    Axis("zoom", (0.0, 0.05, 0.1, 0.2), "zoom in [1 - z, 1 + z]"),
    Axis("erasing", (0.0, 0.25, 0.5), "probability of erasing one rectangle"),
    Axis(JITTER, (0.0, 0.2, 0.4), "colour jitter v: brightness, contrast, saturation v, hue v/4"),
)

# Every AugmentationConfig field that decides what the classifier sees (all but the record of the
# sweep itself): the digest of a swept setting covers these.
SWEPT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AugmentationConfig) if f.name != "swept")


def with_value(cfg: AugmentationConfig, axis: Axis, value: float) -> AugmentationConfig:
    """``cfg`` with ``axis`` set to ``value`` (the other fields kept)."""
    return dataclasses.replace(cfg, **axis.settings(value))


def current_value(cfg: AugmentationConfig, axis: Axis) -> float:
    """The value ``cfg`` has on ``axis`` (zoom: half the width of [scale_min, scale_max])."""
    if axis.name == "zoom":
        return round((cfg.scale_max - cfg.scale_min) / 2, 6)
    if axis.name == JITTER:
        tied = with_value(cfg, axis, cfg.brightness)
        return cfg.brightness if tied == cfg else -1.0  # -1: untied values, none of the candidates
    return float(getattr(cfg, axis.name))


def describe(cfg: AugmentationConfig) -> str:
    """A setting as one short label: ``rot 10, shift 0.1, zoom 0.9-1.1, erase 0.25, hflip 0.5``
    (what is off is left out; every field off: ``none``)."""
    parts = []
    if cfg.degrees:
        parts.append(f"rot {cfg.degrees:g}")
    if cfg.translate:
        parts.append(f"shift {cfg.translate:g}")
    if (cfg.scale_min, cfg.scale_max) != (1.0, 1.0):
        parts.append(f"zoom {cfg.scale_min:g}-{cfg.scale_max:g}")
    if cfg.erasing:
        parts.append(f"erase {cfg.erasing:g}")
    if cfg.hflip:
        parts.append(f"hflip {cfg.hflip:g}")
    if cfg.vflip:
        parts.append(f"vflip {cfg.vflip:g}")
    jitter = (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
    if any(jitter):
        parts.append("jitter " + "/".join(f"{v:g}" for v in jitter))
    return ", ".join(parts) or "none"


def parse_values(axis: Axis, text: str) -> Axis:
    """``axis`` with the candidates of ``--<name> 0,5,10`` (sorted, duplicates dropped), each
    checked against the augmentation section's own ranges; ConfigError names the option, the
    value and the key it would set."""
    values: set[float] = set()
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise ConfigError(f"--{axis.name}: expected numbers separated by commas, got {part.strip()!r}") from None
        if axis.name == "zoom" and not 0 <= value < 1:
            raise ConfigError(f"--zoom {part.strip()}: must be a zoom half-width in [0, 1)")
        try:
            check_ranges(AugmentationConfig(**axis.settings(value)), "augmentation")
        except ConfigError as err:
            raise ConfigError(f"--{axis.name} {part.strip()}: {err}") from None
        values.add(value)
    return dataclasses.replace(axis, values=tuple(sorted(values)))


def axes_named(names: Sequence[str]) -> list[Axis]:
    """The default axes called ``names`` (ConfigError on an unknown one)."""
    known = {a.name: a for a in DEFAULT_AXES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--axes: unknown axis {unknown[0]!r}; known: {', '.join(known)}")
    return [known[n] for n in names]
