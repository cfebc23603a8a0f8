#!/usr/bin/env bash
# Distributed training with torchrun, with the arguments and environment of
# OpenMMLab's tools/dist_train.sh (one copy per node; on CPU-only hosts
# tools/train.py starts gloo itself).
#
# Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
#        bash tools/dist_train.sh CONFIG GPUS [train.py arguments...]
#   GPUS         processes on this node (GPUs, or CPU processes)
#   NNODES       number of nodes; NODE_RANK this node's rank, 0 on the node
#                at MASTER_ADDR, whose PORT the others reach
#   PYTHON       the interpreter (default: python)
# Arguments after GPUS go to tools/train.py (--work-dir, --resume,
# --cfg-options, --amp). See docs/distributed.md.
# shellcheck source=tools/launch.sh
. "$(dirname "$0")/launch.sh"
torchrun_tool train.py "$2" "$1" --launcher pytorch "${@:3}"
