"""Stage pseudo_label: self-training's pseudo-labelled pool (evaluation/classifiers/pseudo.py).

With a label budget (``data.labelled`` or ``data.unlabelled_root``) a teacher trained on the
labelled images with classical augmentation labels the unlabelled pool; its confident images are
``data/synthetic/pseudo.pt``, the set of the ``pseudo`` and ``classic+pseudo`` sources and of the
generators that learn from the pool through its pseudo-labels (``generators.unlabelled``).
Without a pool nothing is trained and nothing is logged: the set is empty, so that the stage costs
a default run only its start-up. With one, an MLflow run (stage ``pseudo_label``) logs the budget,
the pool, the teacher's validation accuracy and how many images it kept.
"""

from __future__ import annotations

import json
import sys

from augment.core.outputs import StagedOutputs
from augment.data.labeled import LabeledImages, Splits
from augment.data.source_files import write_manifests
from augment.params.config import Params
from augment.params.sources import PSEUDO
from augment.settings.paths import sample_record, splits_file, synthetic_file
from augment.synthesis.synthetic_files import save_synthetic
from augment.tracking.runs import Tracker
from augment.training.device import resolve_device
from evaluation.classifiers.pseudo import pseudo_label, train_teacher
from pipelines.stage import run_stage


def label_pool(params: Params, args=None) -> None:
    """Train the teacher on the labelled images and keep the pool's confident pseudo-labels."""
    splits = Splits.load(splits_file(params))
    cfg = params.classifier.pseudo
    record: dict = {"labelled": len(splits.train), "pool_images": len(splits.unlabelled)}
    if len(splits.unlabelled) == 0:
        kept = LabeledImages(splits.train.images[:0], splits.train.labels[:0])
        record.update(kept=0, note="no unlabelled pool (data.labelled: 0): nothing to label")
    else:
        device = resolve_device(params.device)
        with Tracker(params, stage="pseudo_label", method=PSEUDO, run_name="pseudo_label") as tracker:
            tracker.log_params(
                {
                    "pseudo": vars(cfg).copy(),
                    "labelled_images": len(splits.train),
                    "pool_images": len(splits.unlabelled),
                }
            )
            tracker.log_real_data(splits, {"train": "training", "val": "validation", "pool": "training"})
            teacher, info = train_teacher(
                splits,
                params.classifier,
                params.augmentation,
                cfg,
                device,
                progress=True,
                acceleration=params.acceleration,
            )
            kept, labelled = pseudo_label(teacher, splits.unlabelled, cfg.threshold, device)
            record.update(labelled, teacher_val_accuracy=info["val_accuracy"], teacher_best_step=info["best_step"])
            tracker.log_metrics(
                {k: record[k] for k in ("kept", "kept_share", "teacher_val_accuracy") if record[k] is not None}
            )
    out = synthetic_file(params, PSEUDO)
    meta = {"source": PSEUDO, "threshold": cfg.threshold, "seed": cfg.seed, "record": record}
    with StagedOutputs() as staged:  # the set, its record and its sources' manifests, or none
        save_synthetic(staged.path(out), kept.images, kept.labels, splits.classes, meta)
        staged.path(sample_record(params, PSEUDO)).write_text(json.dumps(record, indent=2) + "\n")
        write_manifests(staged, params, PSEUDO)
    share = f" ({100 * record['kept_share']:.1f} %)" if "kept_share" in record else ""
    print(f"pseudo_label: kept {record['kept']} of {record['pool_images']} pool images{share} -> {out}")


if __name__ == "__main__":
    sys.exit(run_stage("pseudo_label", label_pool))
