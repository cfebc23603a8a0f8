"""Helpers of the Fashion-MNIST kit's tests: tests/test_configs/
test_fashion_mnist*.py, tests/test_tools/test_fashion_mnist/ and the tests
of the kit's scripts in tests/test_tools/. Their fixtures (``fake_gz``,
``split_root``) are in tests/conftest.py."""
import glob
import gzip
import os.path as osp
import struct

import numpy as np
import torch

from tests.utils import REPO_ROOT
from tools.dataset_converters import prepare_fashion_mnist as prep
from tools.fashion_mnist import arms

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'vitkd', 'fashion-mnist')
ALL_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
#: The committed results: full mode's ``.md``/``.json``, ``_<mode>`` others.
COMMITTED = osp.join(REPO_ROOT, 'docs', 'fashion_mnist_results')
#: prepare_fashion_mnist's ``shapes`` for files of any size (fake data).
ANY_SIZE = {name: None for name in prep.SHAPES}
#: The label-free mode's pretraining.
PRETRAIN = arms.PRETRAININGS['label-free-vitkd']


def write_idx_gz(path, array):
    """Write a uint8 array as a gzipped IDX file (big-endian header)."""
    header = struct.pack('>HBB', 0, 0x08, array.ndim)
    header += struct.pack(f'>{array.ndim}I', *array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


def build_model(config):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    model_cfg = cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if 'teacher_ckpt' in model_cfg:
        model_cfg.teacher_ckpt = None
    torch.manual_seed(0)
    return cfg, MODELS.build(model_cfg)


def fashion_batch(batch_size=2):
    from mmpretrain.structures import DataSample
    generator = torch.Generator().manual_seed(0)
    return dict(
        inputs=[
            torch.randint(
                0, 256, (1, 28, 28), generator=generator, dtype=torch.uint8)
            for _ in range(batch_size)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(batch_size)])
