#!/usr/bin/env bash
# Install vitkd_mm and the OpenMMLab stack it is tested with into the
# Python environment of $PYTHON (default: python, e.g. an activated venv).
#
# Usage: bash tools/install.sh [--det] [--tests] [--data]
#   (none)    torch 2.14.1 + torchvision 0.29.1, mmcv-lite 2.1.0,
#             mmengine 0.10.7, mmpretrain 1.2.0, openmim, vitkd_mm (editable):
#             everything classification distillation needs.
#   --det     full mmcv 2.1.0 with compiled ops instead of mmcv-lite, and
#             mmdet 3.3.0, for Mask R-CNN transfer (tools/install_mmcv_full.sh;
#             a source build of ~11 min on 2 cores unless $MMCV_FIND_LINKS
#             names a folder with a prebuilt wheel).
#   --tests   the test requirements (pytest); implies --det, since the
#             detection tests need mmdet, and --data.
#   --data    also install Debian's dataset-fashion-mnist and
#             labelme-examples, where root and apt-get are at hand (the
#             README's main job reads the first, tools/dataset_converters/prepare_fashion_mnist.py
#             can download it instead; tests use both when present).
#
# Other machines: any torch/mmcv pair OpenMMLab supports works, installed
# the OpenMMLab way: `pip install -U openmim && mim install mmengine
# "mmcv>=2.0.0,<2.2.0" mmpretrain mmdet`, then `pip install -e .`.
set -euo pipefail

PYTHON=${PYTHON:-python}
DET=0
TESTS=0
DATA=0
for arg in "$@"; do
  case $arg in
    --det) DET=1 ;;
    --tests) TESTS=1; DET=1; DATA=1 ;;
    --data) DATA=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
pip() { "$PYTHON" -m pip install --disable-pip-version-check -q "$@"; }

# mim and mmengine's hub import pkg_resources, gone from setuptools 81.
pip 'setuptools>=77,<81' wheel
pip torch==2.14.1 torchvision==0.29.1
if [ "$DET" = 1 ]; then
  # mmcv-lite and mmcv install the same package: keep only the full one.
  if "$PYTHON" -m pip show -q mmcv-lite 2>/dev/null; then
    "$PYTHON" -m pip uninstall -y -q mmcv-lite
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
  EXTRAS=det,tests
fi
# openmim's openxlab would pull setuptools down to 60; keep the pin.
pip -e ".${EXTRAS:+[$EXTRAS]}" 'setuptools>=77,<81'

if [ "$DATA" = 1 ]; then
  packages="dataset-fashion-mnist labelme-examples"
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
