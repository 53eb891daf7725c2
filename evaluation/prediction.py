"""A trained classifier applied: predicted labels, class probabilities, penultimate features,
and the classification metrics of a test set (sklearn's confusion matrix and macro F1).

Everything runs batched, in eval mode without gradients (:func:`augment.inference.inference`),
and returns CPU tensors or plain Python types.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, f1_score

from augment.inference import inference
from augment.labeled import LabeledImages
from evaluation.classifier_net import SmallCNN


def _images_of(images: torch.Tensor | LabeledImages) -> torch.Tensor:
    return images.images if isinstance(images, LabeledImages) else images


def _batched(fn, model: nn.Module, images, batch_size: int, device) -> torch.Tensor:
    """Apply ``fn(model, x)`` in eval mode over batches; the model's train/eval mode is restored."""
    x = _images_of(images)
    with inference(model.to(device)):
        outs = [fn(model, chunk.to(device)).cpu() for chunk in x.split(batch_size)]
    return torch.cat(outs) if outs else None


def predict(model: SmallCNN, images: torch.Tensor | LabeledImages, batch_size: int = 512,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Predicted labels, a CPU LongTensor [N] (eval mode, no grad, batched)."""
    out = _batched(lambda m, x: m(x).argmax(dim=1), model, images, batch_size, device)
    return out if out is not None else torch.zeros(0, dtype=torch.int64)


def probabilities(model: SmallCNN, images: torch.Tensor | LabeledImages, batch_size: int = 512,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Softmax class probabilities, a CPU FloatTensor [N, K] (eval mode, no grad, batched)."""
    out = _batched(lambda m, x: F.softmax(m(x).float(), dim=1), model, images, batch_size, device)
    return out if out is not None else torch.zeros(0, model.num_classes)


def features(model: SmallCNN, images: torch.Tensor | LabeledImages, batch_size: int = 512,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """Penultimate features, a CPU FloatTensor [N, model.feature_dim] (eval mode, no grad)."""
    out = _batched(lambda m, x: m.features(x).float(), model, images, batch_size, device)
    return out if out is not None else torch.zeros(0, model.feature_dim)


class EvaluationMetrics(TypedDict):
    """What :func:`evaluate` measures on one labeled set (the test split: once, after training)."""

    accuracy: float  # fraction of correct predictions
    macro_f1: float  # sklearn f1_score(average="macro", zero_division=0)
    per_class_accuracy: list[float]  # K: recall of each class; 0.0 for a class with no images
    support: list[int]  # K: images of each class
    confusion_matrix: list[list[int]]  # K x K: rows = true labels, columns = predictions
    n: int  # images


def evaluate(model: SmallCNN, data: LabeledImages, num_classes: int, batch_size: int = 512,
             device: torch.device | str = "cpu") -> EvaluationMetrics:
    """Classification metrics of ``model`` on ``data``, as plain Python types:

    - ``accuracy``: fraction of correct predictions;
    - ``macro_f1``: sklearn ``f1_score(average='macro', zero_division=0)``, i.e. the unweighted
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
    labels = list(range(num_classes))
    cm = confusion_matrix(y_true, y_pred, labels=labels)  # [K, K]
    support = cm.sum(axis=1)  # [K]
    per_class = np.divide(np.diag(cm), support, out=np.zeros(num_classes), where=support > 0)
    return {
        "accuracy": float((y_true == y_pred).mean()),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "per_class_accuracy": [float(v) for v in per_class],
        "support": [int(v) for v in support],
        "confusion_matrix": cm.astype(int).tolist(),
        "n": int(len(y_true)),
    }
