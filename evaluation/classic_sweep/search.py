"""The sweep's search: one axis at a time from the current setting, keeping what measures best.

A full grid of the default axes is 2 x 2 x 4 x 4 x 4 x 3 = 768 settings, each a few classifier
trainings; coordinate ascent tries each axis's candidates with the others held at the best so
far, in the axes' order, once: 1 + sum(candidates - 1) settings (15 for the defaults), plus the
no-augmentation reference. A candidate replaces the incumbent only when its mean validation
accuracy is strictly higher, so a tie keeps what the user had. Settings already measured are not
measured again.

``measure(cfg)`` returns one validation accuracy per seed (the same seeds for every setting, so
that two settings compare paired by seed); the winner is reported against the runner-up (the
best other setting tried) with the paired interval of the difference: an interval that straddles
0 says the validation split cannot tell the two apart.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from augment.params.config import AugmentationConfig
from evaluation.classic_sweep.axes import SWEPT_FIELDS, Axis, current_value, describe, with_value
from evaluation.quality.stats import paired_delta

__all__ = ["NONE", "START", "Trial", "SweepResult", "sweep", "no_augmentation"]

START = "start"  # the trial of the setting the sweep starts from (params.yaml's)
NONE = "none"  # the trial of no augmentation at all: the reference every setting is read against

Measure = Callable[[AugmentationConfig], list[float]]


# Every transform off: the values that make each AugmentationConfig field a no-op.
_OFF: dict[str, Any] = {
    "degrees": 0.0,
    "translate": 0.0,
    "scale_min": 1.0,
    "scale_max": 1.0,
    "erasing": 0.0,
    "hflip": 0.0,
    "vflip": 0.0,
    "brightness": 0.0,
    "contrast": 0.0,
    "saturation": 0.0,
    "hue": 0.0,
}


def no_augmentation(cfg: AugmentationConfig) -> AugmentationConfig:
    """``cfg`` with every transform off (erasing's area and the record kept)."""
    return dataclasses.replace(cfg, **_OFF)


def _key(cfg: AugmentationConfig) -> tuple[float, ...]:
    return tuple(float(getattr(cfg, name)) for name in SWEPT_FIELDS)


@dataclass
class Trial:
    """One setting measured: ``axis`` is what it varied (:data:`START`, :data:`NONE` or an axis
    name), ``accuracies`` one validation accuracy per seed, ``seconds`` what measuring it cost."""

    axis: str
    config: AugmentationConfig
    accuracies: list[float]
    seconds: float

    @property
    def label(self) -> str:
        return describe(self.config)

    @property
    def mean(self) -> float:
        return sum(self.accuracies) / len(self.accuracies)


@dataclass
class SweepResult:
    """Every trial in the order it ran, the winner, the runner-up and the winner's paired delta
    against it (:func:`~evaluation.quality.stats.paired_delta`; None when only one setting was tried)."""

    trials: list[Trial]
    winner: Trial
    runner_up: Trial | None
    delta: dict[str, Any] | None = field(default=None)

    @property
    def reference(self) -> Trial:
        """The no-augmentation trial."""
        return next(t for t in self.trials if t.axis == NONE)


def sweep(
    start: AugmentationConfig,
    axes: Sequence[Axis],
    measure: Measure,
    log: Callable[[str], None] = lambda line: None,
) -> SweepResult:
    """Coordinate ascent over ``axes`` from ``start`` (see the module doc); ``log`` gets one line
    per setting measured (its number, label, mean and cost)."""
    planned = 2 + sum(len(set(a.values) - {current_value(start, a)}) for a in axes)  # an upper bound
    done: dict[tuple[float, ...], Trial] = {}
    trials: list[Trial] = []

    def run(axis: str, cfg: AugmentationConfig) -> Trial:
        key = _key(cfg)
        if key in done:
            return done[key]
        started = time.perf_counter()
        accuracies = measure(cfg)
        trial = Trial(axis, cfg, accuracies, time.perf_counter() - started)
        done[key] = trial
        trials.append(trial)
        log(
            f"[{len(trials)}/<={planned}] {axis:9s} {trial.label:48s} "
            f"{trial.mean:.4f} over {len(accuracies)} seeds ({trial.seconds:.0f} s)"
        )
        return trial

    reference = run(NONE, no_augmentation(start))
    best = run(START, start)
    if reference.mean > best.mean:
        best = reference
    for axis in axes:
        incumbent = current_value(best.config, axis)
        for value in axis.values:
            if value == incumbent:
                continue
            trial = run(axis.name, with_value(best.config, axis, value))
            if trial.mean > best.mean:
                best = trial
        # best now holds this axis's choice; the next axis starts from it
    ranked = sorted(trials, key=lambda t: t.mean, reverse=True)
    runner_up = next((t for t in ranked if t is not best), None)
    delta = None if runner_up is None else paired_delta(best.accuracies, runner_up.accuracies)
    return SweepResult(trials=trials, winner=best, runner_up=runner_up, delta=delta)
