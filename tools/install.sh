#!/usr/bin/env bash
# Install vitkd_mm and the OpenMMLab stack it is tested with into the
# Python environment of $PYTHON (default: python, e.g. an activated venv).
#
# Usage: bash tools/install.sh [--torch 2.14|2.1] [--det] [--tests] [--data]
#   (none)    torch 2.14.1 + torchvision 0.29.1, mmcv-lite 2.1.0,
#             mmengine 0.10.7, mmpretrain 1.2.0, openmim, vitkd_mm (editable):
#             everything classification distillation needs.
#   --torch 2.1  torch 2.1.2 + torchvision 0.16.2 + numpy<2 instead, the
#             stack OpenMMLab ships prebuilt mmcv 2.1.0 wheels for. With
#             --det, mmcv comes from OpenMMLab's wheel index for torch 2.1
#             and torch's CUDA (cu121, or cpu; $MMCV_FIND_LINKS overrides).
#   --det     full mmcv 2.1.0 with compiled ops instead of mmcv-lite, and
#             mmdet 3.3.0, for Mask R-CNN transfer (tools/install_mmcv_full.sh;
#             a source build of ~11 min on 2 cores unless $MMCV_FIND_LINKS
#             names a folder with a prebuilt wheel).
#   --tests   the test requirements (pytest); implies --data, and --det on
#             torch 2.14 (the detection tests need mmdet; on torch 2.1 add
#             --det, otherwise they skip); with root and apt-get, also
#             Debian's iproute2 (`ip netns`, for the two-node test).
#   --data    also install Debian's dataset-fashion-mnist and
#             labelme-examples, where root and apt-get are at hand (the
#             README's main job reads the first, tools/dataset_converters/prepare_fashion_mnist.py
#             can download it instead; tests use both when present).
#
# Only these two stacks are tested (README.md, "Tested stack"); for a GPU,
# see README.md, "Other machines".
set -euo pipefail

PYTHON=${PYTHON:-python}
TORCH=2.14
DET=0
TESTS=0
DATA=0
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --torch) TORCH=${1:-}; shift || true ;;
    --det) DET=1 ;;
    --tests) TESTS=1; DATA=1 ;;
    --data) DATA=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done
case $TORCH in
  2.14) TORCH_PINS="torch==2.14.1 torchvision==0.29.1"
        [ "$TESTS" = 0 ] || DET=1 ;;
  2.1) TORCH_PINS="torch==2.1.2 torchvision==0.16.2 numpy<2"
       # torch 2.1 is built against numpy 1: no later pip call (opencv,
       # mmcv's, mmpretrain's) may upgrade it.
       PIP_CONSTRAINT=$(mktemp)
       trap 'rm -f "$PIP_CONSTRAINT"' EXIT
       echo 'numpy<2' > "$PIP_CONSTRAINT"
       export PIP_CONSTRAINT ;;
  *) echo "install.sh: --torch takes 2.14 or 2.1, not '$TORCH'" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
pip() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

# mim and mmengine's hub import pkg_resources, gone from setuptools 81.
pip 'setuptools>=77,<81' wheel
# shellcheck disable=SC2086  # the pins are words
pip $TORCH_PINS
if [ "$DET" = 1 ]; then
  # mmcv-lite and mmcv install the same package: keep only the full one.
  if "$PYTHON" -m pip show -q mmcv-lite 2>/dev/null; then
    "$PYTHON" -m pip uninstall -y -q mmcv-lite
  fi
  if [ "$TORCH" = 2.1 ] && [ -z "${MMCV_FIND_LINKS:-}" ]; then
    cuda=$("$PYTHON" -c 'import torch; v = torch.version.cuda
print("cu" + v.replace(".", "") if v else "cpu")')
    export MMCV_FIND_LINKS="https://download.openmmlab.com/mmcv/dist/$cuda/torch2.1/index.html"
  fi
  PYTHON=$PYTHON bash tools/install_mmcv_full.sh
  EXTRAS=det
else
  if ! "$PYTHON" -m pip show -q mmcv 2>/dev/null; then
    pip mmcv-lite==2.1.0
  fi
  EXTRAS=
fi
if [ "$TESTS" = 1 ]; then
  EXTRAS=${EXTRAS:+$EXTRAS,}tests
fi
# openmim's openxlab would pull setuptools down to 60; keep the pin.
pip -e ".${EXTRAS:+[$EXTRAS]}" 'setuptools>=77,<81'

if [ "$DATA" = 1 ]; then
  packages="dataset-fashion-mnist labelme-examples"
  [ "$TESTS" = 0 ] || packages="$packages iproute2"
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q $packages >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null &&
        apt-get install -y -q $packages >/dev/null; } ||
      echo "install.sh: apt-get could not install $packages" >&2
  elif [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "install.sh: no root/apt-get for $packages:" \
      "tools/dataset_converters/prepare_fashion_mnist.py --download fetches Fashion-MNIST" >&2
  fi
fi
"$PYTHON" -c "import vitkd_mm, mmpretrain; print('vitkd_mm', \
vitkd_mm.__version__, 'with mmpretrain', mmpretrain.__version__)"
