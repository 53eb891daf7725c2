"""Bad input, hostile checkpoints, interruption, divergence and determinism, as users meet them.

One table per case of the hardening issue, run through the real entry points: the ``augment``
command (``augment.cli.main`` in-process, a few rows as a subprocess to prove there is no
traceback) and the DVC stage scripts (``pipelines.stage.run_stage``, a few as
``python -m pipelines.<stage>``). Every row states the exit code and the fragments the one-line
message must contain (the key, the file, the allowed values), and every row checks that the
project folder is byte-for-byte as before: no partial output, no stray temporary file.

Unit-level checks of the same errors live next to the code they test (test_config.py,
test_checkpoint.py, test_data.py, test_synthetic.py, test_training.py); this file is the
user-facing table. The interruption tests run real processes and send real signals; the
interrupted ``dvc repro`` is marked slow (about two minutes) but is part of the default run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torchvision.datasets as tvd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import PILToTensor

import augment.core.outputs
from augment.cli import main
from augment.core.outputs import StagedOutputs
from augment.data.source_files import write_manifests
from augment.data.splits import load_splits
from augment.models import build_model
from augment.params.config import (
    DATASETS,
    GENERATOR_NAMES,
    MAX_BATCH,
    MAX_IMAGES,
    MAX_LATENT_DIM,
    MAX_SEED,
    MAX_WIDTH,
    MODEL_NAMES,
    ConfigError,
    DataConfig,
    Params,
    flatten,
)
from augment.params.file import all_keys, apply_overrides, load_params, params_from_dict, parse_override
from augment.params.sources import ENCODER_MODELS, SOURCES, STYLED_KINDS
from augment.sampling.generation import sample_images
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import save_synthetic
from augment.training.checkpoint import CheckpointError, read_checkpoint, save_generator
from evaluation.classifiers.filtering import save_filter
from evaluation.classifiers.judge import save_judge
from evaluation.classifiers.net import SmallCNN
from evaluation.quality.measures import QUALITY_KEYS
from pipelines.stage import run_stage
from pipelines.train_classifier import train as train_classifier_stage
from tests.conftest import ROOT, TINY_CFM, TINY_CFM_SAMPLING, copy_project, merge
from tests.test_data import fake_mnist, write_png

BIN = Path(sys.executable).parent
CLASSES = [str(k) for k in range(10)]

TINY = {
    "data": {"train_size": 200},
    "generators": {
        "grid_every": 1,
        **{n: {"epochs": 2, "latent_dim": 4, "width": 8} for n in MODEL_NAMES},
        "cfm": dict(TINY_CFM),
    },
    "sample": {
        "per_class": 5,
        "batch_size": 64,
        "filter": {"threshold": 0.0},
        "generators": {"cfm": dict(TINY_CFM_SAMPLING)},
    },
    "classifier": {"seeds": [0, 1], "steps": 20, "width": 8},
    "evaluation": {"max_images": 50, "kid_subsets": 2, "kid_subset_size": 20, "judge": {"steps": 20, "width": 8}},
    "tracking": {"enabled": False},
    "device": "cpu",
}
TINY["generators"]["cvaegan"]["init_from"] = "none"  # rows that need the warm start set it themselves


def tiny_params_yaml(extra: dict | None = None) -> dict:
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), json.loads(json.dumps(TINY)))
    return merge(params, extra or {})


def tiny_generator(name: str, shape=(1, 8, 8), num_classes: int = 10, **config):
    torch.manual_seed(0)
    cfg = dataclasses.replace(Params().generator(name), **{"latent_dim": 4, "width": 8, **config})
    return build_model(name, cfg, shape, num_classes)


# --------------------------------------------------------------------------------------------
# A ready project: tiny params, the prepared splits, one (untrained) checkpoint per generator,
# a synthetic dataset and a judge. Each row gets a fresh copy as its working directory.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("template")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params_yaml(), sort_keys=False))
    splits = load_splits(DataConfig(train_size=200))
    splits.save(root / "data/splits/splits.pt")
    for name in MODEL_NAMES:
        save_generator(root / f"models/generators/{name}.pt", tiny_generator(name), CLASSES)
    model = tiny_generator("cvae")
    labels = torch.arange(200) % 10
    with contextlib.chdir(root), StagedOutputs() as staged:  # the set and its sources' manifests
        save_synthetic(
            staged.path("data/synthetic/cvae.pt"),
            sample_images(model, labels, seed=0),
            labels,
            CLASSES,
            {"model": "cvae"},
        )
        write_manifests(staged, Params(), "cvae")
        write_manifests(staged, Params(), None)

    save_judge(root / "models/classifiers/judge.pt", SmallCNN((1, 8, 8), 10, 8), {"val_accuracy": 0.5})
    save_filter(root / "models/classifiers/filter.pt", SmallCNN((1, 8, 8), 10, 8), {"val_accuracy": 0.5})
    return root


@pytest.fixture
def project(template, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(template, folder)
    monkeypatch.chdir(folder)
    for key in [k for k in os.environ if k.startswith(("MLFLOW_", "AUGMENT_"))]:
        monkeypatch.delenv(key)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def edit_params(project: Path, extra: dict) -> None:
    path = project / "params.yaml"
    path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), extra), sort_keys=False))


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unwritable_folder(project: Path) -> Path:
    """A folder this process cannot create files in. chmod does not stop root, so root gets
    /proc (the kernel refuses new files there whoever asks)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = project.parent / "readonly"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    return folder


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass
class Row:
    id: str
    argv: list[str]  # augment's argv, or the stage's (ITEM, --set ...)
    code: int  # expected exit code
    message: tuple[str, ...]  # fragments the one-line stderr message must contain
    entry: str = "augment"  # "augment" or a stage: prepare, train_generator, sample, ...
    setup: Callable[[Path], None] | None = None  # prepares the project copy (cwd)
    env: Callable[[Path], dict[str, str]] | None = None  # extra environment, from the project path
    subprocess: bool = False  # run as `python -m ...`: proves no traceback reaches the user
    unchanged: bool = True  # the project must be byte-identical afterwards
    check: Callable[[Path], None] | None = None  # anything else to verify afterwards


def _row(*args, **kwargs) -> Row:
    args = list(args)
    if isinstance(args[3], str):
        args[3] = (args[3],)
    return Row(*args, **kwargs)


def write(path: str, text: str) -> Callable[[Path], None]:
    return lambda project: (
        (project / path).parent.mkdir(parents=True, exist_ok=True) or (project / path).write_text(text)
    )


def params_edit(extra: dict) -> Callable[[Path], None]:
    return lambda project: edit_params(project, extra)


# Case 1: params.yaml and --set -------------------------------------------------------------
CONFIG = [
    _row(
        "unknown-key-set",
        ["train", "cvae", "--set", "generators.cvae.epoch=3"],
        2,
        ("unknown key 'generators.cvae.epoch'", "did you mean 'generators.cvae.epochs'"),
    ),
    _row(
        "unknown-key-file-top",
        ["train", "cvae"],
        2,
        ("unknown key 'generatorz'", "did you mean 'generators'"),
        setup=write("params.yaml", "generatorz:\n  seed: 1\n"),
    ),
    _row(
        "unknown-key-file-nested",
        ["train", "cvae"],
        2,
        ("unknown key 'data.datset'", "did you mean 'data.dataset'"),
        setup=write("params.yaml", "data:\n  datset: digits\n"),
    ),
    _row(
        "unknown-key-stage",
        ["cvae", "--set", "generators.cvaegan.gama=0.5"],
        2,
        "did you mean 'generators.cvaegan.gamma'",
        entry="train_generator",
    ),
    _row(
        "section-as-value",
        ["train", "cvae", "--set", "generators.cvae=5"],
        2,
        ("'generators.cvae' is a section", "generators.cvae."),
    ),
    _row("set-without-equals", ["train", "cvae", "--set", "generators.cvae.epochs"], 2, "expected KEY=VALUE"),
    _row(
        "wrong-type-str-for-int",
        ["train", "cvae", "--set", "generators.cvae.batch_size=big"],
        2,
        "generators.cvae.batch_size: expected an integer, got 'big'",
    ),
    _row(
        "wrong-type-float-for-int",
        ["train", "cvae"],
        2,
        "generators.cvae.epochs: expected an integer, got 2.5",
        setup=params_edit({"generators": {"cvae": {"epochs": 2.5}}}),
    ),
    _row(
        "wrong-type-bool", ["train", "cvae", "--set", "data.download=maybe"], 2, "data.download: expected true or false"
    ),
    _row(
        "wrong-type-list",
        ["real", "--set", "classifier.seeds=[0, x]"],
        2,
        "classifier.seeds[1]: expected an integer",
        entry="train_classifier",
    ),
    _row(
        "sources-unknown-name",
        ["real"],
        2,
        ("classifier.sources: unknown source 'classic+cvaegan-transfr'", "did you mean 'classic+cvaegan-transfer'"),
        entry="train_classifier",
        setup=params_edit({"classifier": {"sources": ["real", "classic", "classic+cvaegan-transfr"]}}),
    ),
    _row(
        "sources-cgan-restyle",
        ["real"],
        2,
        "classifier.sources: cgan has no encoder",
        entry="train_classifier",
        setup=params_edit({"classifier": {"sources": ["real", "classic", "cgan-transfer"]}}),
    ),
    _row(
        "sources-without-classic",
        ["--set", "classifier.sources=[real, cvae]"],
        2,
        "classifier.sources: must include 'classic'",
        entry="compare",
    ),
    _row(
        "section-not-mapping",
        ["train", "cvae"],
        2,
        "generators: expected a mapping",
        setup=params_edit({"generators": 3}),
    ),
    _row(
        "epochs-0",
        ["train", "cvae", "--set", "generators.cvae.epochs=0"],
        2,
        "generators.cvae.epochs: must be an integer >= 1, got 0",
    ),
    _row(
        "batch-size-0",
        ["train", "cgan", "--set", "generators.cgan.batch_size=0"],
        2,
        "generators.cgan.batch_size: must be an integer in [1, 65536], got 0",
    ),
    _row(
        "latent-dim-0",
        ["train", "cvaegan", "--set", "generators.cvaegan.latent_dim=-4"],
        2,
        "generators.cvaegan.latent_dim: must be an integer in [1, 65536], got -4",
    ),
    _row(
        "d-steps-0-cgan",
        ["train", "cgan", "--set", "generators.cgan.d_steps=0"],
        2,
        "generators.cgan.d_steps: must be an integer >= 1, got 0",
    ),
    _row(
        "d-steps-0-cvaegan-file",
        ["cvaegan"],
        2,
        "generators.cvaegan.d_steps: must be an integer >= 1",
        entry="train_generator",
        setup=params_edit({"generators": {"cvaegan": {"d_steps": 0}}}),
    ),
    _row(
        "gamma-negative",
        ["train", "cvaegan", "--set", "generators.cvaegan.gamma=-0.5"],
        2,
        "generators.cvaegan.gamma: must be a number >= 0, got -0.5",
    ),
    _row(
        "synthetic-ratio-negative",
        ["cvae", "--set", "classifier.synthetic_ratio=-1"],
        2,
        "classifier.synthetic_ratio: must be a number >= 0, got -1.0",
        entry="train_classifier",
    ),
    _row(
        "lr-nan",
        ["train", "cvae", "--set", "generators.cvae.lr=.nan"],
        2,
        "generators.cvae.lr: expected a finite number, got nan",
    ),
    _row(
        "train-size-inf",
        ["train", "cvae", "--set", "data.train_size=.inf"],
        2,
        "data.train_size: expected a finite number, got inf",
    ),
    _row(
        "seed-too-large",
        ["train", "cvae", "--set", f"generators.seed={2**64}"],
        2,
        ("generators.seed: must be an integer in [0, 4294967295]",),
    ),
    _row(
        "sample-seed-negative",
        ["sample", "cvae", "-n", "10", "--set", "sample.seed=-1"],
        2,
        "sample.seed: must be an integer in [0, 4294967295], got -1",
    ),
    _row(
        "train-size-too-large-train",
        ["train", "cvae", "--set", "data.train_size=100000"],
        2,
        ("data.train_size: asks for 100000 training images but only", "are available"),
    ),
    _row(
        "train-size-too-large-prepare",
        ["--set", "data.train_size=5000"],
        2,
        ("data.train_size: asks for 5000 training images but only",),
        entry="prepare",
        setup=lambda p: (p / "data/splits/splits.pt").unlink(),
    ),
    _row("train-size-fractional-count", ["--set", "data.train_size=150.5"], 2, "whole number", entry="prepare"),
    _row(
        "unknown-model-train",
        ["train", "gan"],
        2,
        ("unknown generator 'gan' (did you mean 'cgan'?)", "cvae, cgan, cvaegan, cfm", "augment.generators"),
    ),
    _row(
        "unknown-model-sample",
        ["sample", "gan", "-n", "10"],
        2,
        ("unknown model 'gan' (did you mean 'cgan'?)", "cvae, cgan, cvaegan"),
    ),
    _row(
        "unknown-model-stage",
        ["gan"],
        2,
        ("'gan' is not in generators.methods (cvae, cgan, cvaegan, cfm); did you mean 'cgan'?",),
        entry="train_generator",
        subprocess=True,
    ),
    _row(
        "methods-unknown-generator",
        ["cvae", "--set", "generators.methods.cvea=data/splits"],
        2,
        ("generators.methods: unknown generator 'cvea' (did you mean 'cvae'?)", "plugins: none installed"),
        entry="train_generator",
    ),
    _row(
        "methods-source-not-listed",
        ["cvae", "--set", "generators.methods={cvae: data/splits, cvaegan: models/generators/cvae.pt}"],
        2,
        ("classifier.sources: 'cgan' needs the method 'cgan', which generators.methods does not list",),
        entry="train_generator",
    ),
    _row(
        "methods-warm-start-not-listed",
        [
            "cgan",
            "--set",
            "generators.methods={cgan: data/splits, cvaegan: models/generators/cvae.pt}",
            "--set",
            "classifier.sources=[real, classic]",
            "--set",
            "sample.styled.methods=[cvaegan]",
            "--set",
            "generators.cvaegan.init_from=cvae",
        ],
        2,
        (
            "generators.methods: cvaegan starts from the trained cvae (generators.cvaegan.init_from: cvae), which the list lacks",
        ),
        entry="train_generator",
    ),
    _row(
        "methods-start-is-not-what-training-reads",
        ["cvaegan", "--set", "generators.methods.cvaegan=data/splits", "--set", "generators.cvaegan.init_from=cvae"],
        2,
        (
            "generators.methods.cvaegan: 'data/splits' is not the file its training reads "
            "(generators.cvaegan.init_from: cvae reads models/generators/cvae.pt); set it to models/generators/cvae.pt",
        ),
        entry="train_generator",
    ),
    _row(
        "unknown-source-stage",
        ["gan"],
        2,
        ("'gan' is not in classifier.sources (real, classic, cvae, cgan, cvaegan, cfm, classic+cvae",),
        entry="train_classifier",
    ),
    _row(
        "augmentation-scale-reversed",
        ["classic", "--set", "augmentation.scale_min=1.2"],
        2,
        "augmentation.scale_min: must be <= augmentation.scale_max (1.05), got 1.2",
        entry="train_classifier",
    ),
    _row(
        "augmentation-degrees-negative",
        ["classic", "--set", "augmentation.degrees=-5"],
        2,
        "augmentation.degrees: must be a number of degrees in [0, 180], got -5.0",
        entry="train_classifier",
    ),
    _row(
        "augmentation-erasing-above-1",
        ["classic+cvae", "--set", "augmentation.erasing=1.5"],
        2,
        "augmentation.erasing: must be a probability in [0, 1], got 1.5",
        entry="train_classifier",
    ),
    _row(
        "synthetic-mode-unknown",
        ["cvae", "--set", "classifier.synthetic_mode=all"],
        2,
        "classifier.synthetic_mode: must be one of: ratio, top_up, got 'all'",
        entry="train_classifier",
    ),
    _row("nproc-0", ["train", "cvae", "--nproc", "0"], 2, "--nproc: must be an integer >= 1, got 0"),
    _row(
        "precision-fp16",
        ["train", "cvae", "--set", "acceleration.precision=fp16"],
        2,
        "acceleration.precision: must be one of: fp32, tf32, bf16, got 'fp16'",
    ),
    _row(
        "compile-not-a-bool",
        ["cvae", "--set", "acceleration.compile=yes please"],
        2,
        "acceleration.compile: expected true or false, got 'yes please'",
        entry="train_classifier",
    ),
    _row(
        "filter-threshold-above-1",
        ["cvae", "--set", "sample.filter.threshold=1.5"],
        2,
        "sample.filter.threshold: must be a probability in [0, 1], got 1.5",
        entry="sample",
    ),
    _row(
        "imbalance-repeated-class",
        ["--set", "data.imbalance.classes=[1, 1]"],
        2,
        "data.imbalance.classes: must be a list of distinct class indices >= 0, got [1, 1]",
        entry="prepare",
    ),
    _row(
        "imbalance-keep-0",
        ["--set", "data.imbalance.keep=0"],
        2,
        "data.imbalance.keep: must be a number in (0, 1], got 0.0",
        entry="prepare",
    ),
    _row(
        "imbalance-class-not-in-data",
        ["--set", "data.imbalance.classes=[3, 12]"],
        2,
        ("data.imbalance.classes: class index 12 does not exist", "classes 0..9"),
        entry="prepare",
        setup=lambda p: (p / "data/splits/splits.pt").unlink(),
    ),
    _row(
        "unknown-dataset",
        ["train", "cvae", "--set", "data.dataset=cifar10"],
        2,
        "data.dataset: must be one of: digits, mnist, fashion-mnist, kmnist, emnist, imagefolder, got 'cifar10'",
    ),
    _row("unknown-device", ["--set", "device=tpu"], 2, "device: must be one of: auto, cpu, cuda", entry="prepare"),
    _row(
        "cuda-without-gpu", ["train", "cvae", "--set", "device=cuda", "--no-progress"], 2, "no CUDA device is available"
    ),
    _row(
        "malformed-yaml",
        ["train", "cvae"],
        2,
        ("params.yaml: malformed YAML",),
        setup=write("params.yaml", "data: [unclosed\ngenerators:\n  seed: 1\n"),
        subprocess=True,
    ),
    _row(
        "malformed-yaml-stage",
        [],
        2,
        "params.yaml: malformed YAML",
        entry="prepare",
        setup=write("params.yaml", "data:\n\tdataset: digits\n"),
    ),
    _row(
        "top-level-not-mapping",
        ["train", "cvae"],
        2,
        "expected a mapping at the top level",
        setup=write("params.yaml", "- 1\n- 2\n"),
    ),
    _row(
        "binary-params-file",
        ["train", "cvae"],
        2,
        "params.yaml: not a text file",
        setup=lambda p: (p / "params.yaml").write_bytes(b"\xff\xfe\x00data"),
    ),
    _row("params-file-missing", ["train", "cvae", "--params", "nope.yaml"], 2, "params file not found: nope.yaml"),
    _row("bad-cli-number", ["sample", "cvae", "-n", "many"], 2, "argument -n/--num-samples: invalid int value: 'many'"),
]


# Case 2: checkpoints -----------------------------------------------------------------------
class Payload:
    """Pickled code: unpickling it would run ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def evil_checkpoint(path: str) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        torch.save(
            {
                "format_version": 1,
                "model": "cvae",
                "config": {},
                "image_shape": [1, 8, 8],
                "classes": CLASSES,
                "state_dict": Payload(project.parent / "pwned"),
            },
            project / path,
        )

    return setup


def no_marker(project: Path) -> None:
    assert not (project.parent / "pwned").exists(), "the pickled payload was executed"


def truncated(path: str) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        data = (project / path).read_bytes()
        (project / path).write_bytes(data[: len(data) // 2])

    return setup


def flipped_byte(path: str) -> Callable[[Path], None]:
    """One byte of the weights changed: the zip still opens and torch would load it."""

    def setup(project: Path) -> None:
        file = project / path

        with zipfile.ZipFile(file) as archive:
            info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
        data = bytearray(file.read_bytes())
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        start = info.header_offset + 30 + name_length + extra_length  # the record's bytes
        data[start + info.file_size // 2] ^= 0xFF
        file.write_bytes(bytes(data))

    return setup


def checkpoint_of(path: str, name: str, shape=(1, 8, 8), training: bool = False, **config) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        model = tiny_generator(name, shape, **config)
        extra = None
        if training:
            optimizers = model.make_optimizers()
            extra = {
                "epoch": 1,
                "seed": 0,
                "history": [{"loss": 1.0}],
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "rng_state": torch.get_rng_state(),
                "cuda_rng_state": [],
            }
        save_generator(project / path, model, CLASSES, extra)

    return setup


def edited_checkpoint(path: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        payload = torch.load(project / path, weights_only=True)
        edit(payload)
        torch.save(payload, project / path)

    return setup


def _set(key, value):
    return lambda payload: payload.__setitem__(key, value)


def _config(key, value):
    return lambda payload: payload["config"].__setitem__(key, value)


CKPT = "models/generators/cvae.pt"
WARM = ["train", "cvaegan", "--no-progress", "--set", "generators.cvaegan.init_from=cvae"]


def _resume_source(project: Path) -> None:
    """A real 1-epoch checkpoint of the tiny cvae at the default path."""
    assert main(["train", "cvae", "--no-progress", "--set", "generators.cvae.epochs=1"]) == 0


def _other_classes(project: Path) -> None:
    _resume_source(project)
    edited_checkpoint(CKPT, _set("classes", list("abcdefghij")))(project)


def _no_training(project: Path) -> None:
    _resume_source(project)
    edited_checkpoint(CKPT, lambda payload: payload.pop("training"))(project)


def _damaged_training(project: Path) -> None:
    _resume_source(project)
    edited_checkpoint(CKPT, lambda payload: payload["training"].pop("optimizers"))(project)


CHECKPOINTS = [
    _row(
        "pickled-code-info",
        ["info", CKPT],
        2,
        (CKPT, "refused to load", "objects other than weights"),
        setup=evil_checkpoint(CKPT),
        check=no_marker,
        subprocess=True,
    ),
    _row(
        "pickled-code-sample",
        ["sample", "cvae", "-n", "10", "--out", "s.pt"],
        2,
        (CKPT, "refused to load"),
        setup=evil_checkpoint(CKPT),
        check=no_marker,
    ),
    _row(
        "pickled-code-resume",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        (CKPT, "refused to load"),
        setup=evil_checkpoint(CKPT),
        check=no_marker,
    ),
    _row(
        "pickled-code-stage",
        ["cvae"],
        2,
        (CKPT, "refused to load"),
        entry="evaluate",
        setup=evil_checkpoint(CKPT),
        check=no_marker,
    ),
    _row("truncated-info", ["info", CKPT], 2, (CKPT, "truncated or corrupt"), setup=truncated(CKPT)),
    _row("truncated-sample-stage", ["cvae"], 2, (CKPT, "truncated or corrupt"), entry="sample", setup=truncated(CKPT)),
    _row(
        "corrupt-weights-byte",
        ["sample", "cvae", "-n", "10"],
        2,
        (CKPT, "truncated or corrupt", "CRC"),
        setup=flipped_byte(CKPT),
    ),
    _row("not-a-torch-file", ["info", CKPT], 2, (CKPT, "truncated or corrupt"), setup=write(CKPT, "hello\n")),
    _row("empty-file", ["info", CKPT], 2, (CKPT, "truncated or corrupt"), setup=write(CKPT, "")),
    _row("folder-as-checkpoint", ["info", "models"], 2, "models: not a file"),
    _row("missing-info", ["info", "nope.pt"], 2, "checkpoint not found: nope.pt"),
    _row(
        "other-kind-sample",
        ["sample", "cvae", "-n", "10"],
        2,
        (CKPT, "holds a 'cgan' model, expected 'cvae'"),
        setup=checkpoint_of(CKPT, "cgan"),
    ),
    _row(
        "other-kind-stage",
        ["cvae"],
        2,
        (CKPT, "holds a 'cgan' model, expected 'cvae'"),
        entry="evaluate",
        setup=checkpoint_of(CKPT, "cgan"),
    ),
    _row(
        "other-kind-resume",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        ("--resume", CKPT, "holds a 'cgan' model"),
        setup=checkpoint_of(CKPT, "cgan", training=True),
    ),
    _row(
        "other-shape-stage",
        ["cvae"],
        2,
        (CKPT, "shape (1, 28, 28), expected (1, 8, 8)"),
        entry="evaluate",
        setup=checkpoint_of(CKPT, "cvae", shape=(1, 28, 28)),
    ),
    _row(
        "other-shape-resume",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        ("--resume", CKPT, "(1, 28, 28)", "(1, 8, 8)"),
        setup=checkpoint_of(CKPT, "cvae", shape=(1, 28, 28), training=True),
    ),
    _row(
        "other-config-resume",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        ("--resume", CKPT, "latent_dim=6", "latent_dim=4", "only epochs, lr, beta1, beta2 may change"),
        setup=checkpoint_of(CKPT, "cvae", training=True, latent_dim=6),
    ),
    _row(
        "other-classes-resume",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        ("--resume", CKPT, "other classes"),
        setup=_other_classes,
    ),
    _row(
        "no-training-state-resume",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        ("--resume", CKPT, "no training state"),
        setup=_no_training,
    ),
    _row(
        "damaged-training-state",
        ["train", "cvae", "--resume", "--no-progress"],
        2,
        ("--resume", CKPT, "damaged training state"),
        setup=_damaged_training,
    ),
    _row(
        "newer-format",
        ["info", CKPT],
        2,
        (CKPT, "format version 2 is newer", "upgrade augment"),
        setup=edited_checkpoint(CKPT, _set("format_version", 2)),
    ),
    _row(
        "newer-format-sample",
        ["sample", "cvae", "-n", "10"],
        2,
        (CKPT, "format version 2 is newer"),
        setup=edited_checkpoint(CKPT, _set("format_version", 2)),
    ),
    _row(
        "not-a-generator",
        ["info", CKPT],
        2,
        (CKPT, "not an augment generator checkpoint"),
        setup=lambda p: torch.save({"weights": torch.zeros(2)}, p / CKPT),
    ),
    _row(
        "unknown-model-in-file",
        ["info", CKPT],
        2,
        (
            CKPT,
            "holds a 'vae' generator, which this installation does not have",
            "augment.generators",
            "cvae, cgan, cvaegan",
        ),
        setup=edited_checkpoint(CKPT, _set("model", "vae")),
    ),
    _row(
        "bad-image-shape-field",
        ["sample", CKPT, "-n", "10"],
        2,
        (CKPT, "image_shape must be [C, H, W]"),
        setup=edited_checkpoint(CKPT, _set("image_shape", "8x8")),
    ),
    _row(
        "huge-config-in-file",
        ["sample", "cvae", "-n", "10"],
        2,
        (CKPT, "bad cvae config in the checkpoint", f"generators.cvae.width: must be an integer in [1, {MAX_WIDTH}]"),
        setup=edited_checkpoint(CKPT, _config("width", 10**6)),
    ),
    _row(
        "bad-config-value-in-file",
        ["sample", "cvae", "-n", "10"],
        2,
        (CKPT, "bad cvae config", "latent_dim"),
        setup=edited_checkpoint(CKPT, _config("latent_dim", -1)),
    ),
    _row(
        "unknown-config-key-in-file",
        ["sample", "cvae", "-n", "10"],
        2,
        (CKPT, "bad cvae config", "depth"),
        setup=edited_checkpoint(CKPT, _config("depth", 3)),
    ),
    # the CVAE-GAN's warm start (generators.cvaegan.init_from: cvae) reads the CVAE's checkpoint
    _row(
        "warm-start-missing-cvae",
        WARM,
        2,
        ("generators.cvaegan.init_from: cvae", CKPT, "train it first"),
        setup=lambda p: (p / CKPT).unlink(),
    ),
    _row(
        "warm-start-other-kind",
        WARM,
        2,
        (CKPT, "holds a 'cgan' model, expected 'cvae'"),
        setup=checkpoint_of(CKPT, "cgan"),
    ),
    _row(
        "warm-start-other-shape",
        WARM,
        2,
        ("init_from: cvae", CKPT, "(1, 28, 28)", "(1, 8, 8)"),
        setup=checkpoint_of(CKPT, "cvae", shape=(1, 28, 28)),
    ),
    _row("warm-start-other-classes", WARM, 2, ("init_from: cvae", CKPT, "other classes"), setup=_other_classes),
    _row(
        "warm-start-other-latent",
        WARM,
        2,
        ("init_from: cvae", CKPT, "latent_dim=6", "must agree"),
        setup=checkpoint_of(CKPT, "cvae", latent_dim=6),
    ),
    _row(
        "warm-start-other-upsampling-stage",
        ["cvaegan"],
        2,
        ("init_from: cvae", CKPT, "upsample='nearest'"),
        entry="train_generator",
        setup=lambda p: (
            checkpoint_of(CKPT, "cvae", upsample="nearest")(p),
            edit_params(p, {"generators": {"cvaegan": {"init_from": "cvae"}}}),
        ),
    ),
]


# Case 3: data ------------------------------------------------------------------------------
def mnist_files(corrupt: str | None = None) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        fake_mnist(project / "data/raw")
        if corrupt:
            bad = project / "data/raw/MNIST/raw" / corrupt
            bad.write_bytes(bad.read_bytes()[:100])

    return setup


def no_network(project: Path) -> None:
    def download(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: <urlopen error [Errno -3] no network>")

    mp = pytest.MonkeyPatch()
    mp.setattr(tvd.MNIST, "download", download)
    _UNDO.append(mp)


_UNDO: list[pytest.MonkeyPatch] = []


def image_folder(classes: dict[str, int], broken: str | None = None) -> Callable[[Path], None]:
    def setup(project: Path) -> None:
        for name, count in classes.items():
            (project / "data/raw" / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                write_png(project / "data/raw" / name / f"{i}.png", "L", (8, 8), 40 * i % 255)
        if broken:
            (project / "data/raw" / broken).write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")

    return setup


MNIST = ["--set", "data.dataset=mnist"]
FOLDER = ["--set", "data.dataset=imagefolder", "--set", "data.image_size=8"]
RAW = "data/raw/MNIST/raw"
DATA = [
    _row(
        "mnist-missing",
        ["train", "cvae", *MNIST],
        2,
        (
            f"{RAW}/train-images-idx3-ubyte(.gz)",
            f"{RAW}/t10k-labels-idx1-ubyte(.gz)",
            "data.download: true",
            f"copy the files (uncompressed or .gz) into {RAW}/",
        ),
    ),
    _row(
        "mnist-missing-stage",
        MNIST,
        2,
        (f"{RAW}/train-images-idx3-ubyte(.gz)", "data.download: true"),
        entry="prepare",
        setup=lambda p: (p / "data/splits/splits.pt").unlink(),
        subprocess=True,
    ),
    _row(
        "mnist-no-network",
        ["train", "cvae", *MNIST, "--set", "data.download=true"],
        2,
        (f"{RAW}/train-images-idx3-ubyte(.gz)", "download failed", "no network"),
        setup=no_network,
    ),
    _row(
        "mnist-one-file-missing",
        ["train", "cvae", *MNIST],
        2,
        f"{RAW}/t10k-labels-idx1-ubyte(.gz)",
        setup=lambda p: (mnist_files()(p), (p / RAW / "t10k-labels-idx1-ubyte").unlink()),
    ),
    _row(
        "mnist-corrupt-idx",
        ["train", "cvae", *MNIST],
        2,
        (f"{RAW}/t10k-images-idx3-ubyte: not a valid IDX file", "replace it with a good copy"),
        setup=mnist_files(corrupt="t10k-images-idx3-ubyte"),
    ),
    _row(
        "mnist-corrupt-idx-stage",
        MNIST,
        2,
        f"{RAW}/train-images-idx3-ubyte: not a valid IDX file",
        entry="prepare",
        setup=mnist_files(corrupt="train-images-idx3-ubyte"),
    ),
    _row(
        "imagefolder-missing",
        ["train", "cvae", *FOLDER, "--set", "data.root=nowhere"],
        2,
        ("data.root: nowhere: image folder not found", "<root>/<class name>/<image>"),
    ),
    _row(
        "imagefolder-no-images",
        ["train", "cvae", *FOLDER],
        2,
        ("data/raw: no images found",),
        setup=lambda p: (p / "data/raw/cats").mkdir(parents=True),
    ),
    _row(
        "imagefolder-one-class",
        FOLDER,
        2,
        ("data/raw: found only the class 'cats'", "at least 2 classes"),
        entry="prepare",
        setup=image_folder({"cats": 6}),
    ),
    _row(
        "imagefolder-unreadable-file",
        ["train", "cvae", *FOLDER],
        2,
        ("data/raw/dogs/broken.png: cannot read this image", "fix or remove the file"),
        setup=image_folder({"cats": 6, "dogs": 6}, broken="dogs/broken.png"),
    ),
    _row(
        "imagefolder-class-without-images",
        FOLDER,
        2,
        "no images found",
        entry="prepare",
        setup=lambda p: (image_folder({"cats": 6, "dogs": 6})(p), (p / "data/raw/emus").mkdir()),
    ),
    _row(
        "splits-missing-stage",
        ["cvae"],
        2,
        ("splits file not found: data/splits/splits.pt", "prepare"),
        entry="train_generator",
        setup=lambda p: (p / "data/splits/splits.pt").unlink(),
    ),
    _row(
        "splits-corrupt-stage",
        ["real"],
        2,
        ("data/splits/splits.pt: not a readable splits file",),
        entry="train_classifier",
        setup=write("data/splits/splits.pt", "garbage"),
    ),
    _row(
        "synthetic-missing-stage",
        ["cgan"],
        2,
        ("data/sources/cgan.json: not found", "dvc repro sample@cgan"),
        entry="train_classifier",
    ),
    _row(
        "synthetic-changed-since-manifest",
        ["cvae"],
        2,
        (
            "data/sources/cvae.json: data/synthetic/cvae.pt has changed since the manifest was written",
            "dvc repro sample@cvae",
        ),
        entry="train_classifier",
        setup=lambda p: save_synthetic(
            p / "data/synthetic/cvae.pt", torch.zeros(10, 1, 8, 8), torch.arange(10), CLASSES
        ),
    ),
    _row(
        "synthetic-deleted-after-manifest",
        ["classic+cvae"],
        2,
        ("data/sources/classic+cvae.json: its set data/synthetic/cvae.pt is missing", "dvc repro sample@cvae"),
        entry="train_classifier",
        setup=lambda p: (p / "data/synthetic/cvae.pt").unlink(),
    ),
    _row(
        "manifest-of-another-source",
        ["classic+cvae"],
        2,
        ("data/sources/classic+cvae.json: not the manifest of source 'classic+cvae'",),
        entry="train_classifier",
        setup=lambda p: shutil.copy(p / "data/sources/cvae.json", p / "data/sources/classic+cvae.json"),
    ),
    _row(
        "splits-missing-train-filter",
        [],
        2,
        ("splits file not found: data/splits/splits.pt", "prepare"),
        entry="train_filter",
        setup=lambda p: (p / "data/splits/splits.pt").unlink(),
    ),
    _row(
        "filtered-synthetic-missing-stage",
        ["cvaegan-filtered"],
        2,
        ("data/sources/cvaegan-filtered.json: not found", "dvc repro sample@cvaegan"),
        entry="train_classifier",
    ),
    _row(
        "combined-synthetic-missing-stage",
        ["classic+cgan"],
        2,
        ("data/sources/classic+cgan.json: not found", "dvc repro sample@cgan"),
        entry="train_classifier",
    ),
    _row(
        "restyle-set-missing-stage",
        ["classic+cvaegan-transfer"],
        2,
        ("data/sources/classic+cvaegan-transfer.json: not found", "dvc repro restyle@cvaegan"),
        entry="train_classifier",
    ),
]


# Case 5: divergence ------------------------------------------------------------------------
def _good_epoch(project: Path) -> None:
    assert main(["train", "cvae", "--no-progress", "--set", "generators.cvae.epochs=1"]) == 0
    project.joinpath("good.bytes").write_bytes((project / CKPT).read_bytes())


def _kept_good(project: Path) -> None:
    assert (project / CKPT).read_bytes() == (project / "good.bytes").read_bytes()
    assert read_checkpoint(project / CKPT)["training"]["epoch"] == 1


HUGE_LR = ["--set", "generators.cvae.lr=1e6", "--set", "generators.cvae.epochs=3"]
DIVERGENCE = [
    _row(
        "huge-lr-fresh",
        ["train", "cvae", "--no-progress", *HUGE_LR],
        1,
        ("cvae: non-finite loss at epoch 1, step", "lower the learning rate", "no checkpoint was written"),
        setup=lambda p: (p / CKPT).unlink(),
    ),
    _row(
        "huge-lr-resume-keeps-last-good",
        ["train", "cvae", "--no-progress", "--resume", *HUGE_LR],
        1,
        ("cvae: non-finite loss at epoch 2, step", "the checkpoint of epoch 1 is kept: models/generators/cvae.pt"),
        setup=_good_epoch,
        check=_kept_good,
    ),
    _row(
        "huge-lr-cvaegan",
        ["train", "cvaegan", "--no-progress", "--set", "generators.cvaegan.lr=1e6"],
        1,
        ("cvaegan: non-finite loss at epoch 1, step",),
        setup=lambda p: (p / "models/generators/cvaegan.pt").unlink(),
    ),
]


# Case 7: SyntheticDataset through `augment sample` (the Python API rows are in SYNTHETIC_API) --
SYNTHETIC_CLI = [
    _row(
        "sample-missing-checkpoint",
        ["sample", "cgan", "-n", "10"],
        2,
        ("no checkpoint at models/generators/cgan.pt", "augment train cgan", "dvc repro"),
        setup=lambda p: (p / "models/generators/cgan.pt").unlink(),
    ),
    _row("sample-missing-path", ["sample", "elsewhere/g.pt", "-n", "10"], 2, "no checkpoint at elsewhere/g.pt"),
    _row("sample-negative-n", ["sample", "cvae", "-n", "-5"], 2, "-n: must be an integer in [1, 10000000], got -5"),
    _row(
        "sample-negative-seed", ["sample", "cvae", "-n", "5", "--seed", "-2"], 2, "--seed: must be an integer in [0, "
    ),
    _row(
        "sample-stage-missing-checkpoint",
        ["cgan"],
        2,
        ("no checkpoint at models/generators/cgan.pt", "augment train cgan", "dvc repro"),
        entry="sample",
        setup=lambda p: (p / "models/generators/cgan.pt").unlink(),
    ),
    _row(
        "sample-stage-missing-filter",
        ["cvae"],
        2,
        "models/classifiers/filter.pt",
        entry="sample",
        setup=lambda p: (p / "models/classifiers/filter.pt").unlink(),
    ),
    _row(
        "sample-stage-judge-as-filter",
        ["cvae"],
        2,
        ("not a filter network", "train_filter"),
        entry="sample",
        setup=lambda p: shutil.copy(p / "models/classifiers/judge.pt", p / "models/classifiers/filter.pt"),
    ),
    # (a filter that rejects everything no longer stops the stage: tests/test_bar.py, the fill)
    _row(
        "restyle-stage-cgan", ["cgan"], 2, ("'cgan' is not in sample.styled.methods (cvae, cvaegan)",), entry="restyle"
    ),
    _row(
        "styled-methods-cgan",
        ["cvae", "--set", "sample.styled.methods=[cvae, cgan]"],
        2,
        ("sample.styled.methods: cgan has no encoder, so it has no restyle or transfer sets",),
        entry="restyle",
    ),
    _row(  # a restyle source whose set no restyle stage makes: refused at load, not a missing file
        "styled-source-not-made",
        ["real", "--set", "classifier.sources=[real, classic, cfm-restyle]"],
        2,
        (
            "classifier.sources: 'cfm-restyle' trains on cfm's restyle set, which sample.styled.methods does not list (cvae, cvaegan)",
        ),
        entry="train_classifier",
    ),
]


# Outputs that cannot be written, and all-or-nothing outputs ---------------------------------
def _fail_on_second_save(project: Path) -> None:
    """The disk fills up while the checkpoint of epoch 2 is written."""
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(torch, "save", save)
    _UNDO.append(mp)
    (project / CKPT).unlink()
    assert augment.core.outputs  # the module whose atomic save is exercised


def _epoch_1_intact(project: Path) -> None:
    payload = read_checkpoint(project / CKPT)
    assert payload["training"]["epoch"] == 1
    assert not [p for p in (project / "models/generators").iterdir() if p.name.startswith(".")]


def _grid_fails(project: Path) -> None:
    """The grid cannot be written after the dataset was: neither file may stay."""

    def broken(*args, **kwargs):
        raise OSError(5, "Input/output error")

    mp = pytest.MonkeyPatch()
    mp.setattr(Image.Image, "save", broken)
    _UNDO.append(mp)


def patch(module: str, name: str, replacement) -> Callable[[Path], None]:
    """Replace ``module.name`` for the duration of one row."""

    def setup(project: Path) -> None:
        mp = pytest.MonkeyPatch()
        mp.setattr(importlib.import_module(module), name, replacement)
        _UNDO.append(mp)

    return setup


def disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


def ctrl_c_on_second_call(function):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return function(*args, **kwargs)

    return wrapper


def _compare_inputs_untracked(project: Path) -> None:
    compare_inputs(project)
    edit_params(project, {"tracking": {"enabled": False}})


from evaluation.classifiers.net import save_classifier as _save_classifier  # noqa: E402

OUTPUTS = [
    _row(
        "train-classifier-fails-after-weights",
        ["real"],
        2,
        "No space left on device",
        entry="train_classifier",
        setup=patch("pipelines.train_classifier", "confusion_figure", disk_full),
    ),
    _row(
        "train-classifier-ctrl-c-after-first-seed",
        ["real"],
        130,
        "train_classifier: interrupted: no output was written",
        entry="train_classifier",
        setup=patch("pipelines.train_classifier", "save_classifier", ctrl_c_on_second_call(_save_classifier)),
    ),
    _row("compare-fails-half-way", [], 2, "reports/samples/cvae.png", entry="compare", setup=_compare_inputs_untracked),
    _row(
        "judge-fails-after-training",
        [],
        2,
        "No space left on device",
        entry="judge",
        setup=patch("pipelines.judge", "save_judge", disk_full),
    ),
    _row(
        "sample-out-is-folder",
        ["sample", "cvae", "-n", "10", "--out", "models"],
        2,
        "--out models is a folder; give a file path",
    ),
    _row(
        "sample-out-parent-is-file",
        ["sample", "cvae", "-n", "10", "--out", "params.yaml/s.pt"],
        2,
        "params.yaml is a file, not a folder",
    ),
    _row(
        "sample-grid-bad-format",
        ["sample", "cvae", "-n", "10", "--out", "s.pt", "--grid", "g.xyz"],
        2,
        ("--grid g.xyz: unknown image format '.xyz'",),
    ),
    _row(
        "sample-grid-write-fails",
        ["sample", "cvae", "-n", "10", "--out", "s.pt", "--grid", "g.png", "--no-progress"],
        2,
        "Input/output error",
        setup=_grid_fails,
    ),
    _row(
        "train-out-is-folder",
        ["train", "cvae", "--no-progress", "--out", "models"],
        2,
        "checkpoint models is a folder; give a file path",
    ),
    _row(
        "disk-full-during-save",
        ["train", "cvae", "--no-progress"],
        2,
        "No space left on device",
        setup=_fail_on_second_save,
        unchanged=False,
        check=_epoch_1_intact,
    ),
]


# Case 8: tracking --------------------------------------------------------------------------
def tracking_on(project: Path) -> None:
    edit_params(project, {"tracking": {"enabled": True}})


def http_closed(project: Path) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port()}"}


def sqlite_unwritable(project: Path) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": f"sqlite:///{unwritable_folder(project)}/mlflow.db"}


def compare_inputs(project: Path) -> None:
    """What compare reads, with made-up numbers: enough to reach its tracking check."""
    tracking_on(project)

    runs = [{"seed": s, "accuracy": 0.9, "macro_f1": 0.9, "train_images": 200} for s in (0, 1)]
    for source in SOURCES:
        write(f"reports/classifiers/{source}.json", json.dumps({"runs": runs}))(project)
    for name in (*GENERATOR_NAMES, "real"):
        write(
            f"reports/quality/{name}.json", json.dumps({**{k: 0.5 for k in QUALITY_KEYS}, "judge_test_accuracy": 0.9})
        )(project)
    for name in GENERATOR_NAMES:
        write(f"reports/samples/{name}-filtered.json", json.dumps({"acceptance_rate": 0.5}))(project)
    for name in ENCODER_MODELS:  # the restyle stages' records (sample.styled.methods)
        for kind in STYLED_KINDS:
            write(f"reports/samples/{name}-{kind}.json", json.dumps({"filtered": False}))(project)


HTTP = ("MLflow tracking server unreachable at http://127.0.0.1:", "tracking.enabled: false")
SQLITE = ("MLflow tracking database folder is not writable", "uri sqlite:///")
TRACKING = [
    _row(
        "http-unreachable-train-generator",
        ["cvae"],
        2,
        HTTP,
        entry="train_generator",
        setup=tracking_on,
        env=http_closed,
        subprocess=True,
    ),
    _row("http-unreachable-sample", ["cvae"], 2, HTTP, entry="sample", setup=tracking_on, env=http_closed),
    _row(
        "http-unreachable-train-classifier",
        ["real"],
        2,
        HTTP,
        entry="train_classifier",
        setup=tracking_on,
        env=http_closed,
    ),
    _row("http-unreachable-evaluate", ["cvae"], 2, HTTP, entry="evaluate", setup=tracking_on, env=http_closed),
    _row("http-unreachable-compare", [], 2, HTTP, entry="compare", setup=compare_inputs, env=http_closed),
    _row(
        "sqlite-unwritable-train-generator",
        ["cgan"],
        2,
        SQLITE,
        entry="train_generator",
        setup=tracking_on,
        env=sqlite_unwritable,
    ),
    _row(
        "sqlite-unwritable-train-classifier",
        ["real"],
        2,
        SQLITE,
        entry="train_classifier",
        setup=tracking_on,
        env=sqlite_unwritable,
    ),
    _row("sqlite-unwritable-compare", [], 2, SQLITE, entry="compare", setup=compare_inputs, env=sqlite_unwritable),
    _row(
        "sqlite-folder-missing",
        ["cvae"],
        2,
        ("MLflow tracking database folder does not exist", "nowhere"),
        entry="sample",
        setup=tracking_on,
        env=lambda p: {"MLFLOW_TRACKING_URI": f"sqlite:///{p}/nowhere/m.db"},
    ),
    _row(
        "sqlite-not-a-database",
        ["cvae"],
        2,
        ("MLflow tracking database", "not-a-db.db", "is unreadable"),
        entry="train_generator",
        setup=lambda p: (tracking_on(p), write("not-a-db.db", "x" * 200)(p)),
        env=lambda p: {"MLFLOW_TRACKING_URI": f"sqlite:///{p}/not-a-db.db"},
    ),
    _row(
        "tracking-uri-from-params",
        ["cvae", "--set", "tracking.uri=http://127.0.0.1:9"],
        2,
        "unreachable at http://127.0.0.1:9",
        entry="train_generator",
        setup=tracking_on,
    ),
]


# Case 8: what hostile input still found (issue 43) ---------------------------------------------
def _nan_weights(project: Path) -> None:
    def poison(payload: dict) -> None:
        key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point() and v.numel())
        payload["state_dict"][key].view(-1)[0] = float("nan")  # one NaN: the CRC is still valid

    edited_checkpoint(CKPT, poison)(project)


def _letter_classes(project: Path) -> None:
    """A cvae of the digits' shape whose classes are ten letters: not the digits' classes."""
    save_generator(project / CKPT, tiny_generator("cvae"), list("abcdefghij"))


HOSTILE = [
    _row(
        "sample-out-is-the-checkpoint",
        ["sample", CKPT, "-n", "5", "--out", CKPT],
        2,
        ("--out", CKPT, "is the checkpoint being sampled"),
    ),
    _row(
        "sample-name-out-is-its-checkpoint",
        ["sample", "cvae", "-n", "5", "--out", "./models/../models/generators/cvae.pt"],
        2,
        "is the checkpoint being sampled",
    ),
    _row("nan-weights-info", ["info", CKPT], 2, (CKPT, "NaN or infinite", "retrain"), setup=_nan_weights),
    _row("nan-weights-sample", ["sample", CKPT, "-n", "5"], 2, (CKPT, "NaN or infinite"), setup=_nan_weights),
    _row(
        "stylize-other-classes",
        ["stylize", CKPT, "--only", "interpolate"],
        2,
        (CKPT, "other classes", "a, b, c", "0, 1, 2"),
        setup=_letter_classes,
    ),
    _row(
        "evaluate-stage-other-classes",
        ["cvae"],
        2,
        (CKPT, "other classes"),
        entry="evaluate",
        setup=_letter_classes,
    ),
    _row(
        "huge-latent-dim",
        ["train", "cvae", "--set", "generators.cvae.latent_dim=1000000000"],
        2,
        "generators.cvae.latent_dim: must be an integer in [1, 65536], got 1000000000",
    ),
    _row("huge-n", ["sample", "cvae", "-n", "1000000000"], 2, "-n: must be an integer in [1, 10000000]"),
    _row(
        "huge-per-class",
        ["cvae", "--set", "sample.per_class=1000000000"],
        2,
        "sample.per_class: must be an integer in [1, 10000000]",
        entry="sample",
    ),
    _row(
        "huge-image-size",
        ["--set", "data.image_size=100000"],
        2,
        "data.image_size: must be an integer in [4, 1024]",
        entry="prepare",
    ),
    _row("huge-stylize-rows", ["stylize", "cvae", "--rows", "10000000"], 2, "--rows: must be an integer in [1, 1000]"),
    _row(
        "models-uri-without-a-store",
        ["info", "models:/augment-cvae/1"],
        2,
        ("models:/augment-cvae/1", "no MLflow store at", "mlflow.db"),
    ),  # unchanged: no empty mlflow.db is left behind
    _row(
        "seed-2-to-the-32",
        ["sample", "cvae", "-n", "5", "--seed", str(2**32)],
        2,
        f"--seed: must be an integer in [0, {MAX_SEED}]",
    ),
    _row(
        "seed-2-to-the-70", ["sample", "cvae", "-n", "5", "--seed", str(2**70)], 2, "--seed: must be an integer in [0, "
    ),
    _row(
        "stylize-seed-2-to-the-32", ["stylize", "cvae", "--seed", str(2**32)], 2, "--seed: must be an integer in [0, "
    ),
    _row(
        "unwritable-folder-names-the-given-path",
        ["sample", "cvae", "-n", "5", "--out", "/proc/augment-s.pt"],  # the kernel refuses, root or not
        2,
        "cannot write /proc/augment-s.pt:",
    ),
    _row(
        "resume-without-a-checkpoint",
        ["train", "cgan", "--resume", "--no-progress", "--out", "nowhere/cgan.pt"],
        2,
        ("--resume: no checkpoint at nowhere/cgan.pt", "leave out --resume"),
    ),
]

TABLE = {
    "config": CONFIG,
    "checkpoint": CHECKPOINTS,
    "data": DATA,
    "divergence": DIVERGENCE,
    "synthetic": SYNTHETIC_CLI,
    "outputs": OUTPUTS,
    "tracking": TRACKING,
    "hostile": HOSTILE,
}
ROWS = [pytest.param(row, id=f"{category}-{row.id}") for category, rows in TABLE.items() for row in rows]

STAGES = {  # stage -> (module, body, whether it takes an item: the module's ITEMS, read from the params)
    "prepare": ("pipelines.prepare", "prepare", None),
    "train_generator": ("pipelines.train_generator", "train", "ITEMS"),
    "sample": ("pipelines.sample", "sample", "ITEMS"),
    "restyle": ("pipelines.restyle", "restyle", "ITEMS"),
    "train_filter": ("pipelines.train_filter", "train", None),
    "train_classifier": ("pipelines.train_classifier", "train", "ITEMS"),
    "evaluate": ("pipelines.evaluate", "evaluate", "ITEMS"),
    "judge": ("pipelines.judge", "judge", None),
    "compare": ("pipelines.compare", "compare", None),
}


# progress of long work before the failure: tqdm's bar on a terminal, augment.core.progress's plain lines elsewhere
PROGRESS_BAR = re.compile(r"\d+%\|.*\| \d+/\d+ \[|: \d+ % \(\d+/\d+ \w+\)")


def run_row(row: Row, project: Path, capsys) -> tuple[int, str]:
    if row.subprocess:
        module = "augment.cli" if row.entry == "augment" else STAGES[row.entry][0]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
        env.update(row.env(project) if row.env else {})
        result = subprocess.run(
            [sys.executable, "-m", module, *row.argv], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        return result.returncode, result.stderr
    if row.env:
        for key, value in row.env(project).items():
            os.environ[key] = value  # removed again by the `project` fixture's monkeypatch
    try:
        if row.entry == "augment":
            code = main(row.argv)
        else:
            module_name, body, items = STAGES[row.entry]
            module = importlib.import_module(module_name)
            choices = getattr(module, items) if items else None
            code = run_stage(row.entry, getattr(module, body), row.argv, choices)
    except SystemExit as exit_info:  # argparse's own usage errors
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("row", ROWS)
def test_bad_input_ends_in_one_line_and_leaves_no_partial_output(row: Row, project: Path, capsys, monkeypatch):
    if row.env:
        for key in row.env(project):
            monkeypatch.setenv(key, "")  # registers the key for removal after the test
    try:
        if row.setup:
            row.setup(project)
        capsys.readouterr()
        before = snapshot(project)
        code, err = run_row(row, project, capsys)
    finally:
        while _UNDO:
            _UNDO.pop().undo()
    lines = [line for line in err.strip().splitlines() if line.strip() and not PROGRESS_BAR.search(line)]
    assert code == row.code, err
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line (after any progress bars), got:\n{err}"
    for fragment in row.message:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    if row.unchanged:
        after = snapshot(project)
        assert sorted(after) == sorted(before), f"files added or removed: {set(after) ^ set(before)}"
        assert [k for k in after if after[k] != before[k]] == [], "files changed"
    if row.check:
        row.check(project)
    # Tracking rows: "unchanged" above shows the store was checked before any work — a training
    # stage writes its checkpoint after the first epoch, so a late failure would leave one.


# Case 7: SyntheticDataset, the Python entry point ------------------------------------------
SYNTHETIC_API = [
    ("unknown-model", dict(model="gan"), ValueError, ("unknown model 'gan' (did you mean 'cgan'?)", "cvae, cgan")),
    (
        "missing-checkpoint",
        dict(model="cgan", root="nowhere"),
        FileNotFoundError,
        ("no checkpoint at nowhere/cgan.pt", "augment train cgan", "dvc repro"),
    ),
    ("label-outside-classes", dict(labels=[0, 3, 10]), ValueError, ("labels: values must be in [0, 10)", "index 2")),
    ("negative-label", dict(labels=[-1]), ValueError, "labels: values must be in [0, 10)"),
    (
        "negative-num-samples",
        dict(num_samples=-1),
        ValueError,
        "num_samples: must be an integer in [0, 10000000], got -1",
    ),
    ("negative-per-class", dict(per_class=-3), ValueError, "per_class: must be an integer >= 0, got -3"),
    ("negative-count-in-per-class", dict(per_class=[1] * 9 + [-1]), ValueError, "per_class"),
    ("negative-seed", dict(num_samples=5, seed=-1), ValueError, f"seed: must be an integer in [0, {MAX_SEED}]"),
    ("other-kind-checkpoint", dict(model="cvae"), CheckpointError, "holds a 'cgan' model, expected 'cvae'"),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=f"synthetic-api-{c[0]}") for c in SYNTHETIC_API])
def test_synthetic_dataset_bad_arguments(case, project):
    name, kwargs, error, fragments = case
    fragments = (fragments,) if isinstance(fragments, str) else fragments
    if name == "other-kind-checkpoint":
        checkpoint_of(CKPT, "cgan")(project)
    kwargs = {"model": "cvae", "root": "models/generators", **kwargs}
    before = snapshot(project)
    with pytest.raises(error) as info:
        SyntheticDataset(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert snapshot(project) == before


@pytest.mark.parametrize("index", [10, -11, 10**9])
def test_synthetic_dataset_index_out_of_range_is_an_index_error(project, index):
    dataset = SyntheticDataset("cvae", 10, root="models/generators")
    with pytest.raises(IndexError, match=f"index {index} is out of range for a SyntheticDataset of 10 items"):
        dataset[index]
    assert dataset[-10][1] == dataset[0][1]  # negative indices count from the end, like a list
    with pytest.raises(TypeError):
        dataset[1.5]


# --------------------------------------------------------------------------------------------
# Case 1, property-based: the validator (augment/params/config.py)
# --------------------------------------------------------------------------------------------

INT_KEYS = [f"generators.{m}.{k}" for m in MODEL_NAMES for k in ("epochs", "batch_size", "latent_dim", "width")]
INT_KEYS += [
    "generators.cgan.d_steps",
    "generators.cvaegan.d_steps",
    "sample.per_class",
    "classifier.steps",
    "classifier.batch_size",
    "evaluation.judge.steps",
]
NON_NEGATIVE_KEYS = [
    "generators.cvaegan.gamma",
    "classifier.synthetic_ratio",
    "generators.cvae.kl_weight",
    "generators.cvaegan.kl_weight",
]
POSITIVE_FLOAT_KEYS = [f"generators.{m}.lr" for m in MODEL_NAMES] + ["classifier.lr", "data.train_size"]
# the size limits (augment/settings/sections.py) of the INT_KEYS that have one
SIZE_LIMITS = {
    **{f"generators.{m}.batch_size": MAX_BATCH for m in MODEL_NAMES},
    **{f"generators.{m}.width": MAX_WIDTH for m in MODEL_NAMES},
    **{f"generators.{m}.latent_dim": MAX_LATENT_DIM for m in MODEL_NAMES},
    "classifier.batch_size": MAX_BATCH,
    "sample.per_class": MAX_IMAGES,
}
SEED_KEYS = ["data.seed", "generators.seed", "sample.seed", "evaluation.seed", "evaluation.judge.seed"]
VALID = set(all_keys())
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _flat(params: Params) -> dict:
    return flatten(params.to_dict())


def _load(key: str, value) -> Params:
    return params_from_dict(apply_overrides({}, [(key, value)]))


@PROPERTY
@given(key=st.sampled_from(INT_KEYS), value=st.integers(1, 10**6))
def test_valid_int_values_round_trip_through_set_text(key, value):
    value = min(value, SIZE_LIMITS.get(key, value))
    parsed = parse_override(f"{key}={value}")
    assert parsed == (key, value)
    assert _flat(_load(*parsed))[key] == value


@PROPERTY
@given(
    key=st.sampled_from(NON_NEGATIVE_KEYS + POSITIVE_FLOAT_KEYS),
    value=st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False),
    style=st.sampled_from(["repr", "e"]),
)
def test_valid_float_values_round_trip_through_set_text(key, value, style):
    if key == "data.train_size" and value > 1:
        value = float(int(value))  # counts must be whole numbers (checked when the data loads)
    text = repr(value) if style == "repr" else f"{value:e}"  # 1e-05 style: YAML 1.1 reads it as a string
    key_, parsed = parse_override(f"{key}={text}")
    assert _flat(_load(key_, parsed))[key] == float(text)


@PROPERTY
@given(key=st.sampled_from(SEED_KEYS), value=st.integers(0, MAX_SEED))
def test_every_seed_in_range_is_accepted(key, value):
    assert _flat(_load(key, value))[key] == value


@PROPERTY
@given(key=st.sampled_from(INT_KEYS), value=st.integers(max_value=0))
def test_ints_below_one_are_rejected_naming_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        _load(key, value)
    allowed = f"an integer in [1, {SIZE_LIMITS[key]}]" if key in SIZE_LIMITS else "an integer >= 1"
    assert str(info.value) == f"{key}: must be {allowed}, got {value}"


@PROPERTY
@given(key=st.sampled_from(sorted(SIZE_LIMITS)), excess=st.integers(1, 10**12))
def test_sizes_above_their_limit_are_rejected_naming_the_key_and_the_limit(key, excess):
    value = SIZE_LIMITS[key] + excess  # e.g. latent_dim: 1000000000, which would allocate terabytes
    with pytest.raises(ConfigError) as info:
        _load(key, value)
    assert str(info.value) == f"{key}: must be an integer in [1, {SIZE_LIMITS[key]}], got {value}"


@PROPERTY
@given(key=st.sampled_from(SEED_KEYS), value=st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_SEED + 1)))
def test_seeds_out_of_range_are_rejected(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: must be an integer in \\[0, {MAX_SEED}\\]"):
        _load(key, value)


@PROPERTY
@given(key=st.sampled_from(NON_NEGATIVE_KEYS), value=st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False))
def test_negative_weights_are_rejected(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: must be a number >= 0"):
        _load(key, value)


@PROPERTY
@given(key=st.sampled_from(INT_KEYS + SEED_KEYS), value=st.floats())  # 5.0, 2.5, nan, inf: all floats
def test_floats_for_int_keys_are_rejected(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: expected an integer"):
        _load(key, value)


@PROPERTY
@given(
    key=st.sampled_from(INT_KEYS + NON_NEGATIVE_KEYS + POSITIVE_FLOAT_KEYS),
    value=st.one_of(
        st.booleans(),
        st.text(max_size=5).filter(lambda s: not _is_number(s)),
        st.none(),
        st.lists(st.integers(), max_size=2),
    ),
)
def test_wrong_types_for_numbers_are_rejected(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: expected an? "):
        _load(key, value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@PROPERTY
@given(
    key=st.sampled_from(NON_NEGATIVE_KEYS + POSITIVE_FLOAT_KEYS),
    value=st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)
def test_non_finite_numbers_are_rejected(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: expected a finite number"):
        _load(key, value)


NAME = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True)


@PROPERTY
@given(
    section=st.sampled_from(["", "data.", "generators.", "generators.cvaegan.", "evaluation.judge.", "tracking."]),
    leaf=NAME,
)
def test_unknown_keys_are_rejected_and_named(section, leaf):
    key = section + leaf
    if key in VALID or any(k.startswith(key + ".") for k in VALID):
        return
    with pytest.raises(ConfigError) as info:  # through --set
        load_params(None, [f"{key}=1"])
    assert f"unknown key {key!r}" in str(info.value)
    raw: dict = {}
    node = raw
    for part in key.split(".")[:-1]:
        node = node.setdefault(part, {})
    node[key.split(".")[-1]] = 1
    with pytest.raises(ConfigError) as info:  # in the file
        params_from_dict(raw)
    assert f"unknown key {key!r}" in str(info.value)


@PROPERTY
@given(key=st.sampled_from(sorted(VALID)))
def test_one_typo_suggests_the_key(key):
    typo = key[:-1] + ("x" if key[-1] != "x" else "y")
    if typo in VALID:
        return
    with pytest.raises(ConfigError, match="did you mean"):
        load_params(None, [f"{typo}=1"])


@PROPERTY
@given(value=st.text(min_size=1, max_size=12).filter(lambda s: s not in DATASETS and "\n" not in s))
def test_unknown_dataset_lists_the_valid_ones(value):
    with pytest.raises(ConfigError) as info:
        _load("data.dataset", value)
    assert str(info.value).startswith("data.dataset: must be one of: " + ", ".join(DATASETS))


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True), st.text(max_size=6))
KEYS = st.one_of(st.sampled_from(sorted({k.split(".")[-1] for k in VALID} | {"data", "generators", "cvae"})), NAME)
TREES = st.recursive(SCALARS, lambda children: st.dictionaries(KEYS, children, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(
    raw=st.dictionaries(
        st.sampled_from(
            [
                "data",
                "generators",
                "sample",
                "classifier",
                "evaluation",
                "paths",
                "tracking",
                "device",
                "cpu_threads",
                "extra",
            ]
        ),
        TREES,
        max_size=4,
    )
)
def test_any_mapping_is_valid_params_or_one_config_error(raw):
    """Whatever a hand-edited params.yaml holds: Params, or a ConfigError of one line (never a
    TypeError, KeyError or a multi-line message)."""
    try:
        params = params_from_dict(raw)
    except ConfigError as err:
        assert "\n" not in str(err)
        assert str(err)
    else:
        assert isinstance(params, Params)


# --------------------------------------------------------------------------------------------
# Case 4: interruption
# --------------------------------------------------------------------------------------------

INTERRUPT_PARAMS = {  # about a second per epoch on one core: kills land mid-epoch
    "data": {"train_size": 1.0},
    "generators": {"grid_every": 2, "cvaegan": {"epochs": 5, "batch_size": 32, "latent_dim": 4, "width": 8}},
    "cpu_threads": 1,
}


def _interrupt_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(tiny_params_yaml(INTERRUPT_PARAMS), sort_keys=False))
    return folder


def _augment(*argv: str) -> list[str]:
    return [sys.executable, "-m", "augment.cli", *argv]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AUGMENT_"))}
    return {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _epoch_of(path: Path) -> int:
    """The finished epoch in a checkpoint that the trainer may be replacing right now (atomic
    renames: a reader sees the old file or the new one, never half of either)."""
    try:
        return read_checkpoint(path)["training"]["epoch"]
    except CheckpointError:
        return 0


def _default_sigint() -> None:
    """In the child, before exec: SIGINT back to its default action. A test runner started in the
    background (``cmd &``, nohup, some CI) inherits SIGINT *ignored*, and so would the child: Ctrl-C
    would then never reach it. Python installs its KeyboardInterrupt handler only over the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_training(folder: Path, stdout=subprocess.PIPE) -> subprocess.Popen:
    """`augment train cvaegan` in the background, in ``folder``, Ctrl-C-able (see above)."""
    return subprocess.Popen(
        _augment("train", "cvaegan", "--no-progress"),
        cwd=folder,
        env=_env(),
        preexec_fn=_default_sigint,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_epoch(process: subprocess.Popen, path: Path, epoch: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.is_file() and (found := _epoch_of(path)) >= epoch:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} after {timeout} s")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same training, never interrupted, started in the background."""
    folder = _interrupt_project(tmp_path_factory.mktemp("reference") / "project")
    process = _start_training(folder)

    def result() -> Path:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        return folder

    yield result
    if process.poll() is None:  # a test failed before it needed the reference
        process.kill()
        process.wait()


def _assert_same_training(resumed: Path, reference: Path) -> dict:
    a = read_checkpoint(resumed / "models/generators/cvaegan.pt")
    b = read_checkpoint(reference / "models/generators/cvaegan.pt")
    assert a["training"]["epoch"] == b["training"]["epoch"] == 5
    differences = {
        k: (a["state_dict"][k].double() - b["state_dict"][k].double()).abs().max().item() for k in b["state_dict"]
    }
    assert max(differences.values()) == 0.0, {k: d for k, d in differences.items() if d}
    for k in b["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert a["training"]["history"] == b["training"]["history"]
    report = "reports/generators/cvaegan/losses.csv"
    assert (resumed / report).read_text() == (reference / report).read_text()
    return {
        "max_abs_difference": max(differences.values()),
        "checkpoint_bytes_equal": (resumed / "models/generators/cvaegan.pt").read_bytes()
        == (reference / "models/generators/cvaegan.pt").read_bytes(),
    }


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted):
    folder = _interrupt_project(tmp_path / "project")
    checkpoint = folder / "models/generators/cvaegan.pt"
    process = _start_training(folder, stdout=subprocess.DEVNULL)
    epoch = _wait_for_epoch(process, checkpoint, 2)
    time.sleep(0.3)  # into the next epoch
    process.kill()  # SIGKILL: no cleanup runs at all
    process.wait()
    kept = _epoch_of(checkpoint)
    assert epoch <= kept < 5, "killed too late to test a resume"
    assert read_checkpoint(checkpoint)["training"]["epoch"] == kept  # loadable, never half-written

    result = subprocess.run(
        _augment("train", "cvaegan", "--no-progress", "--resume"),
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "cvaegan: 5 epochs" in result.stdout
    measured = _assert_same_training(folder, uninterrupted())
    assert measured["max_abs_difference"] == 0.0
    assert measured["checkpoint_bytes_equal"]  # even the optimizer moments and RNG state match
    leftovers = [p.name for p in checkpoint.parent.iterdir() if p.name != "cvaegan.pt"]
    assert leftovers == [], "the killed run's temporary file was not cleaned up"


def test_sigint_stops_cleanly_keeps_the_last_epoch_and_resume_finishes(tmp_path, uninterrupted):
    folder = _interrupt_project(tmp_path / "project")
    checkpoint = folder / "models/generators/cvaegan.pt"
    process = _start_training(folder)
    _wait_for_epoch(process, checkpoint, 1)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    kept = read_checkpoint(checkpoint)["training"]["epoch"]  # intact and loadable
    assert 1 <= kept < 5
    assert lines[0] == (
        f"augment train: interrupted: cvaegan: training interrupted; the checkpoint of epoch "
        f"{kept} is kept: models/generators/cvaegan.pt (continue with --resume)"
    )
    assert [p.name for p in checkpoint.parent.iterdir()] == ["cvaegan.pt"]

    result = subprocess.run(
        _augment("train", "cvaegan", "--no-progress", "--resume"),
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert _assert_same_training(folder, uninterrupted())["max_abs_difference"] == 0.0
    progress = sorted(p.name for p in (folder / "reports/generators/cvaegan/progress").iterdir())
    assert progress == ["epoch_002.png", "epoch_004.png", "epoch_005.png"]


DVC_TINY = {
    "data": {"train_size": 300},
    "generators": {
        "grid_every": 5,
        **{n: {"epochs": 3, "latent_dim": 4, "width": 8} for n in MODEL_NAMES},
        "cfm": dict(TINY_CFM),
    },
    # untrained nets: keep every image
    "sample": {"per_class": 30, "filter": {"threshold": 0.0}, "generators": {"cfm": dict(TINY_CFM_SAMPLING)}},
    "classifier": {"seeds": [0, 1], "steps": 20, "width": 8},
    "evaluation": {"max_images": 50, "kid_subsets": 2, "kid_subset_size": 20, "judge": {"steps": 20, "width": 8}},
    # Interruption is DVC's and the stages' business, not MLflow's (tests/test_pipeline.py and
    # tests/test_mlflow_server.py cover tracking through dvc repro); without it every stage
    # starts a few seconds sooner, which keeps the suite under its 10 minutes.
    "tracking": {"enabled": False},
}
DVC_TINY["generators"]["cvae"]["epochs"] = 40  # a few seconds of training: Ctrl-C lands in it


# The interrupted repro's target: a branch of the DAG with every kind of stage an interruption can
# hit (prepare, train_filter, a generator's training, a sample, a classifier), a quarter of the
# pipeline's stages, so the test stays within the suite's time.
REPRO_TARGET = "train_classifier@cvae"


def _start_repro(project: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["dvc", "repro", REPRO_TARGET],
        cwd=project,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        # its own process group: the signal reaches every stage
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _wait_for_text(process: subprocess.Popen, log: Path, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert process.poll() is None, f"dvc repro ended before {text!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in {timeout} s")


@pytest.mark.slow
def test_interrupted_dvc_repro_then_dvc_repro_finishes(tmp_path):
    """Ctrl-C (SIGINT to the process group) during train_generator, then SIGKILL of the whole
    group during a later stage; the same `dvc repro <target>` afterwards finishes and is complete."""
    project = tmp_path / "project"
    env = copy_project(project, DVC_TINY)

    # 1. Ctrl-C while a generator trains.
    log = tmp_path / "repro1.log"
    process = _start_repro(project, env, log)
    _wait_for_text(process, log, "Running stage 'train_generator@cvae'")
    _wait_for_text(process, log, "train cvae", timeout=60)  # the stage's own output: it is training
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=120) != 0
    result = project / "reports/classifiers/cvae.json"
    assert not result.exists()

    # 2. SIGKILL of dvc and its stage together, later in the pipeline: no cleanup at all.
    log = tmp_path / "repro2.log"
    process = _start_repro(project, env, log)
    _wait_for_text(process, log, "Running stage 'sample@")
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)

    # 3. A plain rerun: stale locks of dead processes are DVC's to clear, and it does.
    log = tmp_path / "repro3.log"
    process = _start_repro(project, env, log)
    assert process.wait(timeout=600) == 0, log.read_text()[-4000:]
    assert json.loads(result.read_text())["source"] == "cvae"
    status = subprocess.run(
        ["dvc", "status", "--json", REPRO_TARGET], cwd=project, env=env, capture_output=True, text=True
    )
    assert json.loads(status.stdout or "{}") == {}
    partial = [str(p.relative_to(project)) for p in project.rglob("*.partial*") if ".git" not in p.parts]
    assert partial == [], "temporary files of the killed stages were left behind"


# --------------------------------------------------------------------------------------------
# Case 6: determinism on the CPU
# --------------------------------------------------------------------------------------------


def test_augment_sample_is_byte_identical_across_runs(project, capsys):
    for run in ("a", "b"):
        assert (
            main(["sample", "cvaegan", "-n", "120", "--seed", "7", "--out", f"{run}.pt", "--grid", f"{run}.png"]) == 0
        )
    a = torch.load(project / "a.pt", weights_only=True)
    b = torch.load(project / "b.pt", weights_only=True)
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
    assert (project / "a.pt").read_bytes() == (project / "b.pt").read_bytes()  # torch.save adds nothing variable
    assert (project / "a.png").read_bytes() == (project / "b.png").read_bytes()


def test_augment_train_is_byte_identical_across_runs(project):
    for run in ("a", "b"):
        assert main(["train", "cgan", "--no-progress", "--out", f"{run}.pt"]) == 0
    assert (project / "a.pt").read_bytes() == (project / "b.pt").read_bytes()


def test_classifier_metrics_are_identical_across_runs(project, capsys):
    results = []
    for _ in range(2):
        assert run_stage("train_classifier", train_classifier_stage, ["cvae"], SOURCES) == 0
        results.append(
            {
                p.name: p.read_bytes()
                for p in sorted((project / "reports/classifiers").iterdir())
                if p.suffix in (".json", ".csv")
            }
        )
        results[-1].update(
            {
                p.name: torch.load(p, weights_only=True)["state_dict"]
                for p in sorted((project / "models/classifiers/cvae").iterdir())
            }
        )
    first, second = results
    assert first.keys() == second.keys()
    for name in first:
        if name.endswith(".pt"):
            assert all(torch.equal(first[name][k], second[name][k]) for k in first[name]), name
        else:
            assert first[name] == second[name], name


def test_synthetic_dataset_items_identical_across_worker_counts(project):
    def items(workers: int) -> tuple[torch.Tensor, torch.Tensor]:
        dataset = SyntheticDataset(
            "cvaegan", 90, seed=3, root="models/generators", batch_size=16, transform=PILToTensor()
        )
        loader = DataLoader(
            dataset, batch_size=7, num_workers=workers, multiprocessing_context="fork" if workers else None
        )
        images, labels = zip(*loader, strict=True)
        return torch.cat(images), torch.cat(labels)

    zero, two = items(0), items(2)
    assert torch.equal(zero[0], two[0]) and torch.equal(zero[1], two[1])
