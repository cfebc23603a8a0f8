# The launching logic of tools/dist_train.sh, dist_test.sh, slurm_train.sh
# and slurm_test.sh, which source this file: it only defines functions.
# Each runs a tool of this folder with the interpreter $PYTHON (default:
# python) and PYTHONPATH starting at the repository root, so that the tool
# imports this checkout's vitkd_mm.

# torchrun_tool TOOL GPUS [TOOL ARGUMENTS...]
#   Replaces the shell with torchrun running GPUS processes of
#   tools/TOOL on this node; NNODES (default 1) and NODE_RANK (0) place the
#   node in the job, MASTER_ADDR (127.0.0.1) and PORT (29500) reach rank 0.
torchrun_tool() {
    PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
    exec "${PYTHON:-python}" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$2" \
        "$(dirname "$0")/$1" "${@:3}"
}

# srun_tool PARTITION JOB_NAME TOOL [TOOL ARGUMENTS...]
#   Runs tools/TOOL with srun, one task per GPU: GPUS tasks (default 8),
#   GPUS_PER_NODE (8) on each node, CPUS_PER_TASK (5) CPUs each, SRUN_ARGS
#   added to srun's options. Traces the command (set -x) into the job log.
srun_tool() {
    set -x
    # shellcheck disable=SC2086  # SRUN_ARGS holds several words
    PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
    srun -p "$1" \
        --job-name="$2" \
        --gres=gpu:"${GPUS_PER_NODE:-8}" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="${GPUS_PER_NODE:-8}" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        $SRUN_ARGS \
        "${PYTHON:-python}" -u "$(dirname "$0")/$3" "${@:4}"
}
