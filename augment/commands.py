"""What each ``augment`` command does (augment/cli.py parses the command line and calls them).

Kept apart from the parser so that ``augment --help`` and ``augment --version`` import neither
torch nor the models: these bodies do, when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from augment.core.distributed import check_divisible, is_main_process
from augment.core.labels import check_int
from augment.core.outputs import StagedOutputs, check_writable_file
from augment.data.labeled import Splits
from augment.data.splits import load_splits
from augment.launcher import launch_ranks
from augment.models import NoEncoder
from augment.params.config import MAX_GRID, MAX_IMAGES, MAX_SEED, ConfigError
from augment.params.file import load_params
from augment.params.sampling import apply_sampling
from augment.sampling.grids import first_of_each_class, save_grid
from augment.sampling.stylize import NOT_APPLICABLE as NO_STYLIZATION
from augment.sampling.stylize import write_stylization_figures
from augment.settings.paths import generator_report_dir, splits_file, stylize_dir, synthetic_file
from augment.synthesis.model_loading import load_model
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import pseudo_set_for, save_synthetic
from augment.tracking.mlflow_model import is_model_uri, read_model_uri
from augment.tracking.store import check_reachable, tracking_uri
from augment.training.callbacks import GRID_COLUMNS
from augment.training.checkpoint import check_classes, read_checkpoint
from augment.training.device import configure_torch, resolve_device
from augment.training.generator_training import train_generator


def _params(args: argparse.Namespace):
    """Load and validate params (with --set), then apply the process-wide torch settings."""
    params = load_params(args.params, args.overrides)
    configure_torch(params)
    return params


def cmd_train(args: argparse.Namespace) -> int:
    params = _params(args)  # checked before any process is started
    params.generator(args.model)  # an unknown name (or a plugin that is not installed): one line, exit 2
    if args.nproc < 1:
        raise ConfigError(f"--nproc: must be an integer >= 1, got {args.nproc}")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # not yet under torchrun
        check_divisible(params.generator(args.model).batch_size, args.nproc, f"generators.{args.model}.batch_size")
        return launch_ranks(args.nproc, args.argv, f"augment {args.command}")
    splits = load_splits(params.data)
    pseudo = pseudo_set_for(params, args.model, splits.classes)  # None unless it learns from pseudo-labels
    model, state, out = train_generator(
        params,
        args.model,
        out=args.out,
        resume=args.resume,
        progress=not args.no_progress,
        splits=splits,
        pseudo=pseudo,
    )
    if is_main_process():
        last = state.history[-1] if state.history else {}
        print(
            f"{args.model}: {state.epoch} epochs, final losses "
            + ", ".join(f"{k}={v:.4g}" for k, v in last.items())
            + f"; checkpoint {out}, curves and grids {generator_report_dir(params, args.model, out)}"
        )
    return 0


def _check_range(flag: str, value: int | None, low: int, high: int) -> None:
    """An integer argument outside [low, high] (None: not given): one line naming the flag."""
    if value is not None:
        check_int(value, flag, low, high)


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one existing file (links and relative paths resolved)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_image_path(path: Path, flag: str) -> None:
    """Before any work: ``path`` must be writable as a file with an image format PIL knows."""

    check_writable_file(path, flag)
    Image.init()
    if path.suffix.lower() not in Image.registered_extensions():
        raise ConfigError(f"{flag} {path}: unknown image format {path.suffix or '(no extension)'!r}; use .png")


def cmd_sample(args: argparse.Namespace) -> int:
    params = _params(args)
    _check_range("-n", args.num_samples, 1, MAX_IMAGES)
    _check_range("--seed", args.seed, 0, MAX_SEED)
    if args.out is not None:
        check_writable_file(args.out, "--out")
    if args.grid is not None:
        _check_image_path(args.grid, "--grid")
    seed = params.sample.seed if args.seed is None else args.seed
    dataset = SyntheticDataset(
        args.model,
        args.num_samples,
        seed=seed,
        root=params.paths.generators,
        batch_size=params.sample.batch_size,
        device=resolve_device(params.device),
        tracking_uri=tracking_uri(params),
    )
    name = dataset.model_name
    dataset.set_sampling(params.sampling(name))  # sample.generators.<name> (and --set): how it draws
    out = args.out or synthetic_file(params, name)
    for flag, path in (("--out", out), ("--grid", args.grid)):
        if path is not None and isinstance(dataset.checkpoint, Path) and _same_file(path, dataset.checkpoint):
            raise ConfigError(f"{flag} {path} is the checkpoint being sampled: writing there would replace the model")
    images, labels = dataset.tensors(progress=not args.no_progress)
    # Both files or neither: an interrupted or failed command leaves the previous ones intact.
    with StagedOutputs() as staged:
        save_synthetic(
            staged.path(out),
            images,
            labels,
            dataset.classes,
            {
                "model": name,
                "seed": seed,
                "source": str(args.model),
                "sampling": dataclasses.asdict(dataset.model.sampling),  # how it drew (no checkpoint's)
            },
        )
        if args.grid:
            picks = first_of_each_class(labels, GRID_COLUMNS, len(dataset.classes))
            save_grid(images[picks], staged.path(args.grid), GRID_COLUMNS)
    print(f"{name}: {len(labels)} images ({len(dataset.classes)} classes, seed {seed}) -> {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    payload = read_model_uri(args.checkpoint) if is_model_uri(args.checkpoint) else read_checkpoint(args.checkpoint)
    training = payload.get("training") or {}
    n_params = sum(
        v.numel()
        for k, v in payload["state_dict"].items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    info = {
        "checkpoint": str(args.checkpoint),
        "model": payload["model"],
        "format_version": payload["format_version"],
        "library_version": payload.get("library_version"),
        "image_shape": payload["image_shape"],
        "classes": payload["classes"],
        "parameters": n_params,
        "epochs_trained": training.get("epoch"),
        "final_losses": (training.get("history") or [None])[-1],
        "config": payload["config"],
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "config":
            print("config:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        elif key == "final_losses" and value:
            print("final_losses: " + ", ".join(f"{k}={v:.4g}" for k, v in value.items()))
        else:
            print(f"{key}: {value}")
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    params = _params(args)
    for flag, value, least in (("--rows", args.rows, 1), ("--steps", args.steps, 2), ("--pairs", args.pairs, 1)):
        _check_range(flag, value, least, MAX_GRID)
    _check_range("--seed", args.seed, 0, MAX_SEED)
    model, classes, name, checkpoint = load_model(
        args.model,
        root=params.paths.generators,
        device=resolve_device(params.device),
        tracking_uri=tracking_uri(params),
    )
    apply_sampling(model, params.sampling(name))  # sample.generators.<name>: how it encodes and draws
    if args.only == "stylize" and not model.can_encode:
        raise NoEncoder(name, NO_STYLIZATION)  # a ValueError: main() prints it and exits 2
    file = splits_file(params)
    splits = Splits.load(file) if file.is_file() else load_splits(params.data)
    if classes is not None:  # a model's label k must be the data's class k
        check_classes(args.model, classes, splits.classes, f"the data of {args.params} ({params.data.dataset})")
    real = getattr(splits, args.split)
    label = checkpoint.stem if isinstance(checkpoint, Path) else name  # a models:/ URI: the method
    out = Path(args.out or stylize_dir(params, label))
    with StagedOutputs() as staged:
        staging = staged.folder(out)
        written = write_stylization_figures(
            model, real, staging, seed=args.seed, rows=args.rows, steps=args.steps, pairs=args.pairs, only=args.only
        )
    written = {kind: out / path.name for kind, path in written.items()}
    if not model.can_encode:
        print(f"{name}: {NoEncoder(name, NO_STYLIZATION)}; wrote the interpolation grid only (prior codes)")
    for kind, path in written.items():
        print(f"{name}: {kind} ({args.split} split, seed {args.seed}) -> {path}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """``mlflow ui`` on the project's store, opened on the experiment's runs.

    MLflow 3's UI opens on its GenAI pages unless the address asks for the model-training view
    (``workflowType=machine_learning``), so this prints that address. A server URI
    (``http://...``) is not started again: its runs page is printed.
    """

    from augment.tracking.runs import runs_page_url  # psutil: the pipeline extra

    params = _params(args)
    uri = tracking_uri(params)
    check_reachable(uri)
    if uri.startswith(("http://", "https://")):
        print(f"MLflow runs of experiment {params.tracking.experiment!r}: {runs_page_url(params, uri)}")
        return 0
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port: must be in 1..65535, got {args.port}")
    server = f"http://{args.host}:{args.port}"
    print(f"MLflow runs of experiment {params.tracking.experiment!r}: {runs_page_url(params, uri, server)}", flush=True)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0
