"""The one training loop. Models supply their step; the loop owns everything else.

It owns epochs and batches (shuffled by a per-pass seed, so a resumed run sees the same
batches; with an unlabelled pool, each step's labelled batch is followed by a batch of the pool:
:func:`fit`), the moving average of the sampling network (``ema``), a progress bar (augment/core/progress.py) with the
running losses, per-epoch callbacks, a checkpoint after every epoch (weights, optimizer states,
RNG state and loss history: enough for ``--resume`` to continue exactly), and a stop on a
non-finite loss that keeps the last good checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from augment.core.acceleration import batch_layout, prepare_networks, training_precision
from augment.core.distributed import average_losses, is_main_process, shard, synchronise_batch_norm
from augment.core.distributed import training_step as distributed_step
from augment.core.labels import UNLABELLED
from augment.core.progress import progress_bar
from augment.data.labeled import LabeledImages
from augment.models import ConditionalGenerator
from augment.params.config import AccelerationConfig, one_line
from augment.training.checkpoint import CheckpointError, check_classes, read_checkpoint, save_generator


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during training; the message says which epoch's checkpoint is kept."""


# Config fields a resumed run may change: the length of training and the optimizer's step size.
# Anything else (architecture, batch size, loss weights, d_steps) would silently mix two
# trainings in one checkpoint, so --resume refuses it.
RESUMABLE_CHANGES = ("epochs", "lr", "beta1", "beta2")

# The unlabelled pool's batch order is seeded with seed + POOL_STREAM: beyond every seed params.yaml
# allows (< 2^32), so it never repeats a labelled stream's permutations.
POOL_STREAM = 2**32


class Callback(Protocol):
    def on_epoch_end(self, model: ConditionalGenerator, epoch: int, losses: dict[str, float]) -> None:
        """Called after epoch ``epoch`` (1-based) with the epoch's mean losses."""

    # Optional: ``on_resume(model, state)`` is called once after a checkpoint was restored, with
    # the restored history, so that files written by callbacks agree with the checkpoint (a kill
    # between the checkpoint and a callback's write must not lose that epoch's row or grid).


@dataclass
class TrainState:
    """What a checkpoint's ``training`` entry holds."""

    epoch: int = 0  # epochs finished
    history: list[dict[str, float]] = field(default_factory=list)  # mean losses per epoch


def pass_batches(n: int, batch_size: int, seed: int, index: int) -> list[torch.Tensor]:
    """Shuffled index batches of one pass over the data, fixed by (seed, index).

    The last partial batch is dropped when there is more than one batch, so batch norm never
    sees a batch of one image.
    """
    g = torch.Generator().manual_seed(seed * 100_003 + index)
    perm = torch.randperm(n, generator=g)
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, steps_per_epoch: int = 0) -> list[torch.Tensor]:
    """The index batches of epoch ``epoch`` (1-based), fixed by (seed, epoch).

    ``steps_per_epoch = 0``: an epoch is one pass over the data (pass ``epoch``).
    ``steps_per_epoch = S > 0``: an epoch is S steps of one endless stream of passes 1, 2, ...;
    global step t (0-based) takes batch ``t mod P`` of pass ``t // P + 1`` (P batches per pass).
    Training length is then ``epochs * S`` steps whatever the size of the data, so a small and a
    large training split get the same number of updates; with S = P both modes give the same
    batches.
    """
    if steps_per_epoch <= 0:
        return pass_batches(n, batch_size, seed, epoch)
    per_pass = len(pass_batches(n, batch_size, seed, 1))  # the same for every pass
    first = (epoch - 1) * steps_per_epoch
    passes: dict[int, list[torch.Tensor]] = {}
    batches = []
    for t in range(first, first + steps_per_epoch):
        index, position = divmod(t, per_pass)
        if index + 1 not in passes:
            passes[index + 1] = pass_batches(n, batch_size, seed, index + 1)
        batches.append(passes[index + 1][position])
    return batches


def fit(
    model: ConditionalGenerator,
    data: LabeledImages,
    classes: list[str],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    checkpoint_path: str | Path,
    resume: bool = False,
    device: torch.device | str = "cpu",
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    steps_per_epoch: int = 0,
    acceleration: AccelerationConfig | None = None,
    unlabelled: LabeledImages | None = None,
) -> TrainState:
    """Train ``model`` on ``data`` for ``epochs`` epochs, checkpointing after each.

    An epoch is one pass over the data, or ``steps_per_epoch`` steps when that is > 0
    (:func:`epoch_batches`).

    ``unlabelled`` (a label budget's pool, for a model after ``use_unlabelled()``): every step's
    batch is ``batch_size`` labelled images followed by ``batch_size`` pool images with the
    label UNLABELLED, from two streams of passes (the pool's with its own seed), the labelled
    images cycling through passes of their own. An epoch is ``steps_per_epoch`` steps; the
    caller sets it with a pool (augment/training/generator_training.py: with 0 in params, as many
    steps as one pass over the labelled images and the pool, whatever the route).

    The caller seeds the global RNG and builds the model; ``fit`` seeds it again from ``seed``
    for the noise of training, and on ``resume`` restores weights, optimizers, RNG state and
    history from ``checkpoint_path`` and continues after its last finished epoch.

    ``acceleration`` (bf16 autocast, channels_last, compile: augment/core/acceleration.py) changes
    how each step runs, not the loop; None is float32, eager, NCHW.
    """
    device = torch.device(device)
    model.to(device).train()
    synchronise_batch_norm(model)  # under torchrun: the global batch's statistics
    prepare_networks(model.trained_networks(), acceleration)
    optimizers = model.make_optimizers()
    main = is_main_process()  # under torchrun only rank 0 writes checkpoints and runs callbacks
    callbacks = list(callbacks) if main else []
    state = TrainState()
    torch.manual_seed(seed)
    if resume and Path(checkpoint_path).is_file():
        state = _restore(model, optimizers, checkpoint_path, device, classes, seed)
        for callback in callbacks:
            if hasattr(callback, "on_resume"):
                callback.on_resume(model, state)
    saved = state.epoch  # the epoch of the checkpoint at checkpoint_path that this run stands on

    def kept() -> str:
        if saved:
            return f"the checkpoint of epoch {saved} is kept: {checkpoint_path}"
        return "no epoch finished, so no checkpoint was written"

    pool = unlabelled if unlabelled is not None and len(unlabelled) else None
    if pool is not None and not model.unlabelled:
        raise ValueError(f"{model.name}: call use_unlabelled() before training with unlabelled images")
    x_all = data.images.to(device)  # [N, C, H, W]
    y_all = data.labels.to(device)  # [N]
    if pool is not None:
        x_pool = pool.images.to(device)  # [P, C, H, W]
        y_none = torch.full((batch_size,), UNLABELLED, dtype=y_all.dtype, device=device)  # [B]
        pool_seed = seed + POOL_STREAM  # the pool's batch order: a stream apart from the labelled one
        steps_per_epoch = steps_per_epoch or len(pass_batches(len(data) + len(pool), batch_size, pool_seed, 0))
    batches_per_epoch = steps_per_epoch or len(pass_batches(len(data), batch_size, seed, 0))
    total = max(0, epochs - state.epoch) * batches_per_epoch
    bar = progress_bar(total, f"train {model.name}", "batch", progress and main)
    try:
        for epoch in range(state.epoch + 1, epochs + 1):
            sums: dict[str, float] = {}
            batches = epoch_batches(len(data), batch_size, seed, epoch, steps_per_epoch)
            pool_batches = (
                epoch_batches(len(pool), batch_size, pool_seed, epoch, steps_per_epoch) if pool is not None else []
            )
            for step, idx in enumerate(batches, start=1):
                idx = shard(idx, f"generators.{model.name}.batch_size").to(device)  # this rank's slice
                x, y = x_all[idx], y_all[idx]  # [B, C, H, W], [B]
                if pool is not None:
                    u = shard(pool_batches[step - 1], f"generators.{model.name}.batch_size").to(device)
                    x = torch.cat([x, x_pool[u]])  # [B + U, C, H, W]
                    y = torch.cat([y, y_none[: len(u)]])  # [B + U]: the pool's labels are UNLABELLED
                losses = train_one_step(model, x, y, optimizers, acceleration)
                bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
                if bad:
                    raise TrainingDiverged(
                        f"{model.name}: non-finite loss at epoch {epoch}, step {step} "
                        f"({', '.join(f'{k}={v}' for k, v in bad.items())}); "
                        f"lower the learning rate; {kept()}"
                    )
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(1)
                bar.set_postfix({"epoch": epoch, **{k: f"{v:.3g}" for k, v in losses.items()}}, refresh=False)
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                raise TrainingDiverged(
                    f"{model.name}: non-finite weights at epoch {epoch}, step {len(batches)}; "
                    f"lower the learning rate; {kept()}"
                )
            means = {k: v / len(batches) for k, v in sums.items()}
            state.epoch = epoch
            state.history.append(means)
            if main:
                save_generator(checkpoint_path, model, classes, _training_entry(state, optimizers, seed))
            saved = epoch
            for callback in callbacks:
                callback.on_epoch_end(model, epoch, means)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"{model.name}: training interrupted; {kept()}" + (" (continue with --resume)" if saved else "")
        ) from None
    finally:
        bar.close()
    model.eval()
    return state


def train_one_step(
    model: ConditionalGenerator,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizers: dict[str, torch.optim.Optimizer],
    acceleration: AccelerationConfig | None = None,
) -> dict[str, float]:
    """One update of every network on the batch x [B, C, H, W], y [B] (on the model's device),
    then the moving average; returns the losses (under torchrun: this rank's slice of the global
    batch, and the losses' mean over the ranks). :func:`fit` and benchmarks/gpu_check.py call it."""
    with training_precision(x.device, acceleration), distributed_step():
        losses = model.train_step(batch_layout(x, acceleration), y, optimizers)
    model.update_ema()
    return average_losses(losses)


def _training_entry(state: TrainState, optimizers: dict[str, torch.optim.Optimizer], seed: int) -> dict[str, Any]:
    return {
        "epoch": state.epoch,
        "seed": seed,
        "history": [dict(h) for h in state.history],
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},  # saved on the CPU
        "rng_state": torch.get_rng_state(),
        "cuda_rng_state": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _defaults(config) -> dict:
    """A config dataclass's default values. A checkpoint written before an option existed has no
    key for it and was trained with the option's default (every new option's default keeps the
    earlier behaviour), so that default is what --resume compares the current value with."""
    out = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _restore(model, optimizers, checkpoint_path, device, classes, seed) -> TrainState:
    """Weights, optimizer moments, RNG state and history from ``checkpoint_path``, after
    checking that it is the same kind of training: model, image shape, classes, config (all
    but RESUMABLE_CHANGES) and seed. Every problem is one CheckpointError line."""
    where = f"--resume: {checkpoint_path}"
    payload = read_checkpoint(checkpoint_path)
    if payload["model"] != model.name or tuple(payload["image_shape"]) != tuple(model.image_shape):
        raise CheckpointError(
            f"{where} holds a {payload['model']!r} model for images "
            f"{tuple(payload['image_shape'])}, not {model.name!r} for {tuple(model.image_shape)}"
        )
    check_classes(where, payload["classes"], classes)
    if bool(payload.get("unlabelled", False)) != model.unlabelled:
        trained = "with" if payload.get("unlabelled") else "without"
        raise CheckpointError(
            f"{where} was trained {trained} an unlabelled pool, params now say "
            f"{'otherwise' if trained == 'with' else 'to use one'} (data.labelled, generators.unlabelled); "
            "restore them or train from scratch without --resume"
        )
    current = dataclasses.asdict(model.config)
    before = {**_defaults(model.config), **payload["config"]}
    changed = [k for k in current if k not in RESUMABLE_CHANGES and before.get(k) != current[k]]
    if changed:
        k = changed[0]
        raise CheckpointError(
            f"{where} was trained with {k}={before.get(k)!r}, params now say {k}={current[k]!r}"
            + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "")
            + f"; only {', '.join(RESUMABLE_CHANGES)} may change on resume: restore the value "
            "or train from scratch without --resume"
        )
    training = payload.get("training")
    if not training:
        raise CheckpointError(f"{where} has no training state to resume from")
    if training.get("seed", seed) != seed:
        raise CheckpointError(
            f"{where} was trained with generators.seed={training['seed']}, params now say {seed}; "
            "restore it or train from scratch without --resume"
        )
    try:
        model.load_state_dict(payload["state_dict"])
        model.to(device)
        for name, opt in optimizers.items():
            opt.load_state_dict(training["optimizers"][name])
            # Hyperparameters come from the current config (a resumed run may lower lr); only
            # the optimizer's running moments come from the checkpoint.
            for group in opt.param_groups:
                group.update({k: opt.defaults[k] for k in ("lr", "betas") if k in opt.defaults})
        torch.set_rng_state(training["rng_state"])
        cuda_states = training.get("cuda_rng_state") or []
        if cuda_states and len(cuda_states) == torch.cuda.device_count():  # same GPUs: same noise
            torch.cuda.set_rng_state_all(cuda_states)
        epoch, history = int(training["epoch"]), [dict(h) for h in training["history"]]
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{where}: damaged training state ({type(err).__name__}: {one_line(err)}); "
            "train from scratch without --resume"
        ) from None
    return TrainState(epoch=epoch, history=history)
