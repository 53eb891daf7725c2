"""A trained classifier applied: predicted labels, class probabilities, penultimate features,
and the classification metrics of a test set (confusion matrix and macro F1, with
scikit-learn's definitions: tests/test_classifier.py checks them against sklearn.metrics).

Everything runs batched, in eval mode without gradients (:func:`augment.core.inference.inference`),
and returns CPU tensors or plain Python types.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from augment.core.inference import inference
from augment.data.labeled import LabeledImages
from evaluation.classifiers.net import SmallCNN


def _images_of(images: torch.Tensor | LabeledImages) -> torch.Tensor:
    return images.images if isinstance(images, LabeledImages) else images


def _batched(fn, model: nn.Module, images, batch_size: int, device) -> torch.Tensor:
    """Apply ``fn(model, x)`` in eval mode over batches; the model's train/eval mode is restored."""
    x = _images_of(images)
    with inference(model.to(device)):
        outs = [fn(model, chunk.to(device)).cpu() for chunk in x.split(batch_size)]
    return torch.cat(outs) if outs else torch.empty(0)  # no images: an empty result


def predict(
    model: nn.Module, images: torch.Tensor | LabeledImages, batch_size: int = 512, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Predicted labels, a CPU LongTensor [N] (eval mode, no grad, batched)."""
    out = _batched(lambda m, x: m(x).argmax(dim=1), model, images, batch_size, device)
    return out if out is not None else torch.zeros(0, dtype=torch.int64)


def probabilities(
    model: SmallCNN, images: torch.Tensor | LabeledImages, batch_size: int = 512, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Softmax class probabilities, a CPU FloatTensor [N, K] (eval mode, no grad, batched)."""
    out = _batched(lambda m, x: F.softmax(m(x).float(), dim=1), model, images, batch_size, device)
    return out if out is not None else torch.zeros(0, model.num_classes)


def features(
    model: SmallCNN, images: torch.Tensor | LabeledImages, batch_size: int = 512, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Penultimate features, a CPU FloatTensor [N, model.feature_dim] (eval mode, no grad)."""
    out = _batched(lambda m, x: m.features(x).float(), model, images, batch_size, device)
    return out if out is not None else torch.zeros(0, model.feature_dim)


# Written here rather than imported from sklearn.metrics: importing scikit-learn costs every
# train_classifier stage about 1.7 s of start-up (of 19 stages) for two lines of arithmetic.


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """sklearn's ``confusion_matrix(y_true, y_pred, labels=range(K))``: int64 [K, K], rows =
    true labels, columns = predictions."""
    flat = y_true.astype(np.int64) * num_classes + y_pred.astype(np.int64)  # [N] row-major cell
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def macro_f1(cm: np.ndarray) -> float:
    """sklearn's ``f1_score(average="macro", zero_division=0)`` from a confusion matrix: the mean,
    over the classes that occur as a true or a predicted label, of F1_c = 2 tp / (2 tp + fp + fn)
    (the same quotient sklearn forms, so the same float)."""
    tp = np.diag(cm).astype(np.float64)  # [K]
    true_sum, pred_sum = cm.sum(axis=1), cm.sum(axis=0)  # [K] each: tp + fn, tp + fp
    present = (true_sum + pred_sum) > 0  # sklearn averages over the labels seen
    if not present.any():
        return 0.0
    f1 = 2.0 * tp[present] / (true_sum[present] + pred_sum[present])
    return float(np.mean(f1))


class EvaluationMetrics(TypedDict):
    """What :func:`evaluate` measures on one labeled set (the test split: once, after training)."""

    accuracy: float  # fraction of correct predictions
    macro_f1: float  # as sklearn's f1_score(average="macro", zero_division=0) (macro_f1)
    per_class_accuracy: list[float]  # K: recall of each class; 0.0 for a class with no images
    support: list[int]  # K: images of each class
    confusion_matrix: list[list[int]]  # K x K: rows = true labels, columns = predictions
    n: int  # images


def evaluate(
    model: SmallCNN, data: LabeledImages, num_classes: int, batch_size: int = 512, device: torch.device | str = "cpu"
) -> EvaluationMetrics:
    """Classification metrics of ``model`` on ``data``, as plain Python types:

    - ``accuracy``: fraction of correct predictions;
    - ``macro_f1``: as sklearn's ``f1_score(average='macro', zero_division=0)``, i.e. the unweighted
      mean F1 over the labels present in the true or predicted labels;
    - ``per_class_accuracy``: K floats, recall of each class (correct / true members); a class
      with no images in ``data`` gets 0.0 (see ``support`` to tell such classes apart);
    - ``support``: K ints, images of each class in ``data``;
    - ``confusion_matrix``: K x K ints, rows = true labels, columns = predictions;
    - ``n``: number of images.
    """
    if len(data) == 0:
        raise ValueError("evaluate needs at least one image")
    y_true = data.labels.cpu().numpy().astype(np.int64)  # [N]
    y_pred = predict(model, data.images, batch_size, device).numpy()  # [N]
    cm = confusion_counts(y_true, y_pred, num_classes)  # [K, K]
    support = cm.sum(axis=1)  # [K]
    per_class = np.divide(np.diag(cm), support, out=np.zeros(num_classes), where=support > 0)
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": macro_f1(cm),
        "per_class_accuracy": [float(v) for v in per_class],
        "support": [int(v) for v in support],
        "confusion_matrix": cm.astype(int).tolist(),
        "n": int(len(y_true)),
    }
