#!/usr/bin/env bash
# The GPU check (docs/gpu.md): every dvc.yaml stage on the device, and the milliseconds per
# training step of each `acceleration` option beside the CPU's. Arguments go to gpu_check.py:
#   bash benchmarks/gpu_check.sh                       # a GPU machine: about 2 minutes (H200)
#   bash benchmarks/gpu_check.sh --device cpu --quick  # no GPU: the same checks on the CPU
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/gpu_check.py "$@"
