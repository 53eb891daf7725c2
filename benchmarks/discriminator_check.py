"""What a trained GAN's discriminator still tells apart: its verdicts on real and generated images.

A GAN's loss table logs the mean of D(x) and of D(G(z)) during training; when both sit at 0.5
the table cannot say whether D is blind, or right but unsure (docs/design.md, "Reading a GAN's
loss table"). This reads a trained checkpoint's discriminator (any model with a
``discriminator`` network: the CGAN and the CVAE-GAN; DiffAugment's T is not applied) and
prints, for the labelled training images, the unlabelled pool (where D learnt it), the
validation images, and ``--per-class`` generated images per class shown with their label (and
with none, where D learnt the pool's "no label" game), the mean of D, the share of verdicts that are right (real: logit > 0, generated:
logit < 0) and the logits' mean and spread. A gap between training and validation images is
D memorising its training set; logits that spread by a few hundredths are a D held near 0.

    python benchmarks/discriminator_check.py --checkpoint models/generators/cgan.pt

writes ``discriminator_check.csv`` to ``--out`` (``benchmarks/results``), a row per set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.labels import UNLABELLED, balanced_labels  # noqa: E402
from augment.core.outputs import write_csv  # noqa: E402
from augment.data.labeled import LabeledImages  # noqa: E402
from augment.data.splits import load_splits  # noqa: E402
from augment.models.losses import discriminator_accuracy  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.training.checkpoint import load_generator  # noqa: E402

COLUMNS = ("set", "n", "mean_d", "right", "logit_mean", "logit_sd")


def verdicts(discriminator: torch.nn.Module, images: LabeledImages, real: bool, batch: int = 500) -> dict:
    """D's logits over ``images`` (shown with their labels; -1 = no label) summarised."""
    with torch.no_grad():
        logits = torch.cat(
            [
                discriminator(images.images[i : i + batch], images.labels[i : i + batch])[0].float()
                for i in range(0, len(images), batch)
            ]
        )  # [N]
    # the sign convention written once, in models/losses.py: a set is all real or all generated
    right = discriminator_accuracy(logits) if real else discriminator_accuracy(logits[:0], logits)
    return {
        "n": len(images),
        "mean_d": torch.sigmoid(logits).mean().item(),
        "right": right.item(),
        "logit_mean": logits.mean().item(),
        "logit_sd": logits.std().item(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--checkpoint", required=True, help="a trained GAN (the train stage's file)")
    ap.add_argument("--per-class", type=int, default=100, help="generated images per class")
    ap.add_argument("--pool", type=int, default=2000, help="pool images shown at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    splits = load_splits(params.data)
    model, _ = load_generator(args.checkpoint, expected_shape=splits.image_shape)
    discriminator = getattr(model, "discriminator", None)
    if discriminator is None:
        print(
            f"discriminator_check: {args.checkpoint} is a {model.name!r} model, which has no discriminator",
            file=sys.stderr,
        )
        return 2
    model.eval()
    labelled = splits.train.subset((splits.train.labels >= 0).nonzero().flatten())
    sets: list[tuple[str, LabeledImages, bool]] = [("labelled training images", labelled, True)]
    if model.unlabelled and splits.pool is not None and len(splits.pool):  # D learnt the pool as "no label"
        sets.append(
            ("pool images (no label)", splits.pool.subset(torch.arange(min(args.pool, len(splits.pool)))), True)
        )
    sets.append(("validation images", splits.val, True))
    torch.manual_seed(args.seed)
    y = balanced_labels(splits.num_classes, splits.num_classes * args.per_class)  # [N]
    with torch.no_grad():
        fake = model.generate(model.sample_noise(len(y)), y)  # [N, C, H, W]: the sampling network
    sets.append(("generated, with their label", LabeledImages(fake, y), False))
    if model.unlabelled:  # a D that learnt the pool's "no label" game (models/cgan.py)
        sets.append(("generated, no label", LabeledImages(fake, torch.full_like(y, UNLABELLED)), False))
    rows = []
    print(f"{model.name} from {args.checkpoint}")
    for name, images, real in sets:
        row = {"set": name, **verdicts(discriminator, images, real)}
        rows.append(row)
        print(
            f"  {name:30s} n={row['n']:5d}  mean D {row['mean_d']:.3f}  right {row['right']:.3f}  "
            f"logit {row['logit_mean']:+.3f} +- {row['logit_sd']:.3f}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "discriminator_check.csv", COLUMNS, ([row[c] for c in COLUMNS] for row in rows))
    print(f"wrote {out / 'discriminator_check.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
