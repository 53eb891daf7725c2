"""The report's setup lines: what this run compared, on what, against which bars.

Each is one "key: value" line under comparison.md's setup heading, built from the run's params
and records: the data and its size, the seeds and steps, the methods and their warm starts, the
judge, the label budget and what self-training kept, the classical augmentation (and whether it
was swept on this data: evaluation/classic_sweep/record.py), the filter and the styled sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from augment.params.config import Params
from evaluation.classic_sweep.record import origin
from evaluation.report.findings import method_label
from evaluation.report.results import ClassifierResult

__all__ = ["setup_context"]


def setup_context(
    params: Params,
    results: Mapping[str, ClassifierResult],
    methods: Sequence[str],
    combinations: Mapping[str, str],
    quality: Mapping[str, Mapping[str, Any]],
    pseudo: dict | None,
) -> dict[str, Any]:
    """The setup lines, in the order the report prints them."""
    context: dict[str, Any] = {
        "dataset": params.data.dataset,
        "train_size": results["real"]["runs"][0]["train_images"],
        "seeds": params.classifier.seeds,
        "classifier steps": params.classifier.steps,
        "methods": ", ".join(methods),
    }
    if combinations:
        context["warm starts"] = ", ".join(
            f"{method_label(m)} from the trained {method_label(b)} (generators.{m}.init_from)"
            for m, b in combinations.items()
        )
    context["judge test accuracy"] = round(quality["real"]["judge_test_accuracy"], 4)
    return {**context, **_budget_context(params, pseudo), **_bar_context(params)}


def _budget_context(params: Params, pseudo: dict | None) -> dict[str, str]:
    """The report's setup lines about a label budget: the labels, the pool, how generators used it
    and what self-training kept (``pseudo``: the pseudo_label stage's record)."""
    d = params.data
    if not (d.labelled or d.unlabelled_root):
        return {}
    pool = f"{pseudo['pool_images']} images" if pseudo else "(not recorded)"
    context = {
        "label budget": (
            f"{d.labelled} labelled training images (class-balanced) and up to as many labelled validation images"
            if d.labelled
            else "every training image labelled"
        )
        + f"; unlabelled pool {pool}"
        + (f", with the images of {d.unlabelled_root}" if d.unlabelled_root else ""),
        "generators and the pool": {
            "native": "each learns from it in its own way, or from its pseudo-labels where it has none",
            "pseudo": "each learns from the labelled images and the pool's pseudo-labels",
            "none": "the labelled images alone (the pool is not used)",
        }[params.generators.unlabelled]
        + " (generators.unlabelled)",
    }
    if pseudo and "kept" in pseudo:
        teacher = pseudo.get("teacher_val_accuracy")
        context["self-training"] = (
            "a teacher (classical augmentation, the labelled images"
            + (f"; validation accuracy {teacher:.4f}" if teacher is not None else "")
            + f") labelled the pool; {pseudo['kept']} images reached P >= {params.classifier.pseudo.threshold:g}"
        )
    return context


def _bar_context(params: Params) -> dict[str, str]:
    """The report's setup lines about the classic bar, the filter and the rare classes."""
    a, f, imb = params.augmentation, params.sample.filter, params.data.imbalance
    context = {
        "classical augmentation": ", ".join(
            [
                f"rotation up to {a.degrees:g} degrees",
                f"shift up to {a.translate:g} of the side",
                f"zoom {a.scale_min:g}-{a.scale_max:g}",
            ]
            + ([f"erasing p={a.erasing:g} (up to {a.erasing_max_area:g} of the image)"] if a.erasing else [])
            + ([f"horizontal flip p={a.hflip:g}"] if a.hflip else [])
            + ([f"vertical flip p={a.vflip:g}"] if a.vflip else [])
            + (
                [
                    f"colour jitter brightness {a.brightness:g}, contrast {a.contrast:g}, saturation {a.saturation:g}, hue {a.hue:g}"
                ]
                if any((a.brightness, a.contrast, a.saturation, a.hue))
                else []
            )
        )
        + f"; {origin(params.data, a)}",
        "filtered sets": (
            f"kept when the filter network gives the intended class P >= {f.threshold:g}"
            + (
                f", lowered per class to what {f.real_pass:g} of its real validation images reach"
                if f.real_pass
                else ""
            )
        ),
        "restyle / transfer sets": (
            f"real training images redrawn through the encoder from z = mu + {params.sample.styled.noise:g} sigma eps"
            + (
                ", kept only when the filter network reads the class (as the filtered sets)"
                if params.sample.styled.filter
                else ""
            )
        ),
        "synthetic images per class": (
            "top-up: every class filled to the largest real class"
            if params.classifier.synthetic_mode == "top_up"
            else f"{params.classifier.synthetic_ratio:g} per real image, class-balanced"
        ),
    }
    if imb.classes:
        context["rare classes"] = (
            f"{', '.join(str(c) for c in imb.classes)}: {imb.keep:g} of their training images kept (data.imbalance)"
        )
    return context
