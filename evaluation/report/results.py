"""The records of the pipeline's result files, one type each, the one place in code that names
their keys with what each means (docs/design.md, contracts):

- :class:`ClassifierResult`, ``reports/classifiers/<source>.json`` (train_classifier): one
  :class:`ClassifierRun` per seed (the test metrics of :class:`evaluation.classifiers.prediction.EvaluationMetrics`
  plus how it trained) and the summary over seeds;
- :class:`SourceMetrics`, one entry of ``reports/metrics.json`` (compare), which the report
  (evaluation/report*.py), the data-size product and the tests read.

A ``TypedDict`` rather than a dataclass: the file is JSON that DVC reads as it is, so an entry
stays a plain dict, and which keys it carries depends on the source (the real baseline has no
delta, only the filtered sets have ``delta_vs_unfiltered``). :data:`Metrics` maps each source, in
augment/params/sources.py's order, to its entry. tests/test_pipeline.py checks that every key of a real
metrics.json, and of a classifier result, is declared here.
"""

from __future__ import annotations

from typing import TypedDict

from evaluation.classifiers.prediction import EvaluationMetrics
from evaluation.quality.keys import QUALITY_KEYS


class ClassifierRun(EvaluationMetrics):
    """One seed's downstream classifier: its test metrics and how it trained."""

    seed: int
    train_images: int  # real (+ synthetic) images it trained on
    best_step: int  # the step whose weights were kept (best validation accuracy)
    val_accuracy: float  # at that step


class ClassifierResult(TypedDict):
    """``reports/classifiers/<source>.json``: every seed's run and the summary over seeds."""

    source: str
    seeds: list[int]
    summary: dict[str, dict]  # accuracy / macro_f1 -> evaluation.quality.stats.summarize's dict
    runs: list[ClassifierRun]
    classes: list[str]  # class names, index = label


class ClassInterval(TypedDict):
    """One rare class's test accuracy: mean over seeds with its 95 % interval."""

    accuracy: float
    ci_low: float
    ci_high: float


# A generator's quality numbers (evaluation/quality/measures.py QUALITY_METRICS), carried by the entries of
# the three methods; None where a number does not apply (a CGAN has no reconstruction error).
# Built from the one list of keys, so mypy cannot read its fields: entries are checked as
# Mapping[str, Any] where a quality key is looked up by name.
QualityNumbers = TypedDict("QualityNumbers", {key: float | None for key in QUALITY_KEYS}, total=False)  # type: ignore[misc]


class SourceMetrics(QualityNumbers, total=False):
    """One source's entry. Intervals are 95 % Student-t intervals over the classifier seeds;
    deltas are paired by seed (evaluation/quality/stats.py); every verdict is
    :func:`evaluation.quality.stats.verdict` of the interval stored beside it (``delta_fields``)."""

    # test accuracy and macro-F1 on the real test split, over the classifier seeds
    accuracy: float
    accuracy_std: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    accuracy_per_seed: list[float]
    macro_f1: float
    macro_f1_ci_low: float
    macro_f1_ci_high: float
    seeds: list[int]
    train_images: int  # images the classifier trained on: real (+ synthetic)
    real_train_images: int  # real training images (the same for every source)
    # against real (every source but real)
    delta_vs_real: float
    delta_ci_low: float
    delta_ci_high: float
    verdict: str
    # against classical augmentation (every source but real and classic)
    delta_vs_classic: float
    delta_vs_classic_ci_low: float
    delta_vs_classic_ci_high: float
    verdict_vs_classic: str
    # with a label budget: against the stronger self-training source (pseudo or classic+pseudo),
    # every source but the baselines and those two
    delta_vs_self_training: float
    delta_vs_self_training_ci_low: float
    delta_vs_self_training_ci_high: float
    verdict_vs_self_training: str
    self_training_bar: str  # which of the two it is
    # a filtered set against its unfiltered images (<method>-filtered only)
    delta_vs_unfiltered: float
    delta_vs_unfiltered_ci_low: float
    delta_vs_unfiltered_ci_high: float
    verdict_vs_unfiltered: str
    acceptance_rate: float | None  # share of candidates the filter kept
    # the rare classes (data.imbalance.classes set): their mean accuracy, its delta against real
    rare_accuracy: float
    rare_accuracy_ci_low: float
    rare_accuracy_ci_high: float
    rare_delta_vs_real: float
    rare_delta_vs_real_ci_low: float
    rare_delta_vs_real_ci_high: float
    rare_verdict_vs_real: str
    rare_per_class: dict[str, ClassInterval]  # class name -> its accuracy


Metrics = dict[str, SourceMetrics]  # source -> entry: the whole of reports/metrics.json


# the keys only a run with a label budget's self-training sources carries
SELF_TRAINING_KEYS = frozenset(k for k in SourceMetrics.__annotations__ if "self_training" in k)


def declared_keys() -> set[str]:
    """Every key a :class:`SourceMetrics` entry may carry."""
    return set(SourceMetrics.__annotations__) | set(QUALITY_KEYS)
