"""The one list of a generator's quality numbers: their keys, report labels and decimals.

Apart from evaluation/quality/measures.py (which computes them) so that the record types, the report and
compare can name them without importing scipy and scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QualityMetric", "QUALITY_METRICS", "QUALITY_KEYS", "STYLIZATION_KEYS"]


@dataclass(frozen=True)
class QualityMetric:
    """One number of reports/quality/<method>.json: its key, the report's column header, the
    decimals it is printed with, and the key of its spread (shown as ``mean ± spread``)."""

    key: str
    label: str
    decimals: int = 3
    spread: str | None = None


# The one list of quality numbers, in the order of the report's table and of quality.csv.
QUALITY_METRICS = (
    QualityMetric("cas", "CAS ↑", spread="cas_std"),
    QualityMetric("fid", "FID ↓"),
    QualityMetric("kid", "KID ↓", decimals=4, spread="kid_std"),
    QualityMetric("precision", "Precision"),
    QualityMetric("recall", "Recall"),
    QualityMetric("density", "Density"),
    QualityMetric("coverage", "Coverage"),
    QualityMetric("label_fidelity", "Label fidelity"),
    QualityMetric("diversity_ratio", "Diversity ratio"),
    QualityMetric("sharpness_ratio", "Sharpness ratio"),
    # period-2 pattern of the synthetic set / of the real test images (metrics.checkerboard)
    QualityMetric("checkerboard_ratio", "Checkerboard ratio (1 = real)", decimals=2),
    QualityMetric("reconstruction_error", "Reconstruction MSE ↓", decimals=4),
    QualityMetric("stylize_accuracy", "Stylisation accuracy"),
    QualityMetric("transfer_accuracy", "Transfer accuracy"),
    QualityMetric("style_r_slant", "Style r (slant)"),
    QualityMetric("style_r_thickness", "Style r (thickness)"),
    QualityMetric("style_gain_slant", "Style gain (slant)"),
    QualityMetric("style_gain_thickness", "Style gain (thickness)"),
    # RGB images only: the ground's and the ink's colour (evaluation/quality/style.py); None for grey
    QualityMetric("style_r_colour", "Style r (colour)"),
    QualityMetric("style_gain_colour", "Style gain (colour)"),
    # the test accuracy of the model's own classifier q(y | x) (the M2 scheme, trained with a
    # label budget's pool): a reference, never used for selection; None for every other model
    QualityMetric("classifier_accuracy", "q(y|x) accuracy"),
)
# the numbers of stylization_metrics, None for a model without an encoder
STYLIZATION_KEYS = (
    "stylize_accuracy",
    "transfer_accuracy",
    "style_r_slant",
    "style_r_thickness",
    "style_gain_slant",
    "style_gain_thickness",
    "style_r_colour",
    "style_gain_colour",
)
# keys of method_quality's dict (each number, then its spread)
QUALITY_KEYS = tuple(k for m in QUALITY_METRICS for k in (m.key, m.spread) if k is not None)
