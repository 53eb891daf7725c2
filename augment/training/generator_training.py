"""Training one generator from params: the set-up around the loop (augment/training/loop.py's ``fit``).

:func:`train_generator` loads the real training split, builds the model from its config section,
applies the CVAE-GAN's warm start, attaches the progress-grid and loss-table callbacks, and calls
``fit`` (which restores a checkpoint for ``--resume``). The ``augment train`` command and the
train_generator stage both call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from augment.core.distributed import init_from_environment, local_device
from augment.core.outputs import check_writable_file
from augment.data.labeled import LabeledImages, Splits
from augment.data.splits import load_splits
from augment.models import ConditionalGenerator, build_model
from augment.params.config import ConfigError
from augment.params.methods import unlabelled_route
from augment.settings.paths import generator_checkpoint, generator_report_dir
from augment.training.callbacks import LossLog, ProgressGrid
from augment.training.checkpoint import CheckpointError
from augment.training.device import resolve_device
from augment.training.loop import Callback, TrainState, fit
from augment.training.warm_start import warm_start


def _steps_per_epoch(cfg, splits: Splits) -> int:
    """The config's ``steps_per_epoch`` (a plugin's config may leave it out: 0); with 0 and an
    unlabelled pool, one pass over the labelled images and the pool, on every route, so that a
    generator trained with, through pseudo-labels or without the pool takes the same steps."""
    steps = getattr(cfg, "steps_per_epoch", 0)
    if steps or len(splits.unlabelled) == 0:
        return steps
    return max(1, (len(splits.train) + len(splits.unlabelled)) // cfg.batch_size)


def train_generator(
    params,
    name: str,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    splits=None,
    extra_callbacks: Sequence[Callback] = (),
    progress: bool = True,
    pseudo: LabeledImages | None = None,
) -> tuple[ConditionalGenerator, TrainState, Path]:
    """Train generator ``name`` with ``params`` on the real training split; the CLI and the
    DVC stage both call this. Returns (model, state, checkpoint path).

    The generator sees only the real training data the downstream classifier sees (after
    ``data.train_size``), never the validation or test split: ``splits.train``, and with a label
    budget the unlabelled pool as its route says (augment/params/methods.py ``unlabelled_route``):
    ``native``, the pool's images with the label UNLABELLED (the model's ``use_unlabelled``);
    ``pseudo``, the labelled images followed by ``pseudo`` (the pool's confident pseudo-labels,
    pipelines/pseudo_label.py); ``none``, the labelled images alone.
    """
    cfg = params.generator(name)
    route = unlabelled_route(params, name)
    if route == "pseudo" and pseudo is None:
        raise ConfigError(
            f"{name} learns from the unlabelled pool through its pseudo-labels (generators.unlabelled: "
            f"{params.generators.unlabelled}): make them first with `dvc repro pseudo_label`"
        )
    out = check_writable_file(Path(out) if out is not None else generator_checkpoint(params, name), "checkpoint")
    splits = splits if splits is not None else load_splits(params.data)
    if resume and not out.is_file():
        raise CheckpointError(f"--resume: no checkpoint at {out} to continue from; leave out --resume to start afresh")
    report_dir = generator_report_dir(params, name, out)
    device = resolve_device(params.device)
    if init_from_environment(device):  # launched by torchrun: one rank of a data-parallel run
        device = local_device(device)
    torch.manual_seed(params.generators.seed)  # weight initialisation
    model = build_model(name, cfg, splits.image_shape, splits.num_classes, unlabelled=route == "native")
    data = splits.train + pseudo if route == "pseudo" and pseudo is not None else splits.train
    if not resume:  # a resumed run continues from its own checkpoint
        warm_start(model, params, splits.classes)
    callbacks: list[Callback] = [
        LossLog(report_dir / "losses.csv"),
        ProgressGrid(report_dir / "progress", params.generators.grid_every, params.generators.seed, cfg.epochs),
        *extra_callbacks,
    ]
    state = fit(
        model,
        data,
        splits.classes,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=params.generators.seed,
        checkpoint_path=out,
        resume=resume,
        device=device,
        callbacks=callbacks,
        progress=progress,
        steps_per_epoch=_steps_per_epoch(cfg, splits),
        acceleration=params.acceleration,
        unlabelled=splits.unlabelled if route == "native" else None,
    )
    return model, state, out
