#!/usr/bin/env bash
# Distributed testing with torchrun, with the arguments and environment of
# OpenMMLab's tools/dist_test.sh (one copy per node).
#
# Usage: [NNODES=1] [NODE_RANK=0] [MASTER_ADDR=127.0.0.1] [PORT=29500] \
#        bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py arguments...]
#   as tools/dist_train.sh; arguments after GPUS go to tools/test.py
#   (--work-dir, --out, --cfg-options). See docs/distributed.md.
# shellcheck source=tools/launch.sh
. "$(dirname "$0")/launch.sh"
torchrun_tool test.py "$3" "$1" "$2" --launcher pytorch "${@:4}"
