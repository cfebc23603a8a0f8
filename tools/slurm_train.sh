#!/usr/bin/env bash
# Training on a Slurm cluster, as OpenMMLab's tools/slurm_train.sh: srun
# starts one task per GPU and tools/train.py joins them with
# --launcher slurm (mmengine reads SLURM_PROCID, SLURM_NTASKS and the node
# list; GPUs and NCCL, see docs/distributed.md for CPU-only clusters).
#
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR \
#        [train.py arguments...]
#   PYTHON       the interpreter (default: python)
# shellcheck source=tools/launch.sh
. "$(dirname "$0")/launch.sh"
srun_tool "$1" "$2" train.py "$3" --work-dir="$4" --launcher=slurm \
    "${@:5}"
