#!/usr/bin/env bash
# Install full mmcv==2.1.0 (with its compiled ops), the detection extra's
# base: mmdet 3.3 needs mmcv < 2.2 and its RoIAlign / NMS ops.
#
# OpenMMLab publishes no mmcv 2.1.0 wheel for recent torch, so pip builds it
# from the source distribution (about 11 minutes on 2 cores, CPU ops). Three
# details make that build work with torch >= 2.14:
#   * torch's headers need C++20, while mmcv 2.1.0's setup.py hard-codes
#     -std=c++17. A compiler wrapper, set as CXX (and as PYTORCH_NVCC when a
#     CUDA toolkit is found), rewrites -std=c++17 to -std=c++20.
#   * setup.py imports torch, so pip must build without isolation
#     (--no-build-isolation), in the environment that already has torch,
#     with setuptools<81 and wheel installed there.
#   * ninja is installed too: torch then compiles every source with $CXX
#     (plain setuptools would use $CC) and in parallel.
# mmcv builds CUDA ops too when torch sees a GPU (or FORCE_CUDA=1); that
# needs nvcc ($CUDA_HOME/bin/nvcc or on PATH) matching torch's CUDA. On a GPU
# host without nvcc the script builds CPU ops only (CUDA_VISIBLE_DEVICES is
# emptied for the build) and says so: mmdet then cannot run RoIAlign / NMS
# on the GPU.
#
# Usage:
#   bash tools/install_mmcv_full.sh [--find-links DIR] [--python PYTHON]
#                                   [--dry-run] [--wrapper-only DIR]
#
#   --find-links DIR   try a prebuilt mmcv 2.1.0 wheel from DIR first (a
#                      build cache, e.g. CI's ../shared/wheels; also read
#                      from $MMCV_FIND_LINKS; mmcv's dependencies still come
#                      from the index). It must match this Python and torch
#                      exactly; if none installs, or it does not import, the
#                      script builds from source.
#   --python PYTHON    the interpreter whose environment gets mmcv (default
#                      $PYTHON, else python).
#   --dry-run          print the commands instead of running them.
#   --wrapper-only DIR write the C++ compiler wrapper to DIR/cxx and stop.
set -euo pipefail

MMCV_VERSION=2.1.0
PYTHON=${PYTHON:-python}
FIND_LINKS=${MMCV_FIND_LINKS:-}
DRY_RUN=0
WRAPPER_ONLY=

die() { echo "install_mmcv_full.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --find-links) FIND_LINKS=${2:?--find-links needs a folder}; shift 2 ;;
    --python) PYTHON=${2:?--python needs an interpreter}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --wrapper-only) WRAPPER_ONLY=${2:?--wrapper-only needs a folder}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# Run a command, or only print it with --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

# write_wrapper PATH REAL: PATH runs REAL with -std=c++17 raised to c++20.
write_wrapper() {
  cat > "$1" <<EOF
#!/bin/sh
# Written by tools/install_mmcv_full.sh: $2 with -std=c++17 raised to
# -std=c++20 (torch >= 2.14 headers need C++20).
for arg do
  shift
  [ "\$arg" = -std=c++17 ] && arg=-std=c++20
  set -- "\$@" "\$arg"
done
exec $(printf '%q' "$2") "\$@"
EOF
  chmod +x "$1"
}

if [ -n "$WRAPPER_ONLY" ]; then
  mkdir -p "$WRAPPER_ONLY"
  write_wrapper "$WRAPPER_ONLY/cxx" "$(command -v "${CXX:-c++}")"
  echo "$WRAPPER_ONLY/cxx"
  exit 0
fi

mmcv_ops_work() {
  "$PYTHON" - <<EOF >/dev/null 2>&1
import mmcv
import mmcv.ops  # loads the compiled extension
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
EOF
}

# mmcv's setup.py compiles CUDA ops when torch sees a GPU or FORCE_CUDA=1.
cuda_wanted=$("$PYTHON" -c 'import os, torch
print(int(os.getenv("FORCE_CUDA") == "1" or torch.cuda.is_available()))' \
  2>/dev/null) || die "$PYTHON cannot import torch: install torch first."
if [ "$DRY_RUN" = 0 ] && mmcv_ops_work; then
  echo "mmcv $MMCV_VERSION with compiled ops is already installed."
  exit 0
fi

# 1. A prebuilt wheel, when a folder of them is given.
if [ -n "$FIND_LINKS" ]; then
  if run "$PYTHON" -m pip install --only-binary mmcv --find-links "$FIND_LINKS" \
      "mmcv==$MMCV_VERSION"; then
    if [ "$DRY_RUN" = 1 ]; then
      echo "# (if that wheel does not import, the build below runs)"
    elif mmcv_ops_work; then
      echo "Installed mmcv $MMCV_VERSION from $FIND_LINKS."
      exit 0
    else
      echo "The wheel from $FIND_LINKS does not load here (another torch?):" \
        "building from source." >&2
      "$PYTHON" -m pip uninstall -y mmcv
    fi
  else
    echo "No usable mmcv $MMCV_VERSION wheel in $FIND_LINKS:" \
      "building from source." >&2
  fi
fi

# 2. The source build.
run "$PYTHON" -m pip install 'setuptools<81' wheel ninja

wrappers=$(mktemp -d)
trap 'rm -rf "$wrappers"' EXIT
real_cxx=$(command -v "${CXX:-c++}") || die "no C++ compiler (${CXX:-c++})"
write_wrapper "$wrappers/cxx" "$real_cxx"
export CXX="$wrappers/cxx"
nvcc=${CUDA_HOME:+$CUDA_HOME/bin/nvcc}
[ -n "$nvcc" ] || nvcc=$(command -v nvcc || true)
if [ "$cuda_wanted" = 0 ]; then
  echo "No GPU visible to torch: building mmcv ops for the CPU" \
    "(FORCE_CUDA=1 adds CUDA ops)."
elif [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
  write_wrapper "$wrappers/nvcc" "$nvcc"
  export PYTORCH_NVCC="$wrappers/nvcc"
  echo "Building mmcv ops for the CPU and CUDA ($nvcc)."
else
  [ "${FORCE_CUDA:-0}" != 1 ] || die "FORCE_CUDA=1 but no nvcc: set CUDA_HOME."
  export CUDA_VISIBLE_DEVICES=
  echo "No nvcc found: building mmcv ops for the CPU only." >&2
fi
export MMCV_WITH_OPS=1
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
# --no-cache-dir: never reuse a wheel built earlier against another torch
run "$PYTHON" -m pip install --no-build-isolation --no-cache-dir \
  --no-binary mmcv "mmcv==$MMCV_VERSION"

if [ "$DRY_RUN" = 0 ]; then
  mmcv_ops_work || die "mmcv $MMCV_VERSION built, but mmcv.ops does not import."
  echo "Installed mmcv $MMCV_VERSION, built from source."
fi
