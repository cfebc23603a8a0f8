#!/usr/bin/env bash
# Distillation overhead on one CUDA GPU (H100/H200):
# tools/analysis_tools/benchmark.py for both pairs with AMP (bf16), printing everything. About 3-5 minutes.
#
#   bash tools/analysis_tools/benchmark_gpu.sh [WHEEL_DIR]
#
# Needs torch with CUDA. If mmpretrain is not importable, the wheels in
# WHEEL_DIR (default: .whl) are installed with pip --no-index into
# /tmp/site, so a machine without network works: mmengine 0.10.7,
# mmpretrain 1.2.0, mmcv-lite (or mmcv) >= 2.0, < 2.4, and whatever of
# their pure-Python needs the machine lacks (e.g. addict, yapf,
# platformdirs, termcolor, mat4py, modelindex, ordered-set). vitkd_mm runs
# from this checkout. If $OUT is set, the output is also written to
# $OUT/benchmark_gpu.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
WHEELS=${1:-.whl}

if [ -n "${OUT:-}" ]; then
    exec > >(tee "$OUT/benchmark_gpu.log") 2>&1
fi
if ! "$PYTHON" -c 'import mmpretrain' 2>/dev/null; then
    echo "installing the wheels in $WHEELS into /tmp/site"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    || true
"$PYTHON" -c 'import torch, mmcv, mmengine, mmpretrain, vitkd_mm
print("torch", torch.__version__, "| mmcv", mmcv.__version__,
      "| mmengine", mmengine.__version__, "| mmpretrain",
      mmpretrain.__version__, "| vitkd_mm", vitkd_mm.__version__)'

set -x
"$PYTHON" tools/analysis_tools/benchmark.py --pair deit-t_deit3-s --device cuda \
    --amp bf16 --batch-size 128 --warmup 5 --steps 30
"$PYTHON" tools/analysis_tools/benchmark.py --pair tiny --device cuda --amp bf16 \
    --batch-size 1024 --warmup 5 --steps 30
