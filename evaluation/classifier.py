"""The downstream classifier: what a synthetic dataset is worth is measured by training this small CNN
on real data alone and on real + synthetic data, and comparing test accuracy.

Fairness and reproducibility rules, all enforced here:

- every source trains for exactly ``ClassifierConfig.steps`` optimizer steps (Adam, fixed batch
  size), whatever the size of its training set: more data must not mean more training;
- batches come from a local ``torch.Generator`` seeded with ``seed`` (a fresh permutation per pass
  through the data), and the weights are initialised, and dropout drawn, from ``seed`` inside
  ``torch.random.fork_rng``, so the global RNG is neither used nor changed; on CPU the same (data, config, seed) gives
  bit-identical weights and metrics;
- model selection (which step's weights are kept) looks at the validation split only; the test
  split is passed to :func:`evaluate` alone, after training.

:class:`SmallCNN` is also the judge network of the feature-space metrics (``features``).
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, f1_score

from augment.acceleration import batch_layout, outside_autocast, prepare_networks, training_precision
from augment.config import AccelerationConfig, ClassifierConfig
from augment.data import LabeledImages
from augment.inference import inference
from augment.outputs import atomic_torch_save
from augment.progress import progress_bar

__all__ = [
    "SmallCNN",
    "mix_training_data",
    "train_classifier",
    "evaluate",
    "predict",
    "probabilities",
    "features",
    "save_classifier",
    "load_classifier",
]

PathLike = Union[str, "os.PathLike[str]"]
FORMAT = 1  # version of the file written by save_classifier
MIN_POOLED_SIDE = 4  # max-pool only while the feature map keeps at least this side
DENSE_HEAD_SIDE = 7  # a final feature map at least this wide gets a dense head (28x28 images and up)
DROPOUT = 0.3  # before the output layer of a dense head


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


class ConvBlock(nn.Module):
    """3x3 conv (same padding) -> BatchNorm -> ReLU, then an optional 2x2 max-pool."""

    def __init__(self, c_in: int, c_out: int, pool: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.relu(self.bn(self.conv(x))))  # [B, c_out, H or H/2, W or W/2]


class SmallCNN(nn.Module):
    """Two conv blocks (``width`` then ``2 * width`` channels), then a head sized by the image.

    Each block halves the side with a max-pool only while the result stays >= 4, so the same
    class serves 1x8x8 (8 -> 4 -> 4), 1x28x28 (28 -> 14 -> 7) and 3x32x32 (32 -> 16 -> 8).

    The head depends on the final feature map's side s:

    - s < 7 (8x8 digits): global average pool, linear layer. Features: ``2 * width``. No dropout:
      the only regularisation is early stopping on the validation split.
    - s >= 7 (28x28 and larger): flatten, dense layer of ``4 * width`` units with ReLU (the
      features), dropout 0.3, linear layer. Two 3x3 convolutions see only 10x10 pixels of a
      28x28 digit, and averaging their map away discards where strokes are: on real MNIST
      (7,200 training images, 300 steps) the pooled head reached 0.71 test accuracy, the dense
      head 0.98, at the same cost per step (docs/profile-28x28.md).
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, width: int = 32):
        super().__init__()
        c, h, w = (int(v) for v in image_shape)
        if num_classes < 2:
            raise ValueError(f"SmallCNN needs at least 2 classes, got {num_classes}")
        self.image_shape = (c, h, w)
        self.num_classes = int(num_classes)
        self.width = int(width)

        hs, ws = h, w
        blocks = []
        for c_in, c_out in ((c, self.width), (self.width, 2 * self.width)):
            pool = min(hs, ws) // 2 >= MIN_POOLED_SIDE
            blocks.append(ConvBlock(c_in, c_out, pool))
            hs, ws = (hs // 2, ws // 2) if pool else (hs, ws)
        self.blocks = nn.Sequential(*blocks)
        self.dense = min(hs, ws) >= DENSE_HEAD_SIDE
        if self.dense:
            self.feature_dim = 4 * self.width  # size of features(x)
            self.fc = nn.Linear(2 * self.width * hs * ws, self.feature_dim)
            self.dropout = nn.Dropout(DROPOUT)
        else:
            self.feature_dim = 2 * self.width
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations: [B, C, H, W] -> [B, feature_dim]."""
        h = self.blocks(x)  # [B, 2W, H', W']
        if self.dense:
            return F.relu(self.fc(h.flatten(1)))  # [B, 4W]
        return h.mean(dim=(2, 3))  # [B, 2W] global average pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # [B, feature_dim]
        if self.dense:
            h = self.dropout(h)
        return self.head(h)  # [B, K] logits


def build_classifier(image_shape, num_classes: int, width: int, seed: int) -> SmallCNN:
    """A :class:`SmallCNN` whose initial weights are fixed by ``seed``; global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU's only: the network is built there
        return SmallCNN(image_shape, num_classes, width)


# --------------------------------------------------------------------------------------------
# Training data: real + class-balanced synthetic
# --------------------------------------------------------------------------------------------


def mix_training_data(
    real: LabeledImages, synthetic: LabeledImages | None, ratio: float, seed: int,
    mode: str = "ratio",
) -> LabeledImages:
    """``real`` followed by synthetic images drawn from ``synthetic``, per class as ``mode`` says.

    - ``ratio``: ``round(ratio * len(real))`` synthetic images, class-balanced over the classes of
      ``real``: each gets ``n // K`` and ``n % K`` of them (chosen by the seed, among classes whose
      pool has an image to spare) get one more;
    - ``top_up``: class c gets ``max_k n_k - n_c`` images, where n_k counts real training images
      of class k: the rare classes are filled up to the size of the largest one, a class already
      that large gets none (``ratio`` is not used).

    Within a class, images are drawn without replacement from a local generator seeded with
    ``seed``. ``synthetic is None`` or no image to add returns ``real`` unchanged. A class whose
    synthetic pool is too small raises ValueError naming the key to change and the count available.
    """
    if ratio < 0:
        raise ValueError(f"classifier.synthetic_ratio must be >= 0, got {ratio}")
    if mode not in ("ratio", "top_up"):
        raise ValueError(f"classifier.synthetic_mode must be ratio or top_up, got {mode!r}")
    if synthetic is None:
        return real
    classes = torch.unique(real.labels).tolist()  # sorted
    g = torch.Generator().manual_seed(seed)
    syn_labels = synthetic.labels.cpu()
    pools = {c: torch.nonzero(syn_labels == c).flatten() for c in classes}  # class -> indices
    if mode == "top_up":
        counts = {c: int((real.labels == c).sum()) for c in classes}
        largest = max(counts.values())
        take = {c: largest - counts[c] for c in classes}
        short = [c for c in classes if len(pools[c]) < take[c]]
        if short:
            c = short[0]
            raise ValueError(
                f"classifier.synthetic_mode=top_up needs {take[c]} synthetic images of class {c} "
                f"({counts[c]} real against {largest} in the largest class), but only {len(pools[c])} "
                f"are available; sample more images per class (sample.per_class)")
    else:
        take = _balanced_take(classes, pools, int(round(ratio * len(real))), ratio, g)
    if sum(take.values()) == 0:
        return real
    if tuple(synthetic.images.shape[1:]) != tuple(real.images.shape[1:]):
        raise ValueError(
            f"synthetic images have shape {tuple(synthetic.images.shape[1:])}, real ones "
            f"{tuple(real.images.shape[1:])}: the generator was trained on other data"
        )
    chosen = [pools[c][torch.randperm(len(pools[c]), generator=g)[:take[c]]] for c in classes]
    index = torch.cat(chosen)  # [n_syn]
    picked = synthetic.subset(index.to(synthetic.labels.device))
    return LabeledImages(
        torch.cat([real.images, picked.images.to(real.images.device, real.images.dtype)]),
        torch.cat([real.labels, picked.labels.to(real.labels.device, torch.int64)]),
    )


def _balanced_take(classes: list[int], pools: dict[int, torch.Tensor], n_syn: int, ratio: float,
                   g: torch.Generator) -> dict[int, int]:
    """How many synthetic images each class gets when ``n_syn`` are spread evenly (ratio mode)."""
    k = len(classes)
    base, extra = divmod(n_syn, k)
    short = [c for c in classes if len(pools[c]) < base]
    spare = [c for c in classes if len(pools[c]) > base]
    if short or len(spare) < extra:
        c = short[0] if short else min(classes, key=lambda c: len(pools[c]))
        raise ValueError(
            f"classifier.synthetic_ratio={ratio} asks for {n_syn} synthetic images "
            f"({base}{'-' + str(base + 1) if extra else ''} per class for {k} classes), but class "
            f"{c} has only {len(pools[c])} synthetic images available; lower "
            f"classifier.synthetic_ratio or sample more images per class (sample.per_class)"
        )
    # which classes take the n % K leftover images: a seeded choice among those with one to spare
    lucky = {spare[i] for i in torch.randperm(len(spare), generator=g)[:extra].tolist()} if n_syn else set()
    return {c: base + (c in lucky) for c in classes}


# --------------------------------------------------------------------------------------------
# Training: a fixed number of steps, model selection on the validation split
# --------------------------------------------------------------------------------------------


def _batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless index batches: a fresh permutation per pass through the data. A partial last batch
    of a pass is dropped when the pass has a full one, so batch norm never sees a tiny batch."""
    while True:
        perm = torch.randperm(n, generator=generator)  # [n]
        chunks = list(perm.split(batch_size))
        if len(chunks) > 1 and len(chunks[-1]) < batch_size:
            chunks.pop()
        yield from chunks


def classifier_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                    acceleration: AccelerationConfig | None = None) -> torch.Tensor:
    """One Adam step of the cross-entropy on the batch x [B, C, H, W], y [B]; returns the loss
    (a 0-d tensor, not yet synchronised). train_classifier and benchmarks/gpu_check.py call it."""
    with training_precision(x.device, acceleration):
        logits = model(batch_layout(x, acceleration))  # [B, K]
        loss = F.cross_entropy(logits.float(), y)  # float32, as every loss (augment/models/losses.py)
        optimizer.zero_grad(set_to_none=True)
        with outside_autocast(x.device.type):
            loss.backward()
        optimizer.step()
    return loss


def train_classifier(
    train: LabeledImages,
    val: LabeledImages,
    num_classes: int,
    cfg: ClassifierConfig,
    seed: int,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "",
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    acceleration: AccelerationConfig | None = None,
) -> tuple[SmallCNN, dict[str, Any]]:
    """Train a :class:`SmallCNN` for exactly ``cfg.steps`` Adam steps and keep the best weights.

    ``augment(images, generator)`` (e.g. :class:`evaluation.classic.ClassicAugmentation`), when
    given, transforms every training batch's images (never the labels, never the validation
    images), drawing from its own generator seeded with ``seed``: the batch order is the same
    with and without it, so ``classic`` differs from ``real`` only by the augmentation.

    ``acceleration`` (bf16 autocast, channels_last, compile: augment/acceleration.py) changes
    how each step runs; validation and the returned model's predictions stay float32.

    ``cfg.lr_schedule``: ``constant`` keeps ``cfg.lr``; ``cosine`` decays it to 0 over the steps
    (torch's CosineAnnealingLR), which settles the weights at the end instead of leaving them
    where the last large step threw them.

    Validation accuracy is measured every ``max(1, steps // 10)`` steps and after the last step;
    the returned model (eval mode, on ``device``) holds the weights of the best measurement, the
    later one on ties. With an empty ``val`` the final weights are kept. Returns ``(model, info)``
    with ``info = {best_step, val_accuracy, history, steps, eval_every, train_size}``; ``history``
    is a list of ``{step, loss, val_accuracy}`` where ``loss`` is the mean training loss since
    the previous measurement (``val_accuracy`` is None without a validation split).
    """
    if len(train) < 2:
        raise ValueError(f"train_classifier needs at least 2 training images, got {len(train)}")
    for name, split in (("train", train), ("val", val)):
        if len(split) and (int(split.labels.min()) < 0 or int(split.labels.max()) >= num_classes):
            raise ValueError(f"{name} labels must lie in [0, {num_classes}), got "
                             f"[{int(split.labels.min())}, {int(split.labels.max())}]")
    device = torch.device(device)
    steps = int(cfg.steps)
    eval_every = max(1, steps // 10)

    model = build_classifier(train.images.shape[1:], num_classes, cfg.width, seed).to(device)
    prepare_networks([model], acceleration)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
                if cfg.lr_schedule == "cosine" else None)
    g = torch.Generator().manual_seed(seed)  # batch order only
    g_augment = torch.Generator().manual_seed(seed)  # augmentation parameters only
    batches = _batches(len(train), int(cfg.batch_size), g)
    x_all = train.images.to(device)  # [N, C, H, W]
    y_all = train.labels.to(device, torch.int64)  # [N]

    history: list[dict[str, Any]] = []
    best_acc, best_step, best_state = -math.inf, steps, None
    loss_sum, loss_count = 0.0, 0
    bar = progress_bar(steps, desc or "classifier", "step", progress)
    postfix: dict[str, str] = {}
    # Dropout (the dense head) draws from the global generator: fork it and seed it, so that the
    # same (data, config, seed) gives the same weights in any process, and the caller's RNG stays.
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        try:
            model.train()
            for step in range(1, steps + 1):
                idx = next(batches).to(device)  # [B]
                x = x_all[idx] if augment is None else augment(x_all[idx], g_augment)  # [B, C, H, W]
                loss = classifier_step(model, optimizer, x, y_all[idx], acceleration)
                if schedule is not None:
                    schedule.step()

                value = loss.item()
                if not math.isfinite(value):
                    raise RuntimeError(f"classifier: non-finite loss at step {step}; lower classifier.lr")
                loss_sum, loss_count = loss_sum + value, loss_count + 1
                postfix["loss"] = f"{value:.3f}"
                bar.update(1)

                if step % eval_every == 0 or step == steps:
                    acc = _accuracy(model, val, device) if len(val) else None
                    history.append({"step": step, "loss": loss_sum / loss_count, "val_accuracy": acc})
                    loss_sum, loss_count = 0.0, 0
                    if acc is not None:
                        postfix["val_acc"] = f"{acc:.3f}"
                        if acc >= best_acc:  # ties -> the later step
                            best_acc, best_step = acc, step
                            best_state = copy.deepcopy(model.state_dict())
                    model.train()
                bar.set_postfix(postfix, refresh=False)
        finally:
            bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    info = {
        "best_step": best_step,
        "val_accuracy": None if best_state is None else float(best_acc),
        "history": history,
        "steps": steps,
        "eval_every": eval_every,
        "train_size": len(train),
    }
    return model, info


def _accuracy(model: nn.Module, data: LabeledImages, device) -> float:
    pred = predict(model, data.images, device=device)  # [N]
    return float((pred == data.labels.cpu()).double().mean())


# --------------------------------------------------------------------------------------------
# Inference and metrics
# --------------------------------------------------------------------------------------------


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


def evaluate(model: SmallCNN, data: LabeledImages, num_classes: int, batch_size: int = 512,
             device: torch.device | str = "cpu") -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def save_classifier(path: PathLike, model: SmallCNN, meta: dict[str, Any] | None = None) -> Path:
    """Write weights plus everything needed to rebuild the network, atomically.

    ``meta`` must hold plain types only (numbers, strings, lists, dicts, None, tensors) so that
    :func:`load_classifier` can read it with ``weights_only=True``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "image_shape": list(model.image_shape),
        "num_classes": model.num_classes,
        "width": model.width,
        "meta": dict(meta or {}),
    }
    atomic_torch_save(payload, path)
    return path


def load_classifier(path: PathLike, device: torch.device | str = "cpu") -> tuple[SmallCNN, dict[str, Any]]:
    """Read a file written by :func:`save_classifier`: ``(model in eval mode, meta)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier file not found: {path}; train it first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path}: not a classifier file written by save_classifier")
    model = SmallCNN(tuple(payload["image_shape"]), payload["num_classes"], payload["width"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload.get("meta", {})
