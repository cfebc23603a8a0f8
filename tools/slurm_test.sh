#!/usr/bin/env bash
# Testing on a Slurm cluster, as OpenMMLab's tools/slurm_test.sh (see
# tools/slurm_train.sh).
#
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT \
#        [test.py arguments...]
#   PYTHON       the interpreter (default: python)
# shellcheck source=tools/launch.sh
. "$(dirname "$0")/launch.sh"
srun_tool "$1" "$2" test.py "$3" "$4" --launcher=slurm "${@:5}"
