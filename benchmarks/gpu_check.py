"""GPU check: does every stage run on the device, and which `acceleration` options pay there?

    bash benchmarks/gpu_check.sh                      # on a GPU machine: about 2 minutes (H200)
    bash benchmarks/gpu_check.sh --device cpu --quick # the same checks on the CPU (minutes)

Two parts, each printed as it goes and written to ``--out`` (gpu_check_pipeline.csv,
gpu_check_speed.csv):

1. **Pipeline**: every stage of dvc.yaml, in its order, with ``device`` as given (``auto``: CUDA
   when present), on the bundled 8x8 digits and shortened (2 generator epochs, 60 classifier
   steps, 2 seeds, 150 images per class: a run that proves each stage works on the device, not a result). The stages
   run in this process through their own entry points (as ``dvc repro`` runs
   ``python -m pipelines.<stage>``, without DVC, which a GPU machine may lack), with every output
   path under a temporary folder and MLflow tracking off. Each stage's seconds, and the
   accuracies of the resulting reports/metrics.json.
2. **Speed**: milliseconds per training step at 28x28 (the 28x28 profile's networks,
   params-mnist.yaml; random images: pixel values do not change the speed) for each generator
   and the downstream classifier, the loops' own steps (benchmarks/throughput.py), on the CPU
   and on the device, for each combination of ``acceleration`` options in ``--variants``.
   ``compile`` rows take their warm-up steps to compile; the seconds that took are printed.

Needs torch, torchvision, numpy, scipy, scikit-learn, matplotlib, pyyaml, psutil and tqdm;
not DVC or MLflow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import runpy
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from augment.core.acceleration import configure_precision  # noqa: E402
from augment.core.outputs import write_csv  # noqa: E402
from augment.models import REGISTRY  # noqa: E402
from augment.params.config import AccelerationConfig  # noqa: E402
from augment.params.file import load_params  # noqa: E402
from augment.params.methods import expected_start, method_names  # noqa: E402
from augment.training.device import resolve_device  # noqa: E402
from benchmarks.throughput import classifier_throughput, sync, train_throughput  # noqa: E402
from pipelines.dvc_file import expanded_stages  # noqa: E402

# The shortened pipeline: enough steps to run every code path of every stage.
SHORT_PIPELINE = [
    "generators.cvae.epochs=2",
    "generators.cgan.epochs=2",
    "generators.cvaegan.epochs=2",
    "classifier.steps=60",
    "classifier.seeds=[0, 1]",
    "evaluation.judge.steps=100",
    "sample.per_class=150",
    "sample.filter.threshold=0.0",
]
VARIANTS = {  # name -> the acceleration section it stands for
    "fp32": AccelerationConfig(),
    "tf32": AccelerationConfig(precision="tf32"),
    "bf16": AccelerationConfig(precision="bf16"),
    "channels_last": AccelerationConfig(channels_last=True),
    "bf16+channels_last": AccelerationConfig(precision="bf16", channels_last=True),
    "compile": AccelerationConfig(compile=True),
    "bf16+channels_last+compile": AccelerationConfig(precision="bf16", channels_last=True, compile=True),
}


# --------------------------------------------------------------------------------------------
# 1. Every stage of dvc.yaml on the device
# --------------------------------------------------------------------------------------------


def pipeline_commands(dvc_yaml: Path, params: dict) -> list[tuple[str, str, list[str]]]:
    """(stage label, module, arguments) of every stage of dvc.yaml in file order (an order in
    which each stage's inputs come before it), ``foreach`` expanded as DVC expands it from
    ``params`` (the nested params dict of the run)."""
    out = []
    for stage in expanded_stages(dvc_yaml, params):
        words = stage.cmd.split()
        if words[:2] != ["python", "-m"]:
            raise ValueError(f"dvc.yaml stage {stage.label}: expected `python -m MODULE ...`, got {stage.cmd!r}")
        out.append((stage.label, words[2], words[3:]))
    return out


def run_module(module: str, argv: list[str]) -> int:
    """``python -m module argv...`` in this process; returns its exit code."""
    saved = sys.argv
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def check_pipeline(device: str, extra: list[str], out: Path, short: bool) -> bool:
    """Run every stage on ``device`` with outputs in a temporary folder; True when all pass."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        overrides = [
            f"device={device}",
            "tracking.enabled=false",
            "cpu_threads=0",
            *(f"paths.{key}={tmp}/{key}" for key in ("splits", "generators", "synthetic", "classifiers", "reports")),
            *(SHORT_PIPELINE if short else []),
            *extra,
        ]
        # each method's start file under the moved paths (augment/params/methods.py: the stage checks it)
        moved = load_params(str(REPO / "params.yaml"), overrides)
        overrides += [f"generators.methods.{m}={expected_start(moved, m)}" for m in method_names(moved)]
        sets = [arg for o in overrides for arg in ("--set", o)]
        params_file = str(REPO / "params.yaml")
        print(
            f"Pipeline: every dvc.yaml stage on device={device}, outputs under {tmp}{' (shortened)' if short else ''}",
            flush=True,
        )
        ok = True
        run_params = load_params(params_file, overrides).to_dict()
        for label, module, args in pipeline_commands(REPO / "dvc.yaml", run_params):
            start = time.perf_counter()
            code = run_module(module, [*args, "--params", params_file, *sets])
            seconds = time.perf_counter() - start
            rows.append({"stage": label, "seconds": round(seconds, 2), "exit_code": code})
            print(f"  {label:<34} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:7.1f} s", flush=True)
            if code != 0:
                ok = False
                break
        metrics = Path(tmp) / "reports" / "metrics.json"
        if ok and metrics.is_file():
            for source, entry in json.loads(metrics.read_text()).items():  # source -> its numbers
                if isinstance(entry, dict) and "accuracy" in entry:
                    print(f"  test accuracy of {source:<18} {entry['accuracy']:.4f}")
    write_table(out / "gpu_check_pipeline.csv", rows)
    total = sum(r["seconds"] for r in rows)
    print(f"Pipeline: {'every stage passed' if ok else 'FAILED'} in {total:.1f} s on {device}\n", flush=True)
    return ok


# --------------------------------------------------------------------------------------------
# 2. Milliseconds per training step, CPU beside the device
# --------------------------------------------------------------------------------------------


def check_speed(
    devices: list[torch.device],
    variants: list[str],
    cpu_variants: list[str],
    warmup: int,
    steps: int,
    out: Path,
    batch: int | None = None,
) -> None:
    overrides = (
        []
        if batch is None
        else [f"classifier.batch_size={batch}", *(f"generators.{name}.batch_size={batch}" for name in REGISTRY)]
    )
    params = load_params(REPO / "params-mnist.yaml", overrides)
    configure_precision()  # fp32 rows in IEEE float32, as the stages run them (no cuDNN TF32)
    batch_label = "the profile's batch sizes" if batch is None else f"batch {batch}"
    images = torch.rand(4096, 1, 28, 28)  # the speed does not depend on the pixels
    rows: list[dict] = []
    print(
        f"Speed: ms per training step at 1x28x28 (params-mnist.yaml's networks, {batch_label}), "
        f"{steps} timed steps after {warmup} untimed (compilation included in those)"
    )
    print(f"{'device':<8}{'variant':<30}{'network':<12}{'ms/step':>9}{'images/s':>11}{'warm-up s':>11}{'vs fp32':>9}")
    for device in devices:
        names = cpu_variants if device.type == "cpu" else variants
        baseline: dict[str, float] = {}
        for variant in names:
            options = VARIANTS[variant]
            for network in (*REGISTRY, "classifier"):
                torch.manual_seed(0)
                start = time.perf_counter()
                try:
                    if network == "classifier":
                        rate, ms = classifier_throughput(params, images, device, warmup, steps, options)
                    else:
                        rate, ms = train_throughput(network, params, images, device, warmup, steps, options)
                except Exception as err:  # noqa: BLE001 - one failing option must not hide the others
                    print(
                        f"{device.type:<8}{variant:<30}{network:<12}  FAILED: {type(err).__name__}: "
                        f"{' '.join(str(err).split())[:200]}",
                        flush=True,
                    )
                    rows.append(
                        {
                            "device": device.type,
                            "variant": variant,
                            "network": network,
                            "batch": batch or "",
                            "ms_per_step": "",
                            "images_per_s": "",
                            "warmup_s": "",
                            "error": type(err).__name__,
                        }
                    )
                    continue
                sync(device)
                warm = time.perf_counter() - start - ms * steps / 1000
                if variant == "fp32":
                    baseline[network] = ms
                ratio = baseline[network] / ms if network in baseline else float("nan")
                print(
                    f"{device.type:<8}{variant:<30}{network:<12}{ms:>9.2f}{rate:>11,.0f}{warm:>11.1f}{ratio:>8.2f}x",
                    flush=True,
                )
                rows.append(
                    {
                        "device": device.type,
                        "variant": variant,
                        "network": network,
                        "batch": batch or "",
                        "ms_per_step": round(ms, 3),
                        "images_per_s": round(rate),
                        "warmup_s": round(warm, 1),
                        "error": "",
                    }
                )
                write_table(out / f"gpu_check_speed{'' if batch is None else f'_batch{batch}'}.csv", rows)  # every row
        torch._dynamo.reset()  # compiled graphs of one device are no use to the next
    print()


def write_table(path: Path, rows: list[dict]) -> None:
    """All rows so far, rewritten after every row: a run cut off by its time limit keeps them."""
    if rows:
        write_csv(path, list(rows[0]), rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu (default: %(default)s)")
    parser.add_argument(
        "--out",
        default=str(REPO / "benchmarks" / "results" / "gpu_check"),
        help="folder of the two CSVs (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    parser.add_argument(
        "--full-pipeline", action="store_true", help="the pipeline with params.yaml's epochs and steps, not shortened"
    )
    parser.add_argument("--skip", choices=["pipeline", "speed"], action="append", default=[])
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="acceleration options timed on the device (default: all of %(default)s)",
    )
    parser.add_argument(
        "--cpu-variants",
        default="fp32,bf16",
        help="those timed on the CPU beside it ('' for none; default: %(default)s)",
    )
    parser.add_argument(
        "--batch", type=int, help="one batch size for every network's speed rows (default: the profile's, 64)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another param for every pipeline stage, e.g. acceleration.precision=bf16",
    )
    args = parser.parse_args(argv)
    for name in filter(None, (args.variants + "," + args.cpu_variants).split(",")):
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; choose from: {', '.join(VARIANTS)}")

    device = resolve_device(args.device)
    out = Path(args.out)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(
        f"augment GPU check: torch {torch.__version__}, device {device} ({gpu}), "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"{torch.get_num_threads()} CPU threads\n",
        flush=True,
    )
    ok = True
    if "pipeline" not in args.skip:
        ok = check_pipeline(args.device, args.overrides, out, short=not args.full_pipeline)  # auto as given
    if "speed" not in args.skip:
        variants = [v for v in args.variants.split(",") if v]
        cpu_variants = [v for v in args.cpu_variants.split(",") if v]
        if device.type == "cpu":  # the CPU alone: --variants on it, once
            devices, cpu_variants = [device], variants
        else:  # the CPU's rows first, then the device's
            devices = ([torch.device("cpu")] if cpu_variants else []) + [device]
        warmup, steps = (3, 10) if args.quick else (10, 50)
        check_speed(devices, variants, cpu_variants, warmup, steps, out, args.batch)
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
