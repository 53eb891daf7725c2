"""Throughput benchmarks (not tests): training and sampling speed of each generator, and
SyntheticDataset iteration speed against an in-memory torchvision-style dataset.

    .venv/bin/python benchmarks/throughput.py            # full run (~1-2 minutes on 2 CPU cores)
    .venv/bin/python benchmarks/throughput.py --quick    # a smoke run (seconds)
    .venv/bin/python benchmarks/throughput.py --device cuda

See benchmarks/README.md for what each figure means. The process's torch thread count is left as
it is (set OMP_NUM_THREADS to change it); it is printed with the machine's load, because other
busy processes on the same cores distort every figure here.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import ToTensor

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from augment.core.acceleration import prepare_networks  # noqa: E402
from augment.data.splits import load_splits  # noqa: E402
from augment.models import REGISTRY, build_model  # noqa: E402
from augment.params.config import DEFAULT_PARAMS_FILE, AccelerationConfig, DataConfig, Params  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.params.sampling import apply_sampling  # noqa: E402
from augment.sampling.generation import sample_images  # noqa: E402
from augment.synthesis.synthetic import SyntheticDataset  # noqa: E402
from augment.training.device import configure_torch, resolve_device  # noqa: E402
from augment.training.loop import train_one_step  # noqa: E402
from evaluation.classifiers.net import build_classifier  # noqa: E402
from evaluation.classifiers.training import classifier_step  # noqa: E402

MNIST_TEST_IMAGES = REPO / ".." / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
TARGET_RATIO = 1.2  # SyntheticDataset may take at most this many times the in-memory time
LOADER_BATCH = 64


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def read_idx_images(path: Path) -> np.ndarray:
    """A gzipped IDX image file (MNIST's format) -> uint8 [N, H, W].

    Header: magic 0x00000803 (unsigned byte, 3 dimensions), then N, H, W as big-endian int32.
    """
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">i4")
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX image file (magic {magic}, expected 2051)")
    return np.frombuffer(raw[16:], dtype=np.uint8, count=n * h * w).reshape(n, h, w)


def digits_images() -> tuple[torch.Tensor, str]:
    """The digits training split [N, 1, 8, 8] in [0, 1], or random images if it cannot load."""
    try:
        return load_splits(DataConfig(dataset="digits")).train.images, "digits (training split)"
    except Exception as err:  # noqa: BLE001 - a benchmark falls back rather than stops
        return torch.rand(1437, 1, 8, 8), f"random 1x8x8 tensors (digits unavailable: {err})"


def mnist_images() -> tuple[torch.Tensor, str]:
    """The real MNIST test set [10000, 1, 28, 28] in [0, 1] when present, else random tensors."""
    path = MNIST_TEST_IMAGES.resolve()
    if path.is_file():
        pixels = torch.from_numpy(read_idx_images(path).copy())  # [N, 28, 28] uint8
        return pixels.unsqueeze(1).float().div_(255.0), f"MNIST test set ({path})"
    return torch.rand(10000, 1, 28, 28), f"random 1x28x28 tensors (no MNIST test set at {path})"


# --------------------------------------------------------------------------------------------
# Timing helpers
# --------------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(repeats: int, fn: Callable[[], None]) -> float:
    """The fastest of ``repeats`` timed calls, in seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# --------------------------------------------------------------------------------------------
# 1. Training throughput: the training loops' own step on fixed batches
# --------------------------------------------------------------------------------------------


def fixed_batches(images: torch.Tensor, n: int, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` batches of ``batch`` images and labels drawn with seed 0, moved to ``device`` once
    (outside any timing): [n, B, C, H, W] and [n, B]."""
    g = torch.Generator().manual_seed(0)
    picks = torch.randint(len(images), (n, batch), generator=g)
    return images[picks].to(device), torch.randint(10, (n, batch), generator=g).to(device)


def timed_steps(step: Callable[[int], None], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds of ``steps`` calls step(warmup), ..., after ``warmup`` untimed ones (which also
    absorb torch.compile's compilation), synchronised on CUDA."""
    for i in range(warmup):
        step(i)
    sync(device)
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    sync(device)
    return time.perf_counter() - start


def train_throughput(
    name: str,
    params: Params,
    images: torch.Tensor,
    device: torch.device,
    warmup: int,
    steps: int,
    acceleration: AccelerationConfig | None = None,
    config: Any = None,
) -> tuple[float, float]:
    """(images/s, ms per step) of ``steps`` training steps after ``warmup`` untimed ones: the
    training loop's own step (augment.training.loop.train_one_step: train_step and the moving
    average) with ``acceleration``'s options; ``config``: the model's settings instead of
    ``params``'."""
    config = config if config is not None else params.generator(name)
    batch = config.batch_size
    torch.manual_seed(0)
    model = build_model(name, config, tuple(images.shape[1:]), 10).to(device).train()
    prepare_networks(model.trained_networks(), acceleration)
    optimizers = model.make_optimizers()
    xs, ys = fixed_batches(images, warmup + steps, batch, device)
    elapsed = timed_steps(
        lambda i: train_one_step(model, xs[i], ys[i], optimizers, acceleration), warmup, steps, device
    )
    return steps * batch / elapsed, 1000 * elapsed / steps


def sample_throughput(
    name: str, params: Params, shape: tuple[int, ...], device: torch.device, n: int, repeats: int
) -> tuple[float, str]:
    """Images per second of ``sample_images`` (the sample stage's and SyntheticDataset's path:
    blocks of 256, the model's own sampler with params' ``sample.generators.<name>``, e.g.
    cfm's ``solver`` and ``sample_steps``) for ``n`` class-balanced labels, best of ``repeats`` after one untimed block,
    and the model's own description of its sampler. An untrained network of the configured size:
    the cost is the architecture's, not the weights'."""
    torch.manual_seed(0)
    model = build_model(name, params.generator(name), shape, 10).to(device).eval()
    apply_sampling(model, params.sampling(name))  # how the sample stage draws
    labels = torch.arange(n) % 10  # [n]
    sample_images(model, labels[:16], seed=0)  # warm-up
    return n / best_of(repeats, lambda: sample_images(model, labels, seed=0)), model.describe_sampling()


def classifier_throughput(
    params: Params,
    images: torch.Tensor,
    device: torch.device,
    warmup: int,
    steps: int,
    acceleration: AccelerationConfig | None = None,
) -> tuple[float, float]:
    """(images/s, ms per step) of the downstream classifier's step
    (evaluation.classifiers.training.classifier_step), ``params.classifier``'s width and batch size."""
    cfg = params.classifier
    model = build_classifier(tuple(images.shape[1:]), 10, cfg.width, seed=0).to(device).train()
    prepare_networks([model], acceleration)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xs, ys = fixed_batches(images, warmup + steps, cfg.batch_size, device)
    elapsed = timed_steps(
        lambda i: classifier_step(model, optimizer, xs[i], ys[i], acceleration), warmup, steps, device
    )
    return steps * cfg.batch_size / elapsed, 1000 * elapsed / steps


# --------------------------------------------------------------------------------------------
# 2. Iteration throughput: SyntheticDataset against an in-memory dataset
# --------------------------------------------------------------------------------------------


class InMemoryDataset(Dataset):
    """The baseline: torchvision's MNIST pattern (uint8 array -> PIL -> transform).

    It indexes a numpy array and a list (MNIST indexes a torch tensor, which costs a little more
    per item), so the comparison is against the fastest form of the pattern.
    """

    def __init__(self, data: np.ndarray, targets: list[int], transform: Callable) -> None:
        self.data = data  # [N, H, W] uint8
        self.targets = targets  # [N] ints
        self.transform = transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        image, target = Image.fromarray(self.data[index]), self.targets[index]
        return self.transform(image), target


def one_pass(dataset: Dataset) -> None:
    for _images, _targets in DataLoader(dataset, batch_size=LOADER_BATCH, num_workers=0):
        pass


def iteration_rows(
    label: str, params: Params, real: torch.Tensor, n: int, device: torch.device, repeats: int
) -> list[tuple[str, str, float, float | None]]:
    """(shape, what, images/s, time ratio to in-memory) for the baseline, the first pass
    (generation included) and a cached pass of a SyntheticDataset of ``n`` items."""
    shape = tuple(real.shape[1:])
    torch.manual_seed(0)
    model = build_model("cvaegan", params.generator("cvaegan"), shape, 10)  # untrained: same cost
    reps = -(-n // len(real))
    data = (real.repeat(reps, 1, 1, 1)[:n, 0] * 255).round().to(torch.uint8).numpy()  # [n, H, W]
    baseline = InMemoryDataset(data, [i % 10 for i in range(n)], ToTensor())

    t_base = best_of(repeats, lambda: one_pass(baseline))

    def first_pass() -> None:
        one_pass(SyntheticDataset(model, n, transform=ToTensor(), device=device))

    t_first = best_of(max(1, repeats - 1), first_pass)
    synthetic = SyntheticDataset(model, n, transform=ToTensor(), device=device)
    one_pass(synthetic)  # fills the cache
    t_cached = best_of(repeats, lambda: one_pass(synthetic))
    return [
        (label, "in-memory (uint8 -> PIL -> ToTensor)", n / t_base, None),
        (label, "SyntheticDataset, first pass (generates)", n / t_first, t_first / t_base),
        (label, "SyntheticDataset, cached pass", n / t_cached, t_cached / t_base),
    ]


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and items: a smoke run")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: %(default)s)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch.set_num_threads for this run (default: params.yaml's cpu_threads, as the pipeline)",
    )
    parser.add_argument(
        "--params",
        default=str(REPO / DEFAULT_PARAMS_FILE),
        help="networks, batch sizes and threads of the 8x8 rows (default: params.yaml)",
    )
    parser.add_argument(
        "--params-28",
        default=str(REPO / "params-mnist.yaml"),
        help="networks and batch sizes of the 28x28 rows (default: the 28x28 profile)",
    )
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    params = load_params(args.params) if Path(args.params).is_file() else Params()
    params_28 = load_params(args.params_28) if Path(args.params_28).is_file() else params
    configure_torch(params)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    warmup, steps = (1, 5) if args.quick else (3, 20)
    n_items, repeats = (2000, 2) if args.quick else (10000, 3)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"augment throughput — torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"device {device}, {os.cpu_count()} CPUs, load average {load:.2f} "
        f"({platform.processor() or platform.machine()})"
    )
    if load > (os.cpu_count() or 1) * 0.5:
        print(
            "  note: the machine is busy; other processes on these cores slow every figure below "
            "(try --threads 1, or rerun when idle)"
        )
    digits, digits_src = digits_images()
    mnist, mnist_src = mnist_images()
    print(f"8x8 data:   {digits_src}; networks from {args.params}")
    print(f"28x28 data: {mnist_src}; networks from {args.params_28 if Path(args.params_28).is_file() else args.params}")
    print()

    print(
        f"Training: the loop's step (train_step + moving average), batch = generators.<model>.batch_size, "
        f"{steps} timed steps after {warmup} warm-up"
    )
    print(f"{'model':<9}{'data':<10}{'width':>6}{'batch':>6}{'images/s':>11}{'ms/step':>10}")
    for name in REGISTRY:
        for label, images, source in (("1x8x8", digits, params), ("1x28x28", mnist, params_28)):
            cfg = source.generator(name)
            rate, ms = train_throughput(name, source, images, device, warmup, steps)
            print(f"{name:<9}{label:<10}{cfg.width:>6}{cfg.batch_size:>6}{rate:>11,.0f}{ms:>10.1f}")
    print()

    print(
        "DiffAugment: the same step with the discriminator's inputs through colour, translation and "
        "cutout (diffaugment_p 1), against the profile's setting, 28x28"
    )
    print(f"{'model':<9}{'data':<10}{'off ms':>9}{'on ms':>9}{'ratio':>8}")
    for name in REGISTRY:
        cfg = params_28.generator(name)
        if not hasattr(cfg, "diffaugment"):  # a model without a discriminator to augment
            continue
        on = dataclasses.replace(cfg, diffaugment=["colour", "translation", "cutout"], diffaugment_p=1.0)
        off = dataclasses.replace(cfg, diffaugment=[])
        ms_off = train_throughput(name, params_28, mnist, device, warmup, steps, config=off)[1]
        ms_on = train_throughput(name, params_28, mnist, device, warmup, steps, config=on)[1]
        print(f"{name:<9}{'1x28x28':<10}{ms_off:>9.1f}{ms_on:>9.1f}{ms_on / ms_off:>7.2f}x")
    print()

    n_samples = 256 if args.quick else 1024
    print(f"Sampling: sample_images (blocks of 256, each model's sampler as configured), {n_samples} images, best of 2")
    print(f"{'model':<9}{'data':<10}{'width':>6}{'images/s':>11}  sampler")
    for name in REGISTRY:
        for label, images, source in (("1x8x8", digits, params), ("1x28x28", mnist, params_28)):
            cfg = source.generator(name)
            rate, how = sample_throughput(name, source, tuple(images.shape[1:]), device, n_samples, 2)
            print(f"{name:<9}{label:<10}{cfg.width:>6}{rate:>11,.0f}  {how}")
    print()

    print(
        f"Iteration: DataLoader(batch_size={LOADER_BATCH}, num_workers=0), ToTensor, "
        f"{n_items} items, cvaegan generator (generation batch 256), best of {repeats}"
    )
    print(f"{'shape':<9}{'dataset':<43}{'images/s':>10}{'time ratio':>12}  target {TARGET_RATIO}x")
    verdicts = []
    for label, images, source in (("1x8x8", digits, params), ("1x28x28", mnist, params_28)):
        for shape, what, rate, ratio in iteration_rows(label, source, images, n_items, device, repeats):
            verdict = ""
            if ratio is not None:
                ok = ratio <= TARGET_RATIO
                verdict = "PASS" if ok else "FAIL"
                if "cached" in what:
                    verdicts.append(ok)
            shown = f"{ratio:.2f}x" if ratio is not None else "1.00x"
            print(f"{shape:<9}{what:<43}{rate:>10,.0f}{shown:>12}  {verdict}")
    print()
    print(
        "cached-pass target (SyntheticDataset within "
        f"{TARGET_RATIO}x of in-memory): {'PASS' if all(verdicts) else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
