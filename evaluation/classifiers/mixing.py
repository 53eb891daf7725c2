"""A downstream classifier's training set: the real images followed by class-balanced synthetic
ones, drawn by a seed (``classifier.synthetic_ratio`` / ``classifier.synthetic_mode``)."""

from __future__ import annotations

import torch

from augment.data.labeled import LabeledImages


def mix_training_data(
    real: LabeledImages, synthetic: LabeledImages | None, ratio: float, seed: int, mode: str = "ratio"
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
                f"are available; sample more images per class (sample.per_class)"
            )
    else:
        take = _balanced_take(classes, pools, int(round(ratio * len(real))), ratio, g)
    if sum(take.values()) == 0:
        return real
    if tuple(synthetic.images.shape[1:]) != tuple(real.images.shape[1:]):
        raise ValueError(
            f"synthetic images have shape {tuple(synthetic.images.shape[1:])}, real ones "
            f"{tuple(real.images.shape[1:])}: the generator was trained on other data"
        )
    chosen = [pools[c][torch.randperm(len(pools[c]), generator=g)[: take[c]]] for c in classes]
    index = torch.cat(chosen)  # [n_syn]
    picked = synthetic.subset(index.to(synthetic.labels.device))
    return LabeledImages(
        torch.cat([real.images, picked.images.to(real.images.device, real.images.dtype)]),
        torch.cat([real.labels, picked.labels.to(real.labels.device, torch.int64)]),
    )


def _balanced_take(
    classes: list[int], pools: dict[int, torch.Tensor], n_syn: int, ratio: float, g: torch.Generator
) -> dict[int, int]:
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
