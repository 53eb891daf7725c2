"""How good is each method's synthetic data, apart from what it does to the downstream classifier?

One flat dict of numbers per method (:func:`method_quality`), and the same numbers for a held-out
*real* set (:func:`real_reference`) so that every value has a baseline to be read against:

- ``cas``, ``cas_std``: Classification Accuracy Score (Ravuri & Vinyals 2019): the downstream
  classifier trained on the synthetic data *only* (model selection on the real validation split),
  tested on the real test split; mean and std over the classifier seeds; ``cas_per_seed``: each
  seed's accuracy, in the order of ``classifier.seeds``, so that two methods' CAS can be compared
  paired by seed (the same initialisation and batch order: the report's CAS sentence);
- ``fid``; ``kid``, ``kid_std``: distribution distances in the judge's feature space;
- ``precision``, ``recall``, ``density``, ``coverage``: k-NN fidelity / diversity (k = ``cfg.k``);
- ``label_fidelity``: judge accuracy on the labels the images were generated for;
- ``diversity_ratio``: mean intra-class feature distance of the synthetic set / that of the real
  test set (1 = as varied as real data, < 1 = collapsed);
- ``sharpness_ratio``: variance-of-Laplacian sharpness of the synthetic set / that of the real test
  set (1 = as sharp as real data, < 1 = blurrier);
- ``checkerboard_ratio``: the period-2 peak of the images' mean power spectrum over its
  neighbouring frequencies (transposed convolutions' checkerboard artefacts,
  metrics.checkerboard), synthetic / real test set (1 = as little as real data, > 1 = the
  generator adds a pattern of its own); None where the real images have no power there;
- ``reconstruction_error``: per-pixel MSE between real test images x and decode(mu(x), y), for
  models with an encoder (``model.can_encode``); None otherwise;
- ``stylize_accuracy``: for models with an encoder, the judge's accuracy on stylised images: each
  real test image's code mu(x) decoded as every class k, judged against k (does the decoder draw
  the asked class from another image's code?); None otherwise;
- ``transfer_accuracy``, ``style_r_*``, ``style_gain_*`` (slant, thickness): for models with an
  encoder, the same stylisations into the *other* classes only (not the row's own
  reconstruction): the judge's accuracy on them, and how closely (Pearson r) and how fully
  (gain: the slope) they follow the source image's slant and stroke thickness
  (evaluation/quality/style.py, docs/style.md); None otherwise;
- ``n``: how many synthetic and real images the set metrics were computed on.

Every metric except CAS is computed on the same number ``n = min(len(test), len(synthetic),
cfg.max_images)`` of synthetic and real test images, chosen class-balanced and deterministically
(:func:`balanced_subset`): FID and precision/recall depend on the sample size, so methods are only
comparable at equal ``n``. CAS trains on the whole synthetic set and tests on the whole test split,
like the downstream accuracy it is compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch

from augment.core.inference import inference
from augment.core.progress import progress_bar
from augment.data.labeled import LabeledImages, Splits
from augment.params.config import AccelerationConfig, ClassifierConfig, EvaluationConfig
from augment.sampling.stylize import stylize
from evaluation.classifiers.net import SmallCNN
from evaluation.classifiers.prediction import evaluate, features, predict
from evaluation.classifiers.training import train_classifier
from evaluation.quality import metrics as M
from evaluation.quality.keys import QUALITY_KEYS, QUALITY_METRICS, STYLIZATION_KEYS, QualityMetric  # noqa: F401 (re-exported)
from evaluation.quality.stats import summarize
from evaluation.quality.style import style_transfer

__all__ = [
    "QualityConfig",
    "QUALITY_KEYS",
    "balanced_subset",
    "classification_accuracy_score",
    "reconstruction_error",
    "stylization_metrics",
    "set_metrics",
    "method_quality",
    "real_reference",
]


@dataclass
class QualityConfig(EvaluationConfig):
    """params.yaml's ``evaluation`` section plus the classifier settings CAS trains with."""

    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)  # CAS: steps and seeds
    acceleration: AccelerationConfig = field(default_factory=AccelerationConfig)  # CAS's training loop


def quality_config(params) -> QualityConfig:
    """The QualityConfig of a run: params.yaml's ``evaluation`` section, CAS with ``classifier``."""
    section = {f.name: getattr(params.evaluation, f.name) for f in fields(EvaluationConfig)}
    return QualityConfig(**section, classifier=params.classifier, acceleration=params.acceleration)


# --------------------------------------------------------------------------------------------
# Which images
# --------------------------------------------------------------------------------------------


def balanced_subset(data: LabeledImages, n: int, seed: int = 0) -> LabeledImages:
    """``n`` images of ``data``, as evenly spread over its classes as the class sizes allow.

    Each class is shuffled by a local generator seeded with ``seed``; images are then taken round
    robin (the first of every class, then the second of every class, ...) so class counts differ
    by at most one unless a class runs out, in which case the others fill in. The same
    (data, n, seed) always gives the same images, in class-then-rank order.
    """
    if not 0 < n <= len(data):
        raise ValueError(f"balanced_subset: n must be in [1, {len(data)}], got {n}")
    g = torch.Generator().manual_seed(seed)
    labels = data.labels.cpu()  # [N]
    rank = torch.empty_like(labels)  # [N] position of each image in its class's shuffled order
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()  # [N_c]
        rank[members[torch.randperm(len(members), generator=g)]] = torch.arange(len(members))
    order = torch.argsort(rank * (int(labels.max()) + 1) + labels)  # [N] by (rank, class)
    index = order[:n].sort().values  # [n] back in dataset order
    return data.subset(index.to(data.labels.device))


def _set_size(cfg: QualityConfig, *sets: LabeledImages) -> int:
    """``n = min(len(every set), cfg.max_images)``; the metrics need at least k + 1 images."""
    n = min(min(len(s) for s in sets), int(cfg.max_images))
    if n < cfg.k + 1:
        raise ValueError(f"quality metrics need at least k + 1 = {cfg.k + 1} images per set, got {n}")
    return n


# --------------------------------------------------------------------------------------------
# CAS: train on synthetic only, test on real
# --------------------------------------------------------------------------------------------


def classification_accuracy_score(
    synthetic: LabeledImages,
    splits: Splits,
    cfg: ClassifierConfig,
    seeds: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    acceleration: AccelerationConfig | None = None,
) -> dict[str, Any]:
    """CAS (Ravuri & Vinyals 2019): train the downstream classifier on ``synthetic`` alone, one per
    seed (``cfg.seeds`` when ``seeds`` is None), select on the *real* validation split, test on the
    real test split.

    A generator whose images carry the information of the real classes scores close to the real
    data's own accuracy; one whose images are off-class or collapsed scores lower.
    Returns :func:`evaluation.quality.stats.summarize` of the test accuracies plus ``per_seed`` and
    ``seeds``.
    """
    if tuple(synthetic.images.shape[1:]) != splits.image_shape:
        raise ValueError(
            f"synthetic images have shape {tuple(synthetic.images.shape[1:])}, real ones "
            f"{splits.image_shape}: the generator was trained on other data"
        )
    seeds = list(cfg.seeds if seeds is None else seeds)
    accuracies = []
    for seed in seeds:
        model, _ = train_classifier(
            synthetic,
            splits.val,
            splits.num_classes,
            cfg,
            seed=seed,
            device=device,
            progress=progress,
            desc=f"CAS seed {seed}",
            acceleration=acceleration,
        )
        accuracies.append(evaluate(model, splits.test, splits.num_classes, device=device)["accuracy"])
    return {**summarize(accuracies), "per_seed": accuracies, "seeds": seeds}


# --------------------------------------------------------------------------------------------
# Reconstruction: models with an encoder
# --------------------------------------------------------------------------------------------


def reconstruction_error(
    model, real: LabeledImages, device: torch.device | str = "cpu", batch_size: int = 256
) -> float | None:
    """Per-pixel MSE of x against decode(mu(x), y) on ``real`` (the posterior mean, no sampling,
    so the number is deterministic); None for a model without an encoder (a CGAN) or no model."""
    if model is None or not getattr(model, "can_encode", False):
        return None
    recs = []
    with inference(model.to(device)):
        for x, y in zip(real.images.split(batch_size), real.labels.split(batch_size), strict=True):
            x, y = x.to(device), y.to(device)  # [B, C, H, W], [B]
            mu, _ = model.encode(x, y)  # [B, latent]
            recs.append(model.decode(mu, y).float().cpu())  # [B, C, H, W]
    return M.reconstruction_error(real.images.cpu().numpy(), torch.cat(recs).numpy())


def classifier_accuracy(
    model, test: LabeledImages, device: torch.device | str = "cpu", batch_size: int = 512
) -> float | None:
    """The accuracy on ``test`` (every test image) of the model's own classifier q(y | x) (the M2
    scheme of a CVAE or CVAE-GAN trained with a pool: Kingma et al. report 88 % for M2 alone at
    100 MNIST labels); None for a model without one."""
    if model is None or not getattr(model, "has_classifier", False):
        return None
    model.to(device)
    predicted = torch.cat([model.classify(x.to(device)).argmax(dim=1).cpu() for x in test.images.split(batch_size)])
    return float((predicted == test.labels.cpu()).double().mean())


@torch.no_grad()
def stylization_metrics(
    model,
    real: LabeledImages,
    judge: SmallCNN,
    device: torch.device | str = "cpu",
    batch_size: int = 100,
    progress: bool = False,
) -> dict[str, float | None]:
    """Every number of ``real``'s images stylised as every class (:func:`augment.sampling.stylize.stylize`),
    from one pass: {key: None} for a model without an encoder (:data:`STYLIZATION_KEYS`).

    - ``stylize_accuracy``: the judge's accuracy against the class each output was drawn as, over
      all K columns (the row's own class included);
    - ``transfer_accuracy``: the same over the K - 1 *other* classes only;
    - ``style_r_*``, ``style_gain_*``: :func:`evaluation.quality.style.style_transfer` of those
      other-class outputs against their sources.
    """
    if model is None or not getattr(model, "can_encode", False):
        return dict.fromkeys(STYLIZATION_KEYS)
    k = model.num_classes
    model.to(device)
    hits = own = 0
    styled_all = []
    # a flow model integrates K + 1 times per image (docs/design.md): minutes at 28x28 on a CPU
    bar = progress_bar(len(real), f"stylise {model.name}", "img", progress)
    for x, y in zip(real.images.split(batch_size), real.labels.split(batch_size), strict=True):
        styled = stylize(model, x, y)  # [B, K, C, H, W]: image b drawn as class k
        pred = predict(judge, styled.flatten(0, 1), device=device).view(len(y), k)  # [B, K]
        right = pred == torch.arange(k)  # [B, K] drawn as k, judged k
        hits += int(right.sum())
        own += int(right[torch.arange(len(y)), y.cpu().long()].sum())  # the reconstructions
        styled_all.append(styled.numpy())
        bar.update(len(y))
    bar.close()
    n = len(real)
    out: dict[str, float | None] = {
        "stylize_accuracy": hits / (n * k),
        "transfer_accuracy": (hits - own) / (n * (k - 1)) if k > 1 else None,
    }
    out.update(style_transfer(real.images.cpu().numpy(), real.labels.cpu().numpy(), np.concatenate(styled_all)))
    return out


# --------------------------------------------------------------------------------------------
# Set metrics: a candidate set against the real test images, in judge features
# --------------------------------------------------------------------------------------------


def _judge_view(judge: SmallCNN, data: LabeledImages, device) -> tuple[np.ndarray, np.ndarray]:
    """The judge's penultimate features [n, D] and predicted labels [n] for ``data``."""
    feats = features(judge, data.images, device=device).numpy()  # [n, D]
    preds = predict(judge, data.images, device=device).numpy()  # [n]
    return feats, preds


def set_metrics(
    candidate: LabeledImages,
    real: LabeledImages,
    judge: SmallCNN,
    cfg: QualityConfig,
    device: torch.device | str = "cpu",
) -> dict[str, float | None]:
    """FID, KID, precision/recall/density/coverage, label fidelity, diversity, sharpness and
    checkerboard ratios of ``candidate`` against ``real`` (two sets of equal size, already chosen).

    Shared by :func:`method_quality` (candidate = synthetic images) and :func:`real_reference`
    (candidate = held-out real images), so the two are computed identically.
    """
    fake_f, fake_pred = _judge_view(judge, candidate, device)  # [n, D], [n]
    real_f, _ = _judge_view(judge, real, device)  # [n, D]
    fake_y, real_y = candidate.labels.cpu().numpy(), real.labels.cpu().numpy()  # [n], [n]
    kid, kid_std = M.kernel_inception_distance(
        real_f,
        fake_f,
        subsets=cfg.kid_subsets,
        subset_size=min(cfg.kid_subset_size, max(2, len(real_y) // 2)),
        seed=cfg.seed,
    )
    div_fake = M.intra_class_diversity(fake_f, fake_y, seed=cfg.seed)["mean"]
    div_real = M.intra_class_diversity(real_f, real_y, seed=cfg.seed)["mean"]
    return {
        "fid": M.frechet_distance(real_f, fake_f),
        "kid": kid,
        "kid_std": kid_std,
        **M.precision_recall_density_coverage(real_f, fake_f, k=cfg.k),
        "label_fidelity": M.label_fidelity(fake_pred, fake_y),
        "diversity_ratio": div_fake / div_real,
        "sharpness_ratio": M.relative_sharpness(candidate.images.cpu().numpy(), real.images.cpu().numpy()),
        "checkerboard_ratio": M.relative_checkerboard(candidate.images.cpu().numpy(), real.images.cpu().numpy()),
        "n": float(len(real_y)),
    }


# --------------------------------------------------------------------------------------------
# Per method, and the real baseline
# --------------------------------------------------------------------------------------------


def method_quality(
    name: str,
    model,
    synthetic: LabeledImages,
    splits: Splits,
    judge: SmallCNN,
    cfg: QualityConfig,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Every quality number of one method (keys :data:`QUALITY_KEYS` plus ``n`` and the list
    ``cas_per_seed``).

    ``model`` is the trained generator (or None when only its samples are at hand: then
    ``reconstruction_error`` is None, as it is for a model without an encoder). ``synthetic`` is
    the method's sampled dataset. CAS uses ``cfg.classifier`` and its seeds; every other metric
    uses ``n`` class-balanced synthetic and real test images (module docstring).
    """
    if model is not None and getattr(model, "name", name) != name:
        raise ValueError(f"method_quality({name!r}): the model passed is a {model.name!r}")
    n = _set_size(cfg, splits.test, synthetic)
    fake = balanced_subset(synthetic, n, cfg.seed)  # n synthetic images
    real = balanced_subset(splits.test, n, cfg.seed)  # n real test images
    cas = classification_accuracy_score(
        synthetic, splits, cfg.classifier, device=device, progress=progress, acceleration=cfg.acceleration
    )
    out: dict[str, Any] = {"cas": cas["mean"], "cas_std": cas["std"], "cas_per_seed": cas["per_seed"]}
    out.update(set_metrics(fake, real, judge, cfg, device))
    out["reconstruction_error"] = reconstruction_error(model, real, device)
    out["classifier_accuracy"] = classifier_accuracy(model, splits.test, device)
    out.update(stylization_metrics(model, real, judge, device, progress=progress))
    return {k: out[k] for k in (*QUALITY_KEYS, "n", "cas_per_seed")}


def real_reference(
    splits: Splits, judge: SmallCNN, cfg: QualityConfig | None = None, device: torch.device | str = "cpu"
) -> dict[str, float | None]:
    """The same numbers for *real* held-out data: the validation split stands in for a
    "synthetic" set and is compared with the real test split. What each value means:

    - ``fid``, ``kid``: the floor that a perfect generator would reach — two samples of the real
      distribution are not at distance 0 on finite sets. The validation split is small (144
      digits against 360 test images by default), so ``n`` is smaller than a method's; KID is
      unbiased in ``n`` and compares directly, FID is biased upward at small ``n`` (this floor is
      a little high compared with a method's FID at a larger ``n``);
    - ``precision`` ... ``coverage``: what real data scores against real data (neither is 1);
    - ``label_fidelity``: the judge's accuracy on held-out real images — the ceiling for a
      method's label fidelity;
    - ``diversity_ratio``, ``sharpness_ratio``, ``checkerboard_ratio``: ~1 by construction; their spread from 1 shows
      how much these ratios move between two real samples;
    - ``cas``, ``cas_std``, ``reconstruction_error``, ``classifier_accuracy`` and the stylisation numbers: None. The real data's CAS is the downstream
      classifier trained on real data, i.e. the ``real`` accuracy of metrics.json (the report
      shows it there); real data has nothing to reconstruct.

    The validation split, not the training split, is used because the judge was trained on the
    training images: its features on them are more confident than on unseen images.
    """
    cfg = cfg or QualityConfig()
    n = _set_size(cfg, splits.test, splits.val)
    held_out = balanced_subset(splits.val, n, cfg.seed)
    real = balanced_subset(splits.test, n, cfg.seed)
    out: dict[str, float | None] = {
        "cas": None,
        "cas_std": None,
        "reconstruction_error": None,
        "classifier_accuracy": None,
        **dict.fromkeys(STYLIZATION_KEYS),
    }
    out.update(set_metrics(held_out, real, judge, cfg, device))
    return {k: out[k] for k in (*QUALITY_KEYS, "n")}
