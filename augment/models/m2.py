"""What the M2 scheme (Kingma et al. 2014, "Semi-supervised learning with deep generative models")
adds to a model with an encoder, shared by the CVAE and the CVAE-GAN: the classifier q(y | x),
built only when the model is trained with a label budget's pool, and the pool's images repeated
once with every label, so that a bound can be marginalised over exactly the K classes
(docs/design.md, "Label budgets: the M2 scheme"; the losses are augment/models/losses.py's).
"""

from __future__ import annotations

import torch

from augment.core.inference import inference
from augment.models.base import ConditionalGenerator
from augment.models.layers import Classifier, init_weights


def repeat_with_every_label(
    x: torch.Tensor, num_classes: int, label_dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image of x [U, C, H, W] once with every label: ([U*K, C, H, W], [U*K]); row
    u * K + y' holds (x[u], y'), so a per-row value viewed as [U, K] is indexed (image, label)."""
    x_rep = x.repeat_interleave(num_classes, dim=0)  # [U*K, C, H, W]
    y_rep = torch.arange(num_classes, dtype=label_dtype, device=x.device).repeat(x.shape[0])  # [U*K]
    return x_rep, y_rep


def m2_rows(
    x: torch.Tensor, y: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch's labelled part and the rows its bound is taken over: (x_l [B, C, H, W], y_l [B],
    x_u [U, C, H, W], x_all [B + U*K, C, H, W], y_all [B + U*K]), the labelled rows first, then
    each pool image (y < 0) once with every label (:func:`repeat_with_every_label`)."""
    known = y >= 0  # [N]: the labelled part
    x_l, y_l, x_u = x[known], y[known], x[~known]
    x_rep, y_rep = repeat_with_every_label(x_u, num_classes, y.dtype)  # [U*K, C, H, W], [U*K]
    return x_l, y_l, x_u, torch.cat([x_l, x_rep]), torch.cat([y_l, y_rep])


class M2Classifier(ConditionalGenerator):
    """A model that learns from unlabelled images by the M2 scheme: ``use_unlabelled`` builds q(y | x)
    (``self.classifier``), and :meth:`classify` reads it. Subclasses put it before
    ConditionalGenerator's place in their bases and use it in their ``train_step``."""

    takes_unlabelled = True

    def use_unlabelled(self) -> None:
        """Build q(y | x) (initialised from the global RNG, here only, so a model without a pool
        draws exactly what it drew before); train_step then also reports ``classify`` (-ln q(y|x)
        on the labelled part) and ``unlabelled`` (the pool's bound)."""
        super().use_unlabelled()
        width, stem = self.config.width, self.config.stem
        self.classifier = Classifier(self.image_shape, self.num_classes, width, stem)
        self.classifier.apply(init_weights)
        self.loss_names = (*type(self).loss_names, "classify", "unlabelled")

    @property
    def has_classifier(self) -> bool:
        return self.unlabelled

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        if not self.unlabelled:
            return super().classify(x)
        with inference(self):
            return self.classifier(x)  # [B, K] logits
