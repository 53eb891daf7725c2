"""Stage train_classifier@SOURCE: the downstream classifier on one training source.

Sources (augment/params/sources.py): ``real`` trains on the real training split; ``classic`` on the same
images with classical augmentation (evaluation/classifiers/classic.py); a method (a generator of generators.methods) adds
synthetic images, ``classifier.synthetic_ratio`` per real one, class-balanced, or, with
``classifier.synthetic_mode: top_up``, as many as fill every class up to the largest;
``classic+<method>`` augments real and synthetic images alike; ``<method>-filtered`` takes the
method's filtered set; with a label budget, ``pseudo`` and ``classic+pseudo`` add every image of
the pool's pseudo-labelled set (self-training, pipelines/pseudo_label.py). Every source gets the same number of optimizer steps and seeds, is selected
on the real validation split, and is measured once, at the end, on the real test split.
"""

from __future__ import annotations

import json
import sys

from augment.core.outputs import StagedOutputs, write_csv
from augment.data.labeled import Splits
from augment.data.source_files import synthetic_set_of
from augment.params.config import Params
from augment.params.sources import parse_source
from augment.settings.paths import classifier_dir, classifier_predictions, classifier_result, splits_file
from augment.synthesis.synthetic_files import load_synthetic
from augment.tracking.runs import Tracker
from augment.training.device import resolve_device
from evaluation.classifiers.classic import ClassicAugmentation
from evaluation.classifiers.mixing import mix_training_data
from evaluation.classifiers.net import save_classifier
from evaluation.classifiers.prediction import evaluate, predict
from evaluation.classifiers.training import train_classifier
from evaluation.quality.stats import summarize
from evaluation.report.figures import confusion_figure
from evaluation.report.results import ClassifierResult, ClassifierRun
from pipelines.stage import ParamsChoices, run_stage


def run_sources(params: Params) -> list[str]:
    """The sources this run trains (dvc.yaml's train_classifier foreach)."""
    return params.classifier.sources


# the items of this stage: classifier.sources (each one checked at load, augment/params/sources.py)
ITEMS = ParamsChoices("classifier.sources", run_sources)


def train(params: Params, args) -> None:
    """Train and measure one classifier per seed for the source named on the command line."""
    parsed = parse_source(args.item)
    cfg = params.classifier
    splits = Splits.load(splits_file(params))
    synthetic = None
    path = None  # the baselines train on real data alone
    if parsed.synthetic is not None:
        path = synthetic_set_of(params, parsed.name)  # the manifest's set, its hash checked
    if path is not None:
        synthetic, classes, _ = load_synthetic(path)
        if classes != splits.classes:
            raise ValueError(f"{path}: classes {classes} differ from the data's {splits.classes}")
    augment = ClassicAugmentation(params.augmentation) if parsed.classic else None
    synthetic_name, source = parsed.synthetic, parsed.name
    device = resolve_device(params.device)
    runs: list[ClassifierRun] = []
    with Tracker(params, stage="train_classifier", method=source, run_name=f"classifier:{source}") as tracker:
        tracker.log_params(
            {
                "source": source,
                "classifier": vars(cfg).copy(),
                "data": params.to_dict()["data"],
                "labelled_images": len(splits.train),
                "pool_images": len(splits.unlabelled),
                **({"augmentation": vars(params.augmentation).copy()} if augment else {}),
            }
        )
        tracker.log_real_data(splits, {"train": "training", "val": "validation", "test": "evaluation"})
        if synthetic is not None and path is not None:
            tracker.log_dataset(synthetic.images, synthetic.labels, f"synthetic:{synthetic_name}", path, "training")
        out = classifier_result(params, source)
        # Every file of this stage is staged and moved into place only once all seeds are done:
        # a failure or Ctrl-C half way leaves no weights of some seeds without the results.
        with StagedOutputs() as staged:
            for seed in cfg.seeds:
                if parsed.pseudo and synthetic is not None:  # self-training: every confident pool image
                    train_data = splits.train + synthetic
                else:
                    train_data = mix_training_data(
                        splits.train, synthetic, cfg.synthetic_ratio, seed, cfg.synthetic_mode
                    )
                model, info = train_classifier(
                    train_data,
                    splits.val,
                    splits.num_classes,
                    cfg,
                    seed,
                    device=device,
                    desc=f"classifier {source} seed {seed}",
                    augment=augment,
                    acceleration=params.acceleration,
                )
                # The test split, once, for the final measurement.
                result: ClassifierRun = {
                    **evaluate(model, splits.test, splits.num_classes, device=device),
                    "seed": seed,
                    "train_images": len(train_data),
                    "best_step": info["best_step"],
                    "val_accuracy": info["val_accuracy"],
                }
                runs.append(result)
                save_classifier(
                    staged.path(classifier_dir(params, source) / f"seed_{seed}.pt"),
                    model,
                    {"source": source, "seed": seed, "classes": splits.classes},
                )
                tracker.log_metrics(
                    {
                        "accuracy": result["accuracy"],
                        "macro_f1": result["macro_f1"],
                        "val_accuracy": info["val_accuracy"],
                    },
                    step=seed,
                )
                if seed == cfg.seeds[0]:
                    _write_predictions(staged.path(classifier_predictions(params, source)), splits, model, device)
            summary = {key: summarize([r[key] for r in runs]) for key in ("accuracy", "macro_f1")}
            report: ClassifierResult = {
                "source": source,
                "seeds": list(cfg.seeds),
                "summary": summary,
                "runs": runs,
                "classes": splits.classes,
            }
            staged.path(out).write_text(json.dumps(report, indent=2))
            figure = out.with_name(f"{source}_confusion.png")
            confusion_figure(
                runs[0]["confusion_matrix"], splits.classes, f"{source}: seed {runs[0]['seed']}", staged.path(figure)
            )
        tracker.log_metrics(
            {
                "accuracy_mean": summary["accuracy"]["mean"],
                "accuracy_std": summary["accuracy"]["std"],
                "macro_f1_mean": summary["macro_f1"]["mean"],
            }
        )
        tracker.log_artifact(out)
        tracker.log_artifact(figure)
    acc = summary["accuracy"]
    print(f"train_classifier: {source}: accuracy {acc['mean']:.4f} ± {acc['std']:.4f} over {len(runs)} seeds -> {out}")


def _write_predictions(path, splits: Splits, model, device) -> None:
    """(actual, predicted) class names per test image, for `dvc plots` confusion matrices."""
    predicted = predict(model, splits.test.images, device=device)
    write_csv(
        path,
        ["actual", "predicted"],
        (
            [splits.classes[a], splits.classes[p]]
            for a, p in zip(splits.test.labels.tolist(), predicted.tolist(), strict=True)
        ),
    )


if __name__ == "__main__":
    sys.exit(run_stage("train_classifier", train, choices=ITEMS))
