"""Stage evaluate@MODEL: how good one generator's images are, and its stylisation grids.

Quality numbers (evaluation/quality/measures.py): CAS (classifier trained on synthetic only, tested on
real), FID and KID in the judge's features, precision / recall / density / coverage, label
fidelity, diversity and sharpness relative to real test images, and reconstruction error for
the models with an encoder. Figures (augment/sampling/stylize.py): the stylisation grid (CVAE, CVAE-GAN:
the CGAN has no encoder, so none is drawn) and the latent interpolation grid.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from augment.core.outputs import StagedOutputs
from augment.data.labeled import Splits
from augment.params.config import Params
from augment.params.methods import KEY as METHODS_KEY
from augment.params.methods import method_names
from augment.params.sampling import apply_sampling
from augment.sampling.stylize import write_no_figure, write_stylization_figures
from augment.settings.paths import (
    generator_checkpoint,
    judge_file,
    quality_file,
    splits_file,
    stylize_dir,
    synthetic_file,
)
from augment.synthesis.synthetic_files import load_synthetic
from augment.tracking.runs import Tracker
from augment.training.checkpoint import load_generator
from augment.training.device import resolve_device
from evaluation.classifiers.judge import load_judge
from evaluation.quality.measures import method_quality, quality_config
from pipelines.stage import ParamsChoices, run_stage

# the items of this stage (dvc.yaml's foreach): the methods the params list
ITEMS = ParamsChoices(METHODS_KEY, method_names)


def evaluate(params: Params, args) -> None:
    """Measure the generator named on the command line and draw its stylisation grids."""
    name = args.item
    device = resolve_device(params.device)
    splits = Splits.load(splits_file(params))
    model, _ = load_generator(
        generator_checkpoint(params, name),
        expected_model=name,
        expected_shape=splits.image_shape,
        device=device,
        expected_classes=splits.classes,
    )
    apply_sampling(model, params.sampling(name))  # sample.generators.<name>: how it encodes and draws
    synthetic, _, _ = load_synthetic(synthetic_file(params, name))
    judge, _ = load_judge(judge_file(params), device=device)
    with Tracker(params, stage="evaluate", method=name, run_name=f"evaluate:{name}") as tracker:
        tracker.log_params(
            {
                "model": name,
                "evaluation": params.to_dict()["evaluation"],
                "sampling": dataclasses.asdict(model.sampling),  # sample.generators.<name>: how it encoded
            }
        )
        tracker.log_real_data(splits, {"val": "evaluation", "test": "evaluation"})
        tracker.log_dataset(
            synthetic.images, synthetic.labels, f"synthetic:{name}", synthetic_file(params, name), "evaluation"
        )
        quality = method_quality(
            name, model, synthetic, splits, judge, quality_config(params), device=device, progress=True
        )
        out, folder = quality_file(params, name), stylize_dir(params, name)
        with StagedOutputs() as staged:  # the numbers and the figures, or none of them
            staged.path(out).write_text(json.dumps(quality, indent=2))
            # Stylisation rows are real *test* images: drawing them is not a measurement, and no
            # number is derived from these grids.
            figure_dir = staged.folder(folder)
            written = write_stylization_figures(model, splits.test, figure_dir, seed=params.evaluation.seed)
            if not written:  # the output folder DVC expects, saying why it holds no figure
                write_no_figure(
                    figure_dir,
                    f"{name}: no stylisation figure (no encoder)\n"
                    "and no interpolation grid (its sampling network takes no one-hot label)",
                )
        figures = {kind: folder / path.name for kind, path in written.items()}
        tracker.log_metrics({k: v for k, v in quality.items() if isinstance(v, (int, float))})
        for path in figures.values():
            tracker.log_artifact(path, "stylize")
    shown = ", ".join(f"{k}={v:.3g}" for k, v in quality.items() if isinstance(v, float))
    print(f"evaluate: {name}: {shown}; figures {', '.join(str(p) for p in figures.values())}")


if __name__ == "__main__":
    sys.exit(run_stage("evaluate", evaluate, choices=ITEMS))
